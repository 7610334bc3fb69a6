"""tf.data input pipeline: TFRecord shards -> decoded, tokenised, (bucketed) padded batches.

Order is deterministic: files are read in the given order (evaluation) or shuffled with ``seed`` (training);
every ``map`` keeps its input order; shuffles are seeded and reshuffle each iteration, so epoch ``k`` of a
dataset built with the same files, seed and TensorFlow global seed sees the same order in any process.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import tensorflow as tf

from lowrank_asr.data.librispeech import SAMPLE_RATE
from lowrank_asr.data.tfrecords import FEATURE_SPEC, SHARD_SUFFIX, parse_example
from lowrank_asr.errors import ConfigError, CorpusError
from lowrank_asr.text.vocabulary import CharVocabulary, Vocabulary

log = logging.getLogger(__name__)

# FLAC decoders: libsndfile through soundfile decodes about 10x faster than tensorflow-io's kernel (measured:
# ~1900x against 120-230x real time on one core), which kept a CPU training step waiting for data. tfio's is a
# graph op, for pipelines that must not call Python (e.g. tf.data service); both yield the same samples.
DECODERS = ("soundfile", "tfio")
# Examples (still FLAC-compressed) held by the training shuffle buffer: ~ 4096 x 200 kB for LibriSpeech.
SHUFFLE_BUFFER = 4096
# Shards read concurrently when training, so the buffer mixes utterances from several shards.
INTERLEAVE_CYCLE = 8
# Upper edge (s) of the default bucket range when no max_duration is given (LibriSpeech's longest is ~35 s).
DEFAULT_MAX_BUCKET_SECONDS = 30.0


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """A mono 16-bit FLAC as float32 samples ``int16 / 32768`` (the same values ``make_dataset`` yields)."""
    data, _ = sf.read(str(path), dtype="int16")
    if data.ndim != 1:
        raise CorpusError(f"{path}: expected mono audio, got {data.shape[1]} channels")
    return data.astype(np.float32) / 32768.0


def _decode_flac_soundfile(data: bytes, path: bytes) -> np.ndarray:
    try:
        pcm, _ = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise CorpusError(f"{path.decode()}: cannot decode its FLAC ({err}); rebuild the TFRecords") from err
    if pcm.shape[1] != 1:
        raise CorpusError(f"{path.decode()}: expected mono audio, got {pcm.shape[1]} channels")
    return pcm[:, 0]


def _check_decoder(decoder: str) -> None:
    if decoder not in DECODERS:
        raise ConfigError(f"unknown FLAC decoder {decoder!r}; use one of {DECODERS}")


def decode_flac(data: tf.Tensor, path: tf.Tensor, decoder: str = "soundfile") -> tf.Tensor:
    """Mono 16-bit FLAC bytes as float32 samples ``int16 / 32768``; ``path`` names the file in errors."""
    _check_decoder(decoder)
    if decoder == "soundfile":
        pcm = tf.numpy_function(_decode_flac_soundfile, [data, path], tf.int16, stateful=False)
        pcm.set_shape([None])
    else:  # tfio
        import tensorflow_io as tfio

        channels = tfio.audio.decode_flac(data, dtype=tf.int16)  # [S, channels]
        check = tf.debugging.assert_equal(
            tf.shape(channels)[1], 1, message=tf.strings.join(["expected mono audio: ", path]))
        with tf.control_dependencies([check]):
            pcm = channels[:, 0]
    return tf.cast(pcm, tf.float32) / 32768.0


def list_shards(split_dir: str | os.PathLike) -> list[str]:
    """The TFRecord shards of one split folder, sorted by name."""
    files = sorted(str(p) for p in Path(split_dir).glob(f"*{SHARD_SUFFIX}"))
    if not files:
        raise CorpusError(f"no *{SHARD_SUFFIX} shards in {split_dir}; run the tfrecords stage")
    return files


def default_bucket_boundaries(batch_size: int, max_duration: float | None = None) -> list[float]:
    """Evenly spaced boundaries (s) up to ``max_duration`` (or 30 s).

    Fewer buckets for larger batches: each bucket has to collect ``batch_size`` examples out of the shuffle
    buffer, so the number of buckets is about ``SHUFFLE_BUFFER / (8 * batch_size)``, between 1 and 10.
    """
    top = max_duration or DEFAULT_MAX_BUCKET_SECONDS
    n = int(np.clip(SHUFFLE_BUFFER // (8 * max(batch_size, 1)), 1, 10))
    return [round(top * (i + 1) / n, 3) for i in range(n - 1)]


def _char_tokenizer(vocab: CharVocabulary):
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocab.tokens[1:]), tf.range(1, vocab.size, dtype=tf.int32)
        ),
        default_value=-1,
    )

    def tokenize(transcript: tf.Tensor) -> tf.Tensor:
        ids = table.lookup(tf.strings.unicode_split(transcript, "UTF-8"))
        check = tf.debugging.Assert(
            tf.reduce_all(ids >= 0),
            ["transcript has a character that is not in the vocabulary (rebuild the vocabulary):", transcript],
        )
        with tf.control_dependencies([check]):
            return tf.identity(ids)

    return tokenize


def _py_tokenizer(vocab: Vocabulary):
    def encode(t: bytes) -> np.ndarray:
        return np.asarray(vocab.encode(t.decode("utf-8")), dtype=np.int32)

    def tokenize(transcript: tf.Tensor) -> tf.Tensor:
        ids = tf.numpy_function(encode, [transcript], tf.int32, stateful=False)
        ids.set_shape([None])
        return ids

    return tokenize


def _count_long(files: Sequence[str], max_duration: float) -> tuple[int, int]:
    """(number of examples, number longer than ``max_duration``): parses only the duration feature.

    Cached per (files, their sizes and mtimes, max_duration): training builds a dataset every epoch and
    should not re-read every shard each time just to log a count.
    """
    key = (tuple((f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files), float(max_duration))
    if key not in _COUNT_CACHE:
        _COUNT_CACHE[key] = _count_long_uncached(files, max_duration)
    return _COUNT_CACHE[key]


_COUNT_CACHE: dict[tuple, tuple[int, int]] = {}


def _count_long_uncached(files: Sequence[str], max_duration: float) -> tuple[int, int]:
    spec = {"duration": FEATURE_SPEC["duration"]}
    durations = tf.data.TFRecordDataset(list(files)).map(lambda s: tf.io.parse_single_example(s, spec)["duration"])
    total, long = durations.reduce(
        (tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
        lambda acc, d: (acc[0] + 1, acc[1] + tf.cast(d > max_duration, tf.int64)),
    )
    return int(total), int(long)


def make_dataset(
    files: Sequence[str],
    vocab: Vocabulary,
    *,
    batch_size: int,
    training: bool,
    seed: int,
    max_duration: float | None = None,
    bucket_boundaries: Sequence[float] | None = None,
    drop_remainder: bool = False,
    num_parallel_calls: int = tf.data.AUTOTUNE,
    decoder: str = "soundfile",
    utt_ids: Sequence[str] | None = None,
) -> tf.data.Dataset:
    """Batches of dicts: ``audio`` float32 [B,S] (zero padded), ``audio_len`` int32 [B], ``labels`` int32 [B,U]
    (zero padded), ``label_len`` int32 [B], ``utt_id``/``transcript``/``path`` string [B], ``duration`` float32 [B].

    ``training``: shuffled shards and examples (seeded), batches bucketed by audio length (``bucket_boundaries``
    in seconds, default ``default_bucket_boundaries``). Otherwise file order, no shuffle, plain padded batches.
    ``max_duration`` (s) drops longer utterances (the count is logged). ``decoder``: one of `DECODERS`.
    ``utt_ids``: keep only these utterances (filtered before decoding; their order stays the files' order).
    """
    files = [str(f) for f in files]
    if not files:
        raise CorpusError("make_dataset got no TFRecord files; run the tfrecords stage")
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise CorpusError(f"TFRecord file(s) {missing[:5]} do not exist; run the tfrecords stage")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    _check_decoder(decoder)
    if max_duration is not None:
        if max_duration <= 0:
            raise ConfigError(f"max_duration must be positive seconds, got {max_duration}")
        total, long = _count_long(files, max_duration)
        if long == total:
            raise ConfigError(
                f"max_duration={max_duration} s drops all {total} utterances of {files[0]}...; raise it"
            )
        log.info("max_duration=%s s: dropping %d of %d utterances", max_duration, long, total)

    if training:
        ds = tf.data.Dataset.from_tensor_slices(files)
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = ds.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(len(files), INTERLEAVE_CYCLE),
            block_length=1,
            num_parallel_calls=num_parallel_calls,
            deterministic=True,
        )
    else:
        ds = tf.data.TFRecordDataset(files)  # reads the files one after another: file order
    ds = ds.map(parse_example, num_parallel_calls=num_parallel_calls, deterministic=True)
    if max_duration is not None:
        ds = ds.filter(lambda ex: ex["duration"] <= max_duration)
    if utt_ids is not None:
        keep = tf.constant(sorted(set(utt_ids)), tf.string)
        ds = ds.filter(lambda ex: tf.reduce_any(tf.equal(ex["utt_id"], keep)))
    if training:
        # Shuffle before decoding: the buffer then holds compressed FLAC, not float32 samples.
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed + 1, reshuffle_each_iteration=True)

    tokenize = _char_tokenizer(vocab) if isinstance(vocab, CharVocabulary) else _py_tokenizer(vocab)

    def decode(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        audio = decode_flac(ex["audio"], ex["path"], decoder)
        labels = tokenize(ex["transcript"])
        return {
            "audio": audio,
            "audio_len": tf.shape(audio, out_type=tf.int32)[0],
            "labels": labels,
            "label_len": tf.shape(labels, out_type=tf.int32)[0],
            "utt_id": ex["utt_id"],
            "transcript": ex["transcript"],
            "path": ex["path"],
            "duration": ex["duration"],
        }

    ds = ds.map(decode, num_parallel_calls=num_parallel_calls, deterministic=True)

    if training:
        bounds = list(bucket_boundaries) if bucket_boundaries is not None else default_bucket_boundaries(
            batch_size, max_duration
        )
        if any(b <= 0 for b in bounds) or any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:], strict=False)):
            raise ConfigError(f"bucket_boundaries must be positive and strictly increasing seconds, got {bounds}")
        if bounds:
            ds = ds.bucket_by_sequence_length(
                element_length_func=lambda ex: ex["audio_len"],
                bucket_boundaries=[int(round(b * SAMPLE_RATE)) for b in bounds],
                bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
                drop_remainder=drop_remainder,
            )
        else:
            ds = ds.padded_batch(batch_size, drop_remainder=drop_remainder)
    else:
        ds = ds.padded_batch(batch_size, drop_remainder=drop_remainder)

    options = tf.data.Options()
    options.deterministic = True
    # With the CPU oversubscribed (two trainings on two cores), the autotuner held back the end of every epoch
    # until ~40 s after its start: 10 s of idling per 30 s epoch, measured. Without it, AUTOTUNE parallelism
    # means one call per core and the pipeline still keeps up (benchmarks/report.md, input-pipeline stall).
    options.autotune.enabled = False
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
