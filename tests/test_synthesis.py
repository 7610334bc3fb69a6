"""The embedded corpus: deterministic LibriSpeech-format tarballs of eSpeak NG speech."""

import hashlib
import io
import re
import tarfile

import numpy as np
import pytest
import soundfile as sf

from lowrank_asr.corpus import synthesis
from lowrank_asr.corpus.librispeech import parse_speakers, read_trans_file
from lowrank_asr.corpus.synthesis import SplitSpec, make_speaker, synthesize_split_tarball
from lowrank_asr.corpus.wordlist import LEXICONS, WORDS
from lowrank_asr.errors import ConfigError
from lowrank_asr.text.normalize import normalize

TRAIN = {
    "speakers": 3,
    "speaker_offset": 0,
    "utterances": 6,
    "min_words": 2,
    "max_words": 4,
    "rate": [150, 190],
    "pitch": [30, 70],
    "snr_db": 35,
}
OTHER = {
    "speakers": 2,
    "speaker_offset": 3,
    "utterances": 6,
    "min_words": 2,
    "max_words": 4,
    "rate": [200, 240],
    "pitch": [20, 80],
    "snr_db": 10,
}


def _read(path):
    """{member name: bytes or None for directories} of a tarball, plus the member order."""
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        return (
            [m.name for m in members],
            {m.name: (tar.extractfile(m).read() if m.isfile() else None) for m in members},
            members,
        )


def _audio(files):
    return {
        name: sf.read(io.BytesIO(data), dtype="float64")[0]
        for name, data in files.items()
        if name.endswith(".flac")
    }


@pytest.fixture(scope="module")
def train_tar(tmp_path_factory):
    out = tmp_path_factory.mktemp("a") / "train-clean-100.tar.gz"
    stats = synthesize_split_tarball(out, "train-clean-100", SplitSpec.from_dict(TRAIN), seed=11)
    return out, stats


def test_same_seed_same_bytes_other_seed_other_audio(train_tar, tmp_path):
    out, stats = train_tar
    # synthesising in this process first must not change what the workers produce
    synthesis.espeak_synthesize("some unrelated words first", "en-gb-x-rp+m3", 300, 90)
    again = synthesize_split_tarball(
        tmp_path / "again.tar.gz", "train-clean-100", SplitSpec.from_dict(TRAIN), 11
    )
    assert again == {**stats, "path": str(tmp_path / "again.tar.gz")}
    assert (
        hashlib.sha256(out.read_bytes()).digest()
        == hashlib.sha256((tmp_path / "again.tar.gz").read_bytes()).digest()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["again.tar.gz"]  # no temp files left beside it

    synthesize_split_tarball(tmp_path / "other.tar.gz", "train-clean-100", SplitSpec.from_dict(TRAIN), 12)
    a, b = _audio(_read(out)[1]), _audio(_read(tmp_path / "other.tar.gz")[1])
    assert not any(np.array_equal(x, y) for x in a.values() for y in b.values())


def test_chunking_and_workers_do_not_change_output(train_tar, tmp_path, monkeypatch):
    monkeypatch.setattr(synthesis, "CHUNK_SIZE", 4)
    one = synthesize_split_tarball(
        tmp_path / "1.tar.gz", "dev-clean", SplitSpec.from_dict(TRAIN), 11, workers=1
    )
    two = synthesize_split_tarball(
        tmp_path / "2.tar.gz", "dev-clean", SplitSpec.from_dict(TRAIN), 11, workers=2
    )
    assert one["seconds"] == two["seconds"]
    assert (tmp_path / "1.tar.gz").read_bytes() == (tmp_path / "2.tar.gz").read_bytes()
    # another split name draws other sentences from the same seed
    dev = {n: d for n, d in _read(tmp_path / "1.tar.gz")[1].items() if n.endswith(".trans.txt")}
    train = {n: d for n, d in _read(train_tar[0])[1].items() if n.endswith(".trans.txt")}
    assert sorted(dev.values()) != sorted(train.values())


def test_layout_matches_librispeech(train_tar, tmp_path):
    out, stats = train_tar
    raw = out.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[3] == 0 and raw[4:8] == b"\0\0\0\0"  # gzip: no name, mtime 0
    names, files, members = _read(out)
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(synthesis.TAR_MTIME, 0, 0, "librispeech")}
    assert {m.mode for m in members if m.isdir()} == {0o755} and {m.mode for m in members if m.isfile()} == {
        0o644
    }
    flac = [n for n in names if n.endswith(".flac")]
    trans = [n for n in names if n.endswith(".trans.txt")]
    assert len(flac) == stats["utterances"] == 6 and len(trans) == 3
    dirs = {m.name.rstrip("/") for m in members if m.isdir()}
    for n in flac:
        m = re.fullmatch(r"LibriSpeech/train-clean-100/(\d+)/(\d+)/(\1-\2-\d{4})\.flac", n)
        assert m, n
        parents = {
            "LibriSpeech",
            "LibriSpeech/train-clean-100",
            f"LibriSpeech/train-clean-100/{m[1]}",
            f"LibriSpeech/train-clean-100/{m[1]}/{m[2]}",
        }
        assert parents <= dirs
        assert f"LibriSpeech/train-clean-100/{m[1]}/{m[2]}/{m[1]}-{m[2]}.trans.txt" in trans
    total = 0.0
    for n in flac:
        info = sf.info(io.BytesIO(files[n]))
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
        assert 0.5 <= info.duration <= 8.0
        total += info.frames / 16000
    assert total == pytest.approx(stats["seconds"], abs=1e-3)
    ids = set()
    for n in trans:
        path = tmp_path / "t.txt"
        path.write_bytes(files[n])
        for utt_id, text in read_trans_file(path):
            assert text == text.upper() and 2 <= len(text.split()) <= 4
            assert all(w.lower() in WORDS for w in text.split()) and normalize(text) == text.lower()
            ids.add(utt_id)
    assert {n.rsplit("/", 1)[1][:-5] for n in flac} == ids
    speakers = parse_speakers(files["LibriSpeech/SPEAKERS.TXT"].decode())
    assert files["LibriSpeech/SPEAKERS.TXT"].decode().splitlines()[-4].startswith(";ID  |SEX| SUBSET")
    assert set(speakers) == {int(n.split("/")[2]) for n in flac} == {100, 101, 102}
    assert {r.subset for r in speakers.values()} == {"train-clean-100"}
    assert {r.sex for r in speakers.values()} <= {"F", "M"}


def test_test_other_is_noisier_and_has_unseen_speakers(train_tar, tmp_path):
    other = tmp_path / "test-other.tar.gz"
    synthesize_split_tarball(other, "test-other", SplitSpec.from_dict(OTHER), seed=11)
    clean = tmp_path / "clean.tar.gz"
    synthesize_split_tarball(clean, "test-other", SplitSpec.from_dict({**OTHER, "snr_db": None}), seed=11)
    noisy, ref = _audio(_read(other)[1]), _audio(_read(clean)[1])
    assert noisy.keys() == ref.keys()
    snrs = [10 * np.log10(np.mean(ref[k] ** 2) / np.mean((noisy[k] - ref[k]) ** 2)) for k in ref]
    assert np.allclose(snrs, 10.0, atol=0.3), snrs

    train_spk = {int(n.split("/")[2]) for n in _audio(_read(train_tar[0])[1])}
    other_spk = {int(n.split("/")[2]) for n in noisy}
    assert other_spk == {103, 104} and not other_spk & train_spk
    # faster speech: the same speaker index speaks at a higher rate under the test-other spec
    assert (
        make_speaker(11, 3, SplitSpec.from_dict(OTHER)).rate
        > make_speaker(11, 3, SplitSpec.from_dict(TRAIN)).rate
    )


def test_speaker_identity_depends_on_seed_and_index_only():
    spec = SplitSpec.from_dict(TRAIN)
    assert make_speaker(5, 2, spec) == make_speaker(5, 2, SplitSpec.from_dict({**TRAIN, "utterances": 99}))
    voices = {make_speaker(5, i, spec).voice for i in range(20)}
    assert len(voices) > 5
    for v in voices:
        base, variant = v.split("+")
        assert base in synthesis.VOICES and variant in synthesis.VARIANTS


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({"speakers": 2, "utterances": 4, "colour": "pink"}, "colour"),
        ({"speakers": 0}, "speakers"),
        ({"min_words": 5, "max_words": 3}, "min_words"),
        ({"rate": [150]}, "rate"),
        ({"rate": [50, 100]}, "rate"),
        ({"voices": ["en-us", "klingon"]}, "klingon"),
        ({"utterances": "ten"}, "utterances"),
        ({"snr_db": "loud"}, "snr_db"),
    ],
)
def test_split_spec_rejects_bad_config(cfg, needle):
    with pytest.raises(ConfigError, match=needle):
        SplitSpec.from_dict({"speakers": 2, "utterances": 4, **cfg})


def test_split_spec_names_a_missing_required_key():
    with pytest.raises(ConfigError, match=r"needs key\(s\) \['utterances'\]"):
        SplitSpec.from_dict({"speakers": 2})


def test_split_spec_defaults_and_aliases():
    spec = SplitSpec.from_dict(
        {"speakers": 2, "utterances": 4, "voices": ["en-gb", "en-us"], "rate": [160, 180], "snr_db": 20}
    )
    assert spec.rate == (160.0, 180.0) and spec.snr_db == 20.0 and spec.chapters_per_speaker == 1
    assert make_speaker(1, 0, spec).voice.split("+")[0] in ("en", "en-us")


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({"min_words": 2, "max_words": 10, "mean_words": 10}, "mean_words"),
        ({"min_words": 2, "max_words": 10, "mean_words": 2}, "mean_words"),
        ({"mean_words": "long"}, "mean_words"),
        ({"lexicon": "klingon"}, "lexicon"),
        ({"lexicon": ["extended"]}, "lexicon"),
        ({"max_words": synthesis.MAX_WORDS + 1}, "max_words"),
    ],
)
def test_split_spec_rejects_bad_word_settings(cfg, needle):
    with pytest.raises(ConfigError, match=needle):
        SplitSpec.from_dict({"speakers": 2, "utterances": 4, **cfg})


def test_explicit_defaults_plan_the_same_corpus():
    """A spec without the word-count and lexicon keys plans what it did before they existed."""
    plain = synthesis.plan_split("train-clean-100", SplitSpec.from_dict(TRAIN), 11)
    explicit = synthesis.plan_split(
        "train-clean-100", SplitSpec.from_dict({**TRAIN, "mean_words": None, "lexicon": "basic"}), 11
    )
    assert plain == explicit


def test_mean_words_gives_that_mean_rising_to_max_words():
    spec = SplitSpec.from_dict(
        {
            "speakers": 4,
            "utterances": 4000,
            "min_words": 2,
            "max_words": 41,
            "mean_words": 32,
            "lexicon": "extended",
        }
    )
    _, items = synthesis.plan_split("train-clean-100", spec, 3)
    counts = np.array([len(it["text"].split()) for it in items])
    assert counts.min() >= 2 and counts.max() == 41
    assert counts.mean() == pytest.approx(32, abs=0.5)
    # the density rises towards max_words: the top quarter of the range is the most common
    assert np.mean(counts > 31) > 0.4 > np.mean(counts < 12)
    words = {w for it in items for w in it["text"].split()}
    assert words <= set(LEXICONS["extended"]) and len(words - set(WORDS)) > 1000


def test_extended_lexicon_is_plain_distinct_and_has_no_homophones():
    lexicon = LEXICONS["extended"]
    assert lexicon[: len(WORDS)] == WORDS and len(set(lexicon)) == len(lexicon) > 1300
    assert all(w.isascii() and w.isalpha() and w.islower() and normalize(w) == w for w in lexicon)
    for voice in ("en-us", "en"):
        spoken: dict[str, str] = {}
        for w in lexicon:
            other = spoken.setdefault(synthesis.espeak_phonemes(w, voice), w)
            assert other == w, f"{w!r} sounds like {other!r} in eSpeak's {voice}"
