"""tf.data input pipeline: TFRecord shards -> decoded, tokenised, (bucketed) padded batches.

Order is deterministic: files are read in the given order (evaluation) or shuffled with ``seed`` (training);
every ``map`` keeps its input order; shuffles are seeded and reshuffle each iteration, so epoch ``k`` of a
dataset built with the same files, seed and TensorFlow global seed sees the same order in any process.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import tensorflow as tf
import tensorflow_io as tfio

from lowrank_asr.corpus.librispeech import SAMPLE_RATE
from lowrank_asr.data.budget import BucketPlan, Utterance, over_budget_message, plan_buckets
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
        channels = tfio.audio.decode_flac(data, dtype=tf.int16)  # [S, channels]
        check = tf.debugging.assert_equal(
            tf.shape(channels)[1], 1, message=tf.strings.join(["expected mono audio: ", path])
        )
        with tf.control_dependencies([check]):
            pcm = channels[:, 0]
    return tf.cast(pcm, tf.float32) / 32768.0


def list_shards(split_dir: str | os.PathLike) -> list[str]:
    """The TFRecord shards of one split folder, sorted by name."""
    files = sorted(str(p) for p in Path(split_dir).glob(f"*{SHARD_SUFFIX}"))
    if not files:
        raise CorpusError(f"no *{SHARD_SUFFIX} shards in {split_dir}; run the tfrecords stage")
    return files


def default_bucket_boundaries(batch_size: int, max_duration: float | None) -> list[float]:
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
            [
                "transcript has a character that is not in the vocabulary (rebuild the vocabulary):",
                transcript,
            ],
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


def scan_durations(files: Sequence[str]) -> list[Utterance]:
    """Every utterance of the shards (id, FLAC path, shard, duration), in file order: parses only those features.

    Cached per (files, their sizes and mtimes): training builds a dataset every epoch and should not re-read
    every shard each time to count or plan its batches.
    """
    key = tuple((f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files)
    if key not in _SCAN_CACHE:
        if len(_SCAN_CACHE) >= _SCAN_CACHE_SIZE:  # a training run scans two split sets: keep a few, not all
            _SCAN_CACHE.pop(next(iter(_SCAN_CACHE)))
        _SCAN_CACHE[key] = _scan_uncached(files)
    return _SCAN_CACHE[key]


_SCAN_CACHE: dict[tuple, list[Utterance]] = {}
_SCAN_CACHE_SIZE = 4


def _scan_uncached(files: Sequence[str]) -> list[Utterance]:
    spec = {k: FEATURE_SPEC[k] for k in ("duration", "utt_id", "path")}
    out: list[Utterance] = []
    for shard in files:
        records = tf.data.TFRecordDataset(shard).map(
            lambda s: tf.io.parse_single_example(s, spec),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        for chunk in records.batch(4096).as_numpy_iterator():
            out.extend(
                Utterance(u.decode(), p.decode(), shard, float(d))
                for u, p, d in zip(chunk["utt_id"], chunk["path"], chunk["duration"], strict=True)
            )
    return out


def _longer(duration: float, limit: float) -> bool:
    """``duration > limit`` compared in float32, as the pipeline's filter on the float32 feature does."""
    return bool(np.float32(duration) > np.float32(limit))


def _split_by_budget(
    files: Sequence[str], batch_seconds: float, max_duration: float | None, utt_ids: Sequence[str] | None
) -> tuple[list[Utterance], list[Utterance]]:
    """(kept, too long): the utterances a dataset reads (within ``max_duration``, among ``utt_ids``), split by
    whether they fit in ``batch_seconds``."""
    wanted = set(utt_ids) if utt_ids is not None else None
    kept: list[Utterance] = []
    too_long: list[Utterance] = []
    for u in scan_durations(files):
        if (max_duration is None or not _longer(u.duration, max_duration)) and (
            wanted is None or u.utt_id in wanted
        ):
            (too_long if _longer(u.duration, batch_seconds) else kept).append(u)
    return kept, too_long


def over_budget_utterances(
    files: Sequence[str], batch_seconds: float, max_duration: float | None
) -> list[Utterance]:
    """The utterances of ``files`` (within ``max_duration``) longer than ``batch_seconds``: those a dataset with
    that budget leaves out under ``skip_over_budget`` (for the lists of skipped utterances)."""
    return _split_by_budget([str(f) for f in files], batch_seconds, max_duration, None)[1]


# (FLAC path, budget key, budget) of every over-budget utterance this process has warned of leaving out
_SKIPS_WARNED: set[tuple[str, str, float]] = set()


def _plan_budget(
    files: Sequence[str],
    batch_seconds: float,
    *,
    training: bool,
    max_duration: float | None,
    utt_ids: Sequence[str] | None,
    skip_over_budget: bool,
    bucket_boundaries: Sequence[float] | None,
) -> tuple[BucketPlan, list[Utterance]]:
    """The buckets for the utterances the dataset keeps, and those it leaves out for being over the budget
    (an error unless ``skip_over_budget``): found before any batch is made, not mid-epoch."""
    key = "training.batch_seconds" if training else "evaluation.batch_seconds"
    if batch_seconds <= 0:
        raise ConfigError(f"{key} must be positive seconds, got {batch_seconds}")
    kept, too_long = _split_by_budget(files, batch_seconds, max_duration, utt_ids)
    if too_long and not skip_over_budget:
        raise ConfigError(over_budget_message(too_long, batch_seconds, key))
    for u in too_long:
        if (u.path, key, batch_seconds) not in _SKIPS_WARNED:  # once per process, not again every epoch
            _SKIPS_WARNED.add((u.path, key, batch_seconds))
            log.warning(
                "data.on_bad_audio = skip: leaving out %s, longer than %s = %s s",
                u.describe(),
                key,
                batch_seconds,
            )
    if not kept:
        raise ConfigError(f"{key} = {batch_seconds} s leaves no utterance of {files[0]}...; raise it")
    durations = [u.duration for u in kept]
    plan = plan_buckets(batch_seconds, max(durations), min(durations), boundaries=bucket_boundaries)
    log.info(
        "%s = %s s: %d buckets up to %.2f s, batch sizes %d..%d",
        key,
        batch_seconds,
        len(plan.batch_sizes),
        plan.upper_edges[-1],
        plan.batch_sizes[-1],
        plan.batch_sizes[0],
    )
    return plan, too_long


def make_dataset(
    files: Sequence[str],
    vocab: Vocabulary,
    *,
    batch_size: int,
    training: bool,
    seed: int,
    max_duration: float | None,
    bucket_boundaries: Sequence[float] | None = None,
    drop_remainder: bool = False,
    num_parallel_calls: int = tf.data.AUTOTUNE,
    decoder: str = "soundfile",
    utt_ids: Sequence[str] | None = None,
    batch_seconds: float | None,
    skip_over_budget: bool = False,
    exclude_ids: Sequence[str] = (),
) -> tf.data.Dataset:
    """Batches of dicts: ``audio`` float32 [B,S] (zero padded), ``audio_len`` int32 [B], ``labels`` int32 [B,U]
    (zero padded), ``label_len`` int32 [B], ``utt_id``/``transcript``/``path`` string [B], ``duration`` float32 [B].

    ``training``: shuffled shards and examples (seeded), batches bucketed by audio length (``bucket_boundaries``
    in seconds, default ``default_bucket_boundaries``). Otherwise file order, no shuffle, plain padded batches.
    ``max_duration`` (s) drops longer utterances (the count is logged). ``decoder``: one of `DECODERS`.
    ``utt_ids``: keep only these utterances (filtered before decoding; their order stays the files' order).

    ``batch_seconds``: batches by duration instead of ``batch_size`` (budget.py): each batch's size x its
    longest utterance stays within this many seconds, in length buckets (training: after the seeded shuffle;
    evaluation: in file order, no shuffle, so the batches' order is deterministic but not the files'). The
    shards' durations are scanned first: an utterance longer than the budget is an error naming it, or with
    ``skip_over_budget`` is left out and logged (``over_budget_utterances`` lists them).
    ``exclude_ids``: utterances to leave out (e.g. too short for their transcripts, feasibility.py).
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
        durations = [u.duration for u in scan_durations(files)]
        total, long = len(durations), sum(_longer(d, max_duration) for d in durations)
        if long == total:
            raise ConfigError(
                f"max_duration={max_duration} s drops all {total} utterances of {files[0]}...; raise it"
            )
        log.info("max_duration=%s s: dropping %d of %d utterances", max_duration, long, total)
    plan, too_long = None, []
    if batch_seconds is not None:
        plan, too_long = _plan_budget(
            files,
            batch_seconds,
            training=training,
            max_duration=max_duration,
            utt_ids=utt_ids,
            skip_over_budget=skip_over_budget,
            bucket_boundaries=bucket_boundaries,
        )

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
    if too_long or exclude_ids:
        left_out = tf.constant(sorted({u.utt_id for u in too_long} | set(exclude_ids)), tf.string)
        ds = ds.filter(lambda ex: tf.logical_not(tf.reduce_any(tf.equal(ex["utt_id"], left_out))))
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

    if plan is not None:
        ds = _bucketed(
            ds, [math.floor(b * SAMPLE_RATE) for b in plan.boundaries], plan.batch_sizes, drop_remainder
        )
    elif training:
        bounds = (
            list(bucket_boundaries)
            if bucket_boundaries is not None
            else default_bucket_boundaries(batch_size, max_duration)
        )
        if any(b <= 0 for b in bounds) or any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:], strict=False)):
            raise ConfigError(
                f"bucket_boundaries must be positive and strictly increasing seconds, got {bounds}"
            )
        ds = _bucketed(
            ds,
            [int(round(b * SAMPLE_RATE)) for b in bounds],
            [batch_size] * (len(bounds) + 1),
            drop_remainder,
        )
    else:
        ds = ds.padded_batch(batch_size, drop_remainder=drop_remainder)

    options = tf.data.Options()
    options.deterministic = True
    # With the CPU oversubscribed (two trainings on two cores), the autotuner held back the end of every epoch
    # until ~40 s after its start: 10 s of idling per 30 s epoch, measured. Without it, AUTOTUNE parallelism
    # means one call per core and the pipeline still keeps up (tests/benchmarks/results/report.md, input-pipeline stall).
    options.autotune.enabled = False
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _bucketed(
    ds: tf.data.Dataset, boundaries: Sequence[int], batch_sizes: Sequence[int], drop_remainder: bool
) -> tf.data.Dataset:
    """Padded batches from length buckets (``boundaries`` in samples: a bucket holds lengths below its upper
    boundary); one plain padded batch size without boundaries."""
    if not boundaries:
        return ds.padded_batch(batch_sizes[0], drop_remainder=drop_remainder)
    return ds.bucket_by_sequence_length(
        element_length_func=lambda ex: ex["audio_len"],
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=list(batch_sizes),
        drop_remainder=drop_remainder,
    )
