"""TFRecord shards of one split: the raw FLAC bytes plus transcript and metadata per example.

Storing the compressed FLAC (not decoded samples or features) keeps shards about as small as the corpus and
lets feature settings change without rewriting them; ``lowrank_asr.data.dataset`` decodes inside tf.data.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from lowrank_asr.corpus.transcripts import read_transcripts
from lowrank_asr.errors import ConfigError, CorpusError

log = logging.getLogger(__name__)

SHARD_SUFFIX = ".tfrecord"
FEATURE_SPEC: dict[str, tf.io.FixedLenFeature] = {
    "audio": tf.io.FixedLenFeature([], tf.string),  # the FLAC file's bytes
    "transcript": tf.io.FixedLenFeature([], tf.string),  # normalised text, UTF-8
    "duration": tf.io.FixedLenFeature([], tf.float32),  # seconds
    "utt_id": tf.io.FixedLenFeature([], tf.string),
    "path": tf.io.FixedLenFeature([], tf.string),  # the FLAC path as written in the TSV
}


def shard_paths(out_dir: str | os.PathLike, num_shards: int) -> list[Path]:
    """The shard names ``shard-000-of-004.tfrecord``, ... for ``num_shards`` shards (as the rules name them)."""
    if num_shards < 1:
        raise ConfigError(f"number of TFRecord shards must be >= 1, got {num_shards}")
    return [Path(out_dir) / f"shard-{i:03d}-of-{num_shards:03d}{SHARD_SUFFIX}" for i in range(num_shards)]


def _bytes(v: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def make_example(audio: bytes, transcript: str, duration: float, utt_id: str, path: str) -> bytes:
    """Serialise one utterance as a ``tf.train.Example`` matching ``FEATURE_SPEC``."""
    features = {
        "audio": _bytes(audio),
        "transcript": _bytes(transcript.encode("utf-8")),
        "duration": tf.train.Feature(float_list=tf.train.FloatList(value=[duration])),
        "utt_id": _bytes(utt_id.encode("utf-8")),
        "path": _bytes(path.encode("utf-8")),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse one serialised example into scalar tensors (usable inside ``tf.data.Dataset.map``)."""
    return tf.io.parse_single_example(serialized, FEATURE_SPEC)


def write_tfrecords(tsv: Path, out_files: list[Path], *, utt_ids_from_path: bool = True) -> dict:
    """Write every row of the transcripts TSV to ``out_files``, round-robin in PATH order.

    Row ``i`` (sorted by PATH) goes to ``out_files[i % len(out_files)]``, so the output is a pure function of
    the TSV and the audio bytes. ``utt_id`` is the file stem when ``utt_ids_from_path`` (LibriSpeech ids),
    else the whole path. All shards are written to temporary files and renamed only once all succeeded.
    Returns ``{"examples", "shards", "hours", "bytes"}``.
    """
    out_files = [Path(p) for p in out_files]
    if not out_files:
        raise ConfigError("write_tfrecords needs at least one output shard file")
    if len(set(out_files)) != len(out_files):
        raise ConfigError(f"output shard files are not distinct: {[str(p) for p in out_files]}")
    rows = sorted(read_transcripts(tsv), key=lambda r: r.path)
    if not rows:
        raise CorpusError(f"{tsv} holds no utterances; check the transcripts stage")
    utt_ids = [Path(r.path).stem if utt_ids_from_path else r.path for r in rows]
    seen: dict[str, str] = {}
    for uid, r in zip(utt_ids, rows, strict=True):
        if uid in seen:
            raise CorpusError(
                f"{tsv}: utterance id {uid!r} occurs twice ({seen[uid]} and {r.path}); "
                "utterance ids must be unique (use utt_ids_from_path=False for non-LibriSpeech names)"
            )
        seen[uid] = r.path
    if len(out_files) > len(rows):
        log.warning("%d shards for %d utterances: some shards stay empty", len(out_files), len(rows))

    tmps: list[Path] = []
    writers: list[tf.io.TFRecordWriter] = []
    total_bytes = 0
    try:
        for out in out_files:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
            os.close(fd)
            tmps.append(Path(tmp))
            writers.append(tf.io.TFRecordWriter(tmp))
        bar = tqdm(rows, desc=f"tfrecords {Path(tsv).stem}", unit="utt", disable=None, mininterval=5)
        for i, (row, uid) in enumerate(zip(bar, utt_ids, strict=True)):
            try:
                audio = Path(row.path).read_bytes()
            except OSError as e:
                raise CorpusError(
                    f"{tsv}: audio file {row.path} cannot be read ({e.strerror}); paths are relative to the "
                    "working directory: run from the project root or rerun the transcripts stage"
                ) from None
            total_bytes += len(audio)
            writers[i % len(writers)].write(make_example(audio, row.transcript, row.duration, uid, row.path))
        for w in writers:
            w.close()
        for tmp, out in zip(tmps, out_files, strict=True):
            os.replace(tmp, out)
    except BaseException:
        for w in writers:
            w.close()
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise
    hours = sum(r.duration for r in rows) / 3600.0
    log.info("%s: %d examples (%.3f h) in %d shards", tsv, len(rows), hours, len(out_files))
    return {"examples": len(rows), "shards": len(out_files), "hours": hours, "bytes": total_bytes}
