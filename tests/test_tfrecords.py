"""TFRecord shards: contents, round-robin sharding, determinism, atomicity and bad inputs."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from lowrank_asr.corpus.transcripts import HEADER, read_transcripts, write_transcripts
from lowrank_asr.data.tfrecords import FEATURE_SPEC, parse_example, shard_paths, write_tfrecords
from lowrank_asr.errors import ConfigError, CorpusError

SR = 16000


def make_split(root, n_utts=7):
    """A LibriSpeech-layout split of ``n_utts`` short noise FLACs over two chapters."""
    rng = np.random.default_rng(0)
    words = ["alpha", "bravo", "charlie", "delta", "echo"]
    lines: dict[Path, list[str]] = {}
    for i in range(n_utts):
        spk, chap = ("7", "70") if i % 2 else ("8", "80")
        d = root / spk / chap
        d.mkdir(parents=True, exist_ok=True)
        utt = f"{spk}-{chap}-{i:04d}"
        x = (rng.standard_normal(int(SR * (0.2 + 0.05 * i))) * 2000).astype(np.int16)
        sf.write(d / f"{utt}.flac", x, SR, subtype="PCM_16", format="FLAC")
        lines.setdefault(d / f"{spk}-{chap}.trans.txt", []).append(f"{utt} {words[i % 5].upper()} {i}X\n")
    for path, ls in lines.items():
        path.write_text("".join(ls))


@pytest.fixture
def tsv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_split(Path("corpus/dev"))
    write_transcripts(
        Path("corpus/dev"), Path("dev.tsv"), on_bad_audio="fail", skipped_json=Path("skip.json")
    )
    return Path("dev.tsv")


def read_shard(path):
    return [{k: v.numpy() for k, v in parse_example(s).items()} for s in tf.data.TFRecordDataset(str(path))]


def test_examples_and_round_robin(tsv):
    out = shard_paths("tfr", 3)
    assert [p.name for p in out] == [f"shard-00{i}-of-003.tfrecord" for i in range(3)]
    stats = write_tfrecords(tsv, out)
    rows = read_transcripts(tsv)
    assert stats["examples"] == len(rows) == 7 and stats["shards"] == 3
    assert stats["hours"] == pytest.approx(sum(r.duration for r in rows) / 3600)
    assert sorted(os.listdir("tfr")) == [p.name for p in out]  # no temporary files left
    shards = [read_shard(p) for p in out]
    assert [len(s) for s in shards] == [3, 2, 2]
    for i, row in enumerate(rows):  # rows are sorted by PATH; row i lands in shard i % 3 at position i // 3
        ex = shards[i % 3][i // 3]
        assert ex["path"].decode() == row.path
        assert ex["audio"] == Path(row.path).read_bytes()
        assert ex["transcript"].decode() == row.transcript
        assert ex["utt_id"].decode() == Path(row.path).stem
        assert ex["duration"] == pytest.approx(row.duration)
    assert set(FEATURE_SPEC) == {"audio", "transcript", "duration", "utt_id", "path"}


def test_deterministic_bytes(tsv):
    write_tfrecords(tsv, [Path("a/0.tfrecord"), Path("a/1.tfrecord")])
    write_tfrecords(tsv, [Path("b/0.tfrecord"), Path("b/1.tfrecord")])
    for name in ("0.tfrecord", "1.tfrecord"):
        assert (Path("a") / name).read_bytes() == (Path("b") / name).read_bytes()


def test_utt_ids_from_path_false(tsv):
    write_tfrecords(tsv, [Path("one.tfrecord")], utt_ids_from_path=False)
    assert [e["utt_id"].decode() for e in read_shard("one.tfrecord")] == [
        r.path for r in read_transcripts(tsv)
    ]


def test_more_shards_than_rows(tsv):
    out = shard_paths("tfr", 9)
    write_tfrecords(tsv, out)
    assert [len(read_shard(p)) for p in out] == [1] * 7 + [0, 0]


def test_missing_audio_leaves_no_shards(tsv):
    out = shard_paths("tfr", 2)
    write_tfrecords(tsv, out)
    before = [p.read_bytes() for p in out]
    victim = read_transcripts(tsv)[-1].path
    os.remove(victim)
    with pytest.raises(CorpusError, match=victim):
        write_tfrecords(tsv, out)
    assert [p.read_bytes() for p in out] == before  # old shards untouched
    assert sorted(os.listdir("tfr")) == [p.name for p in out]  # and no temporary files


def test_bad_inputs(tsv, tmp_path):
    with pytest.raises(ConfigError, match="at least one"):
        write_tfrecords(tsv, [])
    with pytest.raises(ConfigError, match="distinct"):
        write_tfrecords(tsv, [Path("x.tfrecord"), Path("x.tfrecord")])
    with pytest.raises(ConfigError):
        shard_paths("tfr", 0)
    empty = tmp_path / "empty.tsv"
    empty.write_text("\t".join(HEADER) + "\n")
    with pytest.raises(CorpusError, match="no utterances"):
        write_tfrecords(empty, [Path("x.tfrecord")])
    dup = tmp_path / "dup.tsv"
    row = read_transcripts(tsv)[0]
    dup.write_text("\t".join(HEADER) + f"\n{row.path}\t1.0\ta\n{'x/' + row.path}\t1.0\tb\n")
    with pytest.raises(CorpusError, match="occurs twice"):
        write_tfrecords(dup, [Path("x.tfrecord")])
    assert not Path("x.tfrecord").exists()
