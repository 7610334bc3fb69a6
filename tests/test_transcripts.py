"""Transcripts TSV: layout scan, normalisation, durations, sorting, and every kind of bad input."""

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lowrank_asr.corpus.transcripts import HEADER, Row, read_transcripts, write_transcripts
from lowrank_asr.errors import ConfigError, CorpusError
from lowrank_asr.metrics.table import skipped_count

SR = 16000
# (speaker, chapter) -> list of (utterance number, raw LibriSpeech-style text, seconds)
CORPUS = {
    ("19", "198"): [(0, "NORTHANGER ABBEY", 0.5), (1, "THIS LITTLE WORK WAS FINISHED IN THE YEAR", 0.8)],
    ("19", "227"): [(3, "IT'S A TRUTH, UNIVERSALLY ACKNOWLEDGED", 0.3)],
    ("103", "1240"): [(2, "CHAPTER  ONE MISSUS RACHEL LYNDE IS SURPRISED", 1.0), (10, "A B C", 0.25)],
}


def write_flac(path, seconds, seed=0):
    """A short sine-plus-noise FLAC (16 kHz mono, 16 bit)."""
    n = int(round(seconds * SR))
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / SR) + 0.05 * rng.standard_normal(n)
    sf.write(path, (x * 32767).astype(np.int16), SR, subtype="PCM_16", format="FLAC")


def make_split(root, corpus=CORPUS):
    """A LibriSpeech-layout split under ``root``; returns {utt_id: flac path}."""
    paths = {}
    for (spk, chap), utts in corpus.items():
        d = root / spk / chap
        d.mkdir(parents=True, exist_ok=True)
        lines = []
        for num, text, seconds in utts:
            utt = f"{spk}-{chap}-{num:04d}"
            write_flac(d / f"{utt}.flac", seconds, seed=num)
            lines.append(f"{utt} {text}\n")
            paths[utt] = d / f"{utt}.flac"
        (d / f"{spk}-{chap}.trans.txt").write_text("".join(lines))
    return paths


@pytest.fixture
def split(tmp_path, monkeypatch):
    """A split at the relative path ``corpus/dev`` (the working directory is tmp_path)."""
    monkeypatch.chdir(tmp_path)
    make_split(tmp_path / "corpus" / "dev")
    return tmp_path / "corpus" / "dev"


def run(split_dir="corpus/dev", mode="fail"):
    return write_transcripts(
        Path(split_dir), Path("out/dev.tsv"), on_bad_audio=mode, skipped_json=Path("out/dev.skipped.json")
    )


def leftovers():
    return os.listdir("out") if os.path.isdir("out") else []


def test_writes_sorted_normalised_tsv(split):
    stats = run()
    lines = (split.parent.parent / "out" / "dev.tsv").read_text().splitlines()
    assert lines[0] == "PATH\tDURATION\tTRANSCRIPT"
    rows = [line.split("\t") for line in lines[1:]]
    paths = [r[0] for r in rows]
    assert paths == sorted(paths) and len(rows) == 5
    # relative path as given, not resolved
    assert paths[0] == os.path.join("corpus", "dev", "103", "1240", "103-1240-0002.flac")
    by_id = {os.path.basename(r[0])[:-5]: r for r in rows}
    assert by_id["103-1240-0002"][1:] == ["1.0000", "chapter one missus rachel lynde is surprised"]
    assert by_id["19-227-0003"][1:] == ["0.3000", "it's a truth universally acknowledged"]
    assert by_id["103-1240-0010"][1:] == ["0.2500", "a b c"]
    assert stats["utterances"] == 5 and stats["skipped"] == 0
    assert stats["hours"] == pytest.approx((0.5 + 0.8 + 0.3 + 1.0 + 0.25) / 3600)
    assert json.loads((split.parent.parent / "out" / "dev.skipped.json").read_text()) == []
    assert sorted(os.listdir("out")) == ["dev.skipped.json", "dev.tsv"]  # no temp files left

    read = read_transcripts(split.parent.parent / "out" / "dev.tsv")
    assert read[0] == Row(paths[0], 1.0, "chapter one missus rachel lynde is surprised")
    assert [r.path for r in read] == paths


def test_absolute_split_dir_gives_absolute_paths(split):
    write_transcripts(
        split, split.parent / "abs.tsv", on_bad_audio="fail", skipped_json=split.parent / "s.json"
    )
    rows = read_transcripts(split.parent / "abs.tsv")
    assert all(r.path.startswith(str(split)) for r in rows)


def corrupt(split):
    p = split / "19" / "198" / "19-198-0001.flac"
    p.write_bytes(np.random.default_rng(1).bytes(3000))
    return p


def truncate(split):
    p = split / "103" / "1240" / "103-1240-0002.flac"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    return p


def no_audio(split):
    p = split / "19" / "227" / "19-227-0003.flac"
    p.unlink()
    return p


def no_transcript(split):
    p = split / "19" / "227" / "19-227-0009.flac"
    write_flac(p, 0.2)
    return p


def malformed(split):
    t = split / "19" / "198" / "19-198.trans.txt"
    t.write_text(t.read_text() + "19-198-0005\n")  # an id without text
    write_flac(split / "19" / "198" / "19-198-0005.flac", 0.2)
    return split / "19" / "198" / "19-198-0005.flac"


def malformed_id(split):
    t = split / "19" / "198" / "19-198.trans.txt"
    t.write_text(t.read_text() + "garbage line without an id\n")
    return t


def wrong_rate(split):
    p = split / "19" / "198" / "19-198-0000.flac"
    sf.write(p, np.zeros(8000, np.int16), 8000, subtype="PCM_16", format="FLAC")
    return p


def header_only(split):
    """A FLAC cut right after its metadata blocks: a valid header, no audio frames."""
    p = split / "19" / "198" / "19-198-0001.flac"
    data = p.read_bytes()
    offset = 4
    while True:
        last, length = data[offset] & 0x80, int.from_bytes(data[offset + 1 : offset + 4], "big")
        offset += 4 + length
        if last:
            break
    p.write_bytes(data[:offset])
    return p


BAD = {
    "corrupt": (corrupt, "corrupt or unreadable FLAC"),
    "truncated": (truncate, "corrupt"),
    "no_audio": (no_audio, "transcript line has no audio file"),
    "no_transcript": (no_transcript, "audio file has no transcript line"),
    "malformed_text": (malformed, "malformed transcript line 3"),
    "malformed_id": (malformed_id, "malformed transcript line 3"),
    "sample_rate": (wrong_rate, "sample rate is 8000 Hz"),
    "header_only": (header_only, "no audio samples"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_input_fails_without_output(split, kind):
    damage, reason = BAD[kind]
    bad = damage(split)
    rel = os.path.relpath(bad)
    with pytest.raises(CorpusError) as err:
        run()
    msg = str(err.value)
    assert rel in msg and reason in msg
    assert "data.on_bad_audio: skip" in msg
    assert leftovers() == []  # neither output nor temporary files


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_input_skipped_and_listed(split, kind, caplog):
    damage, reason = BAD[kind]
    bad = damage(split)
    rel = os.path.relpath(bad)
    with caplog.at_level(logging.WARNING, logger="lowrank_asr.corpus.transcripts"):
        stats = run(mode="skip")
    skipped = json.loads(Path("out/dev.skipped.json").read_text())
    assert len(skipped) == 1 and stats["skipped"] == 1
    assert skipped[0]["path"] == rel and reason in skipped[0]["reason"]
    assert set(skipped[0]) == {"path", "utt_id", "reason"}
    rows = read_transcripts("out/dev.tsv")
    assert rel not in [r.path for r in rows]
    expected = 5 - (kind in ("corrupt", "truncated", "no_audio", "sample_rate", "header_only"))
    assert len(rows) == stats["utterances"] == expected
    assert any(rel in rec.getMessage() and reason in rec.getMessage() for rec in caplog.records)


def test_multiple_problems_all_listed(split):
    corrupt(split)
    no_audio(split)
    no_transcript(split)
    run(mode="skip")
    skipped = json.loads(Path("out/dev.skipped.json").read_text())
    assert [s["utt_id"] for s in skipped] == ["19-198-0001", "19-227-0003", "19-227-0009"]
    assert len(read_transcripts("out/dev.tsv")) == 3


def test_skipped_counts_utterances_not_problems(split):
    # an unreadable transcript file is one problem of no utterance; its two audio files are listed on their own
    (split / "19" / "198" / "19-198.trans.txt").write_bytes(b"19-198-0000 \xff\xfe BAD\n")
    no_transcript(split)
    t = split / "103" / "1240" / "103-1240.trans.txt"
    t.write_text(t.read_text() + "103-1240-0010 A B C AGAIN\n")  # a duplicate line of a scored utterance
    stats = run(mode="skip")
    skipped = json.loads(Path("out/dev.skipped.json").read_text())
    assert stats["problems"] == len(skipped) == 5
    # 19-198-0000, 19-198-0001 and 19-227-0009; 103-1240-0010 is scored (from its first line)
    assert stats["skipped"] == skipped_count("out/dev.skipped.json") == 3
    assert stats["utterances"] == len(read_transcripts("out/dev.tsv")) == 3
    assert stats["utterances"] + stats["skipped"] == len(list(split.rglob("*.flac")))


def test_empty_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus" / "dev").mkdir(parents=True)
    for mode in ("fail", "skip"):
        with pytest.raises(CorpusError, match="holds no utterances"):
            run(mode=mode)
    with pytest.raises(CorpusError, match="does not exist"):
        run("corpus/missing")
    assert leftovers() == []


def test_everything_skipped_is_an_error(split):
    for p in split.rglob("*.flac"):
        p.write_bytes(b"not a flac")
    with pytest.raises(CorpusError, match="no usable utterances"):
        run(mode="skip")
    assert leftovers() == []


def test_bad_mode(split):
    with pytest.raises(ConfigError, match="on_bad_audio"):
        run(mode="ignore")


def test_existing_output_untouched_on_failure(split):
    run()
    before = Path("out/dev.tsv").read_text()
    corrupt(split)
    with pytest.raises(CorpusError):
        run()
    assert Path("out/dev.tsv").read_text() == before


def test_read_transcripts_errors(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("path\tduration\ttranscript\n")
    with pytest.raises(CorpusError, match="header"):
        read_transcripts(p)
    p.write_text("\t".join(HEADER) + "\na.flac\tnot-a-number\thello\n")
    with pytest.raises(CorpusError, match="line 2"):
        read_transcripts(p)
    p.write_text("\t".join(HEADER) + "\na.flac\t1.0\n")
    with pytest.raises(CorpusError, match="line 2: expected 3"):
        read_transcripts(p)
    with pytest.raises(CorpusError, match="does not exist"):
        read_transcripts(tmp_path / "missing.tsv")
