"""The analysis subset of a split: its first ``N`` utterances in file order (TFRecord shards in the order given,
records in file order), the same for every run, epoch and analysis (loss landscape, geometry, attribution,
representations). Evaluated as padded micro-batches under a duration budget (see ``micro_batches``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from lowrank_asr.corpus.librispeech import SAMPLE_RATE
from lowrank_asr.data.dataset import make_dataset
from lowrank_asr.data.micro_batches import padded_seconds, plan_micro_batches
from lowrank_asr.data.tfrecords import FEATURE_SPEC
from lowrank_asr.errors import CorpusError

log = logging.getLogger(__name__)


def subset_utterances(files: Sequence[str], vocab, size: int) -> list[dict]:
    """The first ``size`` utterances of the TFRecords (file order), the same for every epoch, one dict each:
    ``audio`` float32 [S], ``labels`` int32 [U] (unpadded numpy arrays), ``utt_id``, ``transcript``, ``path``
    (str) and ``duration`` (s, of the decoded samples)."""
    out = []
    for b in make_dataset(
        list(files), vocab, batch_size=1, training=False, seed=0, max_duration=None, batch_seconds=None
    ).take(int(size)):
        n, u = int(b["audio_len"][0]), int(b["label_len"][0])
        out.append(
            {
                "audio": b["audio"][0, :n].numpy(),
                "labels": b["labels"][0, :u].numpy(),
                **{k: b[k][0].numpy().decode() for k in ("utt_id", "transcript", "path")},
                "duration": n / SAMPLE_RATE,
            }
        )
    if not out:
        raise CorpusError(f"no utterances in {list(files)}; the analysis subset is empty")
    return out


def pad_batch(utterances: Sequence[dict]) -> dict:
    """One zero-padded batch of :func:`subset_utterances` items, in make_dataset's batch format."""

    def padded(key: str) -> np.ndarray:
        rows = [u[key] for u in utterances]
        out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=rows[0].dtype)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    return {
        "audio": tf.constant(padded("audio")),
        "labels": tf.constant(padded("labels")),
        "audio_len": tf.constant([len(u["audio"]) for u in utterances], tf.int32),
        "label_len": tf.constant([len(u["labels"]) for u in utterances], tf.int32),
        "duration": tf.constant([u["duration"] for u in utterances], tf.float32),
        **{k: tf.constant([u[k] for u in utterances]) for k in ("utt_id", "transcript", "path")},
    }


def subset_micro_batches(utterances: Sequence[dict], batch_seconds: float | None) -> list[dict]:
    """The utterances as padded micro-batches of at most ``batch_seconds`` padded audio each
    (:func:`~lowrank_asr.data.micro_batches.plan_micro_batches`; None: one batch in the given order)."""
    durations = [u["duration"] for u in utterances]
    plan = plan_micro_batches(durations, batch_seconds, [u["utt_id"] for u in utterances])
    log.info(
        "%d utterances in %d micro-batch(es), at most %.1f padded s per pass (evaluation.batch_seconds: %s)",
        len(utterances),
        len(plan),
        max(padded_seconds(durations, plan), default=0.0),
        batch_seconds,
    )
    return [pad_batch([utterances[i] for i in group]) for group in plan]


def all_utt_ids(files: Sequence[str]) -> list[str]:
    """Utterance ids of the TFRecords in file order (parses only the id: no audio is decoded)."""
    spec = {"utt_id": FEATURE_SPEC["utt_id"]}
    ids = tf.data.TFRecordDataset(list(files)).map(lambda s: tf.io.parse_single_example(s, spec)["utt_id"])
    return [v.decode() for v in ids.as_numpy_iterator()]


def subset_ids(files: Sequence[str], size: int) -> list[str]:
    """The ids of the analysis subset (the utterances :func:`subset_utterances` returns), without decoding audio."""
    ids = all_utt_ids(files)[: int(size)]
    if not ids:
        raise CorpusError(f"no utterances in {list(files)}; the analysis subset is empty")
    return ids
