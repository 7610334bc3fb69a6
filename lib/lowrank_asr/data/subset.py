"""Fixed evaluation subsets of a split for per-epoch analyses: the first utterances, or a seeded sample."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lowrank_asr.errors import CorpusError


def fixed_subset(files: Sequence[str], vocab, size: int) -> dict:
    """One padded batch with the first `size` utterances of the TFRecords, the same for every epoch."""
    from lowrank_asr.data.dataset import make_dataset

    data = make_dataset(list(files), vocab, batch_size=size, training=False, seed=0)
    for batch in data.take(1):
        return batch
    raise CorpusError(f"no utterances in {list(files)}; the analysis subset is empty")


def utt_ids(batch: dict) -> list[str]:
    return [v.decode() for v in batch["utt_id"].numpy().tolist()]


def all_utt_ids(files: Sequence[str]) -> list[str]:
    """Utterance ids of the TFRecords in file order (parses only the id: no audio is decoded)."""
    import tensorflow as tf

    from lowrank_asr.data.tfrecords import FEATURE_SPEC

    spec = {"utt_id": FEATURE_SPEC["utt_id"]}
    ids = tf.data.TFRecordDataset(list(files)).map(lambda s: tf.io.parse_single_example(s, spec)["utt_id"])
    return [v.decode() for v in ids.as_numpy_iterator()]


def seeded_subset_ids(files: Sequence[str], size: int, seed: int) -> list[str]:
    """``size`` utterance ids drawn without replacement with ``seed`` (all if fewer), in file order."""
    ids = all_utt_ids(files)
    if not ids:
        raise CorpusError(f"no utterances in {list(files)}; the analysis subset is empty")
    chosen = np.random.default_rng(seed).choice(len(ids), size=min(int(size), len(ids)), replace=False)
    return [ids[i] for i in sorted(chosen)]
