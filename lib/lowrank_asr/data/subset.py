"""A fixed evaluation subset (the first utterances of a split in file order), for per-epoch analyses."""

from __future__ import annotations

from collections.abc import Sequence

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
