"""The real-speech split from Debian packages (lowrank_asr.corpus.packaged) with the fetch stubbed: parsing and
selection, the LibriSpeech-format tarball from fake .deb files, the unavailable path and the gate at DAG build;
the sentences-only score; the default config (seeds, splits); and the headline figure."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from apt_stub import apt_stub_env
from lowrank_asr.corpus import packaged
from lowrank_asr.corpus.extract import extract_split
from lowrank_asr.corpus.synthesis import SplitSpec, plan_split, planned_texts
from lowrank_asr.corpus.transcripts import read_transcripts, write_transcripts
from lowrank_asr.errors import CorpusError, PipelineError
from lowrank_asr.evaluation.transcribe import score_sentences
from lowrank_asr.plotting.headline import headline_points, plot_headline, read_rows
from lowrank_asr.workflow.config import all_splits, analysis_runs, training_runs, validate_config

ROOT = Path(__file__).resolve().parents[1]

PROMPTS = """; Core Asterisk Sounds in English

activated: Activated.
beep: [this is a simple beep tone]
press-1: Press 1 for sales.
letters/at: at [@]
agent-pass: Please enter your password followed by the pound key.
dictate/pause: Paused.
star-key: press * to pause
confbridge-join: <beep ascending>
vm-intro: Leave your message after the tone. (simple tone sound plays)
not-recorded: Hello there.
"""
RECORDED = [
    "activated",
    "beep",
    "press-1",
    "letters/at",
    "agent-pass",
    "dictate/pause",
    "star-key",
    "confbridge-join",
    "vm-intro",
]
LIBRIVOX = {
    "book-0870": "he was not an ill disposed young man",
    "book-0880": "he might even have been made amiable",
}
LIBRIVOX_FIRST = LIBRIVOX["book-0870"]
KEPT_PROMPTS = {
    "activated": "activated",
    "agent-pass": "please enter your password followed by the pound key",
    "dictate/pause": "paused",
}


def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _deb(tree: Path, package: str, out_dir: Path) -> Path:
    (tree / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: test <t@example.org>\n"
        f"Description: fake {package}\n"
    )
    out = out_dir / f"{package}_1.0-1_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)], check=True, capture_output=True
    )
    return out


@pytest.fixture(scope="module")
def fake_debs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three packages, in the layout of the real ones, with a few prompts of each kind (dpkg-deb -b)."""
    base = tmp_path_factory.mktemp("debs")
    out = base / "pool"
    out.mkdir()
    texts = base / "texts" / packaged.ASTERISK_TEXTS
    texts.parent.mkdir(parents=True)
    texts.write_bytes(gzip.compress(PROMPTS.encode()))
    _deb(base / "texts", "asterisk-core-sounds-en", out)
    for k, name in enumerate(RECORDED):
        wav = base / "wav" / packaged.ASTERISK_AUDIO / f"{name}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, _tone(0.25 + 0.05 * k, 8000), 8000, subtype="PCM_16")
    _deb(base / "wav", "asterisk-core-sounds-en-wav", out)
    librivox = base / "sphinx" / packaged.LIBRIVOX_DIR
    librivox.mkdir(parents=True)
    (librivox / "transcription").write_text("".join(f"<s> {t} </s> ({i})\n" for i, t in LIBRIVOX.items()))
    for i in LIBRIVOX:
        sf.write(librivox / f"{i}.wav", _tone(0.5, 16000), 16000, subtype="PCM_16")
    _deb(base / "sphinx", "pocketsphinx-testdata", out)
    return out


def stub_apt(pool: Path, calls: list[list[str]] | None = None, fail: bool = False):
    """A runner for packaged's functions: `apt-get download` copies the fake .debs (or fails like an unreachable
    archive); everything else (dpkg-deb -x) runs for real."""

    def run(cmd, **kwargs):
        if calls is not None:
            calls.append(list(cmd))
        if cmd[:2] == ["apt-get", "download"]:
            if fail:
                return subprocess.CompletedProcess(
                    cmd,
                    100,
                    "",
                    "E: Failed to fetch http://deb.debian.org/... "
                    "Temporary failure resolving 'deb.debian.org'",
                )
            for pkg in cmd[2:]:
                shutil.copy(pool / f"{pkg}_1.0-1_all.deb", kwargs["cwd"])
            return subprocess.CompletedProcess(cmd, 0, "", "")
        return subprocess.run(cmd, **kwargs)

    return run


# --- parsing and selection ------------------------------------------------------------------------------------


def test_prompt_list_parsing_and_the_fixed_selection():
    prompts = dict(packaged.parse_prompt_list(PROMPTS))
    assert len(prompts) == 10 and prompts["letters/at"] == "at [@]"
    kept = {name for name, text in prompts.items() if packaged.keep_prompt(text)}
    # tones, digits, symbols spoken as words and stage directions go; the missing recording is dropped later
    assert kept == {*KEPT_PROMPTS, "not-recorded"}
    with pytest.raises(CorpusError, match="line 2"):
        packaged.parse_prompt_list("ok: fine\nno colon here\n")


def test_librivox_transcription_parsing():
    text = "<s> and mister john dashwood </s> (sense-0870)\n\n<s> he was not </s> (sense-0880)\n"
    assert packaged.parse_librivox_transcription(text) == [
        ("sense-0870", "and mister john dashwood"),
        ("sense-0880", "he was not"),
    ]
    with pytest.raises(CorpusError, match="transcription line 1"):
        packaged.parse_librivox_transcription("he was not (sense-0880)\n")


def test_resampling_doubles_8khz_and_keeps_16khz():
    x = _tone(0.1, 8000)
    y = packaged.to_16k(x, 8000)
    assert y.dtype == np.int16 and y.size == 2 * x.size
    # the tone keeps its frequency: the spectrum's peak stays at 440 Hz
    peak = np.argmax(np.abs(np.fft.rfft(y.astype(float)))) * 16000 / y.size
    assert abs(peak - 440) < 20
    same = _tone(0.1, 16000)
    assert np.array_equal(packaged.to_16k(same, 16000), same)


# --- the split from (fake) packages -----------------------------------------------------------------------------


def test_split_from_fake_packages_is_librispeech_format_and_deterministic(fake_debs, tmp_path):
    calls: list[list[str]] = []
    out, sources = tmp_path / "dl" / "real-test.tar.gz", tmp_path / "dl" / "real-test.sources.json"
    out.parent.mkdir()
    stats = packaged.build_from_packages(
        out, sources, training_texts=[], marker=tmp_path / "dl" / "m", run=stub_apt(fake_debs, calls)
    )
    assert calls[0] == ["apt-get", "download", *packaged.PACKAGES]
    assert sum(c[:2] == ["dpkg-deb", "-x"] for c in calls) == 3  # unpacked, nothing installed
    assert stats["by_source"] == {"asterisk": 3, "librivox": 2} and stats["utterances"] == 5
    assert stats["dropped"] == {"prompts": 10, "not_as_spoken": 6, "no_audio": 1}
    assert stats["single_words"] == 2 and stats["sentences"] == 3
    record = json.loads(sources.read_text())
    for pkg in packaged.PACKAGES:
        deb = fake_debs / record["packages"][pkg]["file"]
        assert record["packages"][pkg]["sha256"] == hashlib.sha256(deb.read_bytes()).hexdigest()
    # the same packages give the same bytes
    again = tmp_path / "again.tar.gz"
    packaged.build_from_packages(again, tmp_path / "again.json", training_texts=[], run=stub_apt(fake_debs))
    assert again.read_bytes() == out.read_bytes()
    # the pipeline's own stages read it: extract, then transcripts (16 kHz checked there)
    split_dir = extract_split(out, "real-test", tmp_path / "corpus")
    tsv = tmp_path / "real-test.tsv"
    write_transcripts(split_dir, tsv, on_bad_audio="fail")
    rows = read_transcripts(tsv)
    assert sorted(r.transcript for r in rows) == sorted([*KEPT_PROMPTS.values(), *LIBRIVOX.values()])
    # one speaker folder per source; 8 kHz prompts resampled to 16 kHz (twice the samples)
    assert sorted(p.name for p in split_dir.iterdir()) == ["9001", "9002"]
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "LibriSpeech/SPEAKERS.TXT" in names and "LibriSpeech/real-test/9001/1/9001-1.trans.txt" in names
    durations = sorted(r.duration for r in rows if "/9001/" in r.path)
    assert durations == pytest.approx([0.25, 0.45, 0.5], abs=1e-3)  # activated, agent-pass, dictate/pause
    by_id = [r.duration for r in sorted(rows, key=lambda r: r.path)]
    assert by_id[:3] == sorted(by_id[:3])  # numbered shortest first (homogeneous evaluation batches)
    assert record["names"]["9001-1-0000"] == "asterisk:activated" and len(record["names"]) == 5
    info = sf.info(split_dir / "9001" / "1" / "9001-1-0000.flac")
    assert info.samplerate == 16000 and info.frames == 2 * int(0.25 * 8000)


def test_failed_fetch_leaves_a_marker_and_says_what_to_run(fake_debs, tmp_path):
    marker = tmp_path / "real-test.unavailable"
    out = tmp_path / "real-test.tar.gz"
    with pytest.raises(CorpusError, match="apt-get update") as err:
        packaged.build_from_packages(
            out, tmp_path / "s.json", training_texts=[], marker=marker, run=stub_apt(fake_debs, fail=True)
        )
    assert "Temporary failure resolving" in str(err.value) and str(marker) in str(err.value)
    assert marker.is_file() and not out.exists()
    # the next DAG build leaves the split out, naming the marker, without probing apt again
    config = {"evaluation": {"splits": ["test-clean", "real-test"]}, "data": {"test_splits": ["test-clean"]}}
    notice = packaged.drop_unavailable_splits(
        config, cached=False, marker=marker, probe=lambda: pytest.fail("probed despite the marker")
    )
    assert config["evaluation"]["splits"] == ["test-clean"]
    assert notice.count("\n") == 0 and "apt-get update" in notice and str(marker) in notice


# --- the gate ----------------------------------------------------------------------------------------------------


def test_gate_keeps_the_split_when_cached_or_offered_and_drops_it_otherwise(tmp_path):
    def config() -> dict:
        return {
            "evaluation": {"splits": ["test-other", "real-test"]},
            "compression": {"splits": ["real-test"]},
            "data": {"test_splits": ["test-clean"]},
        }

    marker = tmp_path / "none"
    kept = config()
    assert (
        packaged.drop_unavailable_splits(kept, cached=True, marker=marker, probe=lambda: "no lists") is None
    )
    assert kept == config()
    assert packaged.drop_unavailable_splits(kept, cached=False, marker=marker, probe=lambda: None) is None
    assert kept == config()
    dropped = config()
    notice = packaged.drop_unavailable_splits(dropped, cached=False, marker=marker, probe=lambda: "no lists")
    assert dropped["evaluation"]["splits"] == ["test-other"]
    assert dropped["compression"]["splits"] == [] and "no lists" in notice and "apt-get update" in notice
    # a config that never asks for the split is not probed
    other = {"evaluation": {"splits": ["test-clean"]}}
    assert (
        packaged.drop_unavailable_splits(
            other, cached=False, marker=marker, probe=lambda: pytest.fail("probed")
        )
        is None
    )


def test_probe_reads_apt_cache_policy(tmp_path, monkeypatch):
    def policy(candidate: str):
        def run(cmd, **kwargs):
            assert cmd[:2] == ["apt-cache", "policy"]
            out = "".join(
                f"{p}:\n  Installed: (none)\n  Candidate: {candidate}\n  Version table:\n" for p in cmd[2:]
            )
            return subprocess.CompletedProcess(cmd, 0, out, "")

        return run

    monkeypatch.setattr(packaged.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    assert packaged.unavailable_reason(run=policy("1.6.1-1")) is None
    assert "offer no asterisk-core-sounds-en-wav" in packaged.unavailable_reason(run=policy("(none)"))
    monkeypatch.setattr(
        packaged.shutil, "which", lambda tool: None if tool == "apt-get" else f"/usr/bin/{tool}"
    )
    assert "apt-get is not installed" in packaged.unavailable_reason(run=policy("1.6.1-1"))


def _dry_run(tmp_path: Path, offered: bool) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "all", "--directory", str(tmp_path / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=apt_stub_env(tmp_path / "bin", offered=offered),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_default_dag_with_and_without_the_packages(tmp_path):
    """The default config evaluates real-test where apt offers the packages; elsewhere the run goes on without it
    and says so in one line, once."""
    without = _dry_run(tmp_path / "without", offered=False)
    notices = [line for line in without.splitlines() if "real-speech split real-test" in line]
    assert len(notices) == 1 and "apt-get update" in notices[0]
    assert "real_test_split" not in without and "real-test" not in without.replace(notices[0], "")
    with_split = _dry_run(tmp_path / "with", offered=True)
    assert "real-speech split" not in with_split
    assert "rule real_test_split:" in with_split
    runs = len(training_runs(_default_config()))
    for run in ("contextnet/seed_1", "lowrank/seed_3"):
        assert f"results/wer/{run}/real-test.json" in with_split
    assert with_split.count("rule evaluate:") == runs * 3 and without.count("rule evaluate:") == runs * 2


# --- the training text never holds a real-test sentence ------------------------------------------------------------


def _default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_verbatim_check_finds_whole_word_runs_inside_one_text():
    texts = ["the man said please hold the line now", "hold the", "line and more"]
    real = [
        "please hold the line",  # inside the first text
        "hold the line and",  # spans two texts: not spoken in training
        "old the line",  # part of a word: not a match
        "hold the",  # two words: not a sentence, may appear in training
    ]
    assert packaged.verbatim_in_training(real, texts) == ["please hold the line"]


def test_default_training_text_is_the_one_the_check_reads():
    """The real-test rule checks the planned text of the synthetic training splits, which is the text of their
    tarballs; the default's training splits are all synthetic, so every one of them is checked."""
    config = _default_config()
    specs = {s: config["corpus"]["synthetic"][s] for s in config["data"]["train_splits"]}
    texts = planned_texts(specs, config["seed"])
    assert len(texts) == sum(spec["utterances"] for spec in specs.values())
    for split, d in specs.items():
        planned = [item["text"] for item in plan_split(split, SplitSpec.from_dict(d), config["seed"])[1]]
        assert planned == texts[: len(planned)] or planned == texts[-len(planned) :]


def test_build_refuses_a_split_that_training_text_holds(fake_debs, tmp_path):
    out = tmp_path / "real-test.tar.gz"
    spoken = [f"so {LIBRIVOX_FIRST} said the man"]  # a LibriVox sentence inside a training text
    with pytest.raises(CorpusError, match="verbatim") as err:
        packaged.build_from_packages(out, tmp_path / "s.json", training_texts=spoken, run=stub_apt(fake_debs))
    assert LIBRIVOX_FIRST in str(err.value) and not out.exists()


# --- sentences-only score, default config ----------------------------------------------------------------------------


def test_sentence_scores_cover_only_utterances_of_three_words_or_more():
    rows = [
        {"GROUNDTRUTH": "yes", "GREEDY": "no", "BEAMSEARCH": "no"},
        {"GROUNDTRUTH": "thank you", "GREEDY": "thank", "BEAMSEARCH": "thank you"},
        {
            "GROUNDTRUTH": "please hold the line",
            "GREEDY": "please hold a line",
            "BEAMSEARCH": "please hold the line",
        },
    ]
    s = score_sentences(rows, 3)
    assert s["utterances"] == 1 and s["words"] == 4 and s["min_words"] == 3
    assert s["greedy_wer"] == pytest.approx(0.25) and s["beam_wer"] == 0.0
    assert score_sentences(rows[:2], 3) is None


def test_default_config_trains_three_seeds_and_evaluates_real_test():
    config = validate_config(_default_config(), ROOT / "config" / "schema.yaml")
    assert config["training"]["seeds"] == [1, 2, 3]
    assert "real-test" in config["evaluation"]["splits"] and "real-test" in all_splits(config)
    assert len(training_runs(config)) == 3 * len(config["variants"])
    assert {r.seed for r in analysis_runs(config, "landscape")} == {1}
    # the smoke config (CI) never needs the network
    smoke = validate_config(yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text()))
    assert "real-test" not in all_splits(smoke)


# --- the headline figure ------------------------------------------------------------------------------------------------


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_headline_figure_from_small_tables(tmp_path):
    table = _write_csv(
        tmp_path / "wer_table.csv",
        ["variant", "split", "params", "seeds", "greedy_wer", "greedy_wer_low", "greedy_wer_high", "rtf"],
        [
            ["contextnet", "test-other", 600000, 3, 0.8, 0.75, 0.85, 0.02],
            ["lowrank", "test-other", 590000, 3, 0.7, 0.66, 0.74, 0.03],
            ["contextnet", "real-test", 600000, 3, 1.05, 1.0, 1.1, 0.02],
            ["lowrank", "real-test", 590000, 3, 1.02, 0.97, 1.08, 0.03],
            ["lowrank", "test-clean", 590000, 3, 0.1, 0.08, 0.12, 0.03],
        ],
    )
    compression = _write_csv(
        tmp_path / "compression.csv",
        ["variant", "fraction", "split", "params", "greedy_wer"],
        [
            [f"{v}/seed_1", f, s, int(6e5 * (f + 0.2)), 0.8 + (1 - f)]
            for v in ("contextnet", "lowrank")
            for f in (1.0, 0.5, 0.25)
            for s in ("test-other", "real-test")
        ],
    )
    runs = {f"{v}/seed_{s}": v for v in ("contextnet", "lowrank") for s in (1, 2, 3)}
    t, c = read_rows(table), read_rows(compression)
    points = headline_points(t, c, ["test-other", "real-test"], runs)
    assert set(points) == {(v, s) for v in ("contextnet", "lowrank") for s in ("test-other", "real-test")}
    p = points["lowrank", "test-other"]
    assert (p["wer"], p["low"], p["high"], p["rtf"]) == (0.7, 0.66, 0.74, 0.03)
    assert [f for f, *_ in p["truncated"]] == [0.5, 0.25]  # the full-rank row is the trained model itself
    info = plot_headline(t, c, tmp_path / "plots" / "headline.png", runs=runs)
    assert info["splits"] == ["test-other", "real-test"] and info["path"].stat().st_size > 10_000
    # without real-test (apt unavailable) one row; without either split, the table's own splits
    only_other = [r for r in t if r["split"] != "real-test"]
    assert plot_headline(only_other, c, tmp_path / "h2.png", runs=runs)["splits"] == ["test-other"]
    clean = [r for r in t if r["split"] == "test-clean"]
    assert plot_headline(clean, [], tmp_path / "h3.png")["splits"] == ["test-clean"]
    with pytest.raises(PipelineError, match="no rows"):
        plot_headline([], c, tmp_path / "h4.png")
