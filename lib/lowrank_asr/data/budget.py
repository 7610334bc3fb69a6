"""Batches by duration (``batch_seconds``): length buckets whose batch sizes fill a budget of padded audio seconds.

A bucket holds the utterances shorter than its upper edge and batches ``floor(budget / upper edge)`` of them, so
every batch's size x its longest duration stays within the budget whatever the lengths. Buckets are geometric:
each one's width is at most ``MAX_RELATIVE_WIDTH`` of its upper edge, so a full batch pads its utterances by
about half of that. Pure Python (no TensorFlow): the pipeline (dataset.py) and the benchmarks plan with it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lowrank_asr.errors import ConfigError

# A bucket's width / its upper edge. 0.1 pads a full batch by ~5 % of its frames (the padding benchmark,
# tests/benchmarks/bench_padding.py); finer buckets fill more slowly and hold more decoded audio waiting.
MAX_RELATIVE_WIDTH = 0.1
# At most this many buckets: each holds up to one budget of decoded audio while it fills.
MAX_BUCKETS = 48


@dataclass(frozen=True)
class BucketPlan:
    """Buckets as ascending upper edges (s; the last is the longest allowed utterance) and their batch sizes."""

    upper_edges: tuple[float, ...]
    batch_sizes: tuple[int, ...]

    @property
    def boundaries(self) -> tuple[float, ...]:
        """The edges between buckets (``bucket_by_sequence_length``'s ``bucket_boundaries``)."""
        return self.upper_edges[:-1]

    def bucket_of(self, duration: float) -> int:
        """The bucket of an utterance: the first whose boundary exceeds it (as tf.data's bucketing)."""
        return bisect.bisect_right(self.boundaries, duration)


def batch_size_for(budget: float, upper_edge: float) -> int:
    """Utterances of a bucket's batch: ``floor(budget / upper edge)``, at least 1."""
    return max(1, math.floor(budget / upper_edge))


def plan_buckets(
    budget: float,
    longest: float,
    shortest: float | None = None,
    boundaries: Sequence[float] | None = None,
    max_relative_width: float = MAX_RELATIVE_WIDTH,
) -> BucketPlan:
    """The buckets for ``budget`` padded seconds per batch and utterances of at most ``longest`` seconds.

    Edges go down geometrically from ``longest`` by ``1 - max_relative_width`` until one is below ``shortest``
    (the shortest utterance; default: ``MAX_BUCKETS`` buckets), so the lowest bucket is no wider than the rest
    where there are utterances. ``boundaries`` (s) replaces that grid (those below ``longest`` are kept).
    """
    if budget <= 0:
        raise ConfigError(f"batch_seconds must be positive seconds, got {budget}")
    if not 0 < longest <= budget * (1 + 1e-6):  # the slack: durations are float32 in the shards
        raise ConfigError(
            f"the longest utterance ({longest} s) must be positive and within the budget of "
            f"{budget} padded seconds per batch"
        )
    if not 0 < max_relative_width < 1:
        raise ConfigError(f"max_relative_width must be in (0, 1), got {max_relative_width}")
    if boundaries is not None:
        edges = sorted({float(b) for b in boundaries if 0 < b < longest}) + [float(longest)]
    else:
        floor = shortest if shortest is not None and shortest > 0 else 0.0
        edges = [float(longest)]
        while len(edges) < MAX_BUCKETS:
            lower = edges[-1] * (1 - max_relative_width)
            if lower <= floor or lower <= 0:
                break
            edges.append(lower)
        edges.reverse()
    return BucketPlan(tuple(edges), tuple(batch_size_for(budget, e) for e in edges))


def padding_fraction(batches: Iterable[Sequence[float]]) -> float:
    """Padded frames / all frames of ``batches`` (each a list of durations, padded to its longest)."""
    padded = total = 0.0
    for batch in batches:
        if len(batch):
            frames = len(batch) * max(batch)
            total += frames
            padded += frames - sum(batch)
    return padded / total if total else 0.0


def simulate_batches(
    durations: Iterable[float], boundaries: Sequence[float], batch_sizes: Sequence[int]
) -> list[list[float]]:
    """The batches tf.data's ``bucket_by_sequence_length`` makes of a stream of durations: a bucket is emitted
    when it holds its batch size; what is left in the buckets at the end comes out as shorter batches."""
    if len(batch_sizes) != len(boundaries) + 1:
        raise ValueError(f"{len(batch_sizes)} batch sizes for {len(boundaries) + 1} buckets")
    pending: list[list[float]] = [[] for _ in batch_sizes]
    out: list[list[float]] = []
    for d in durations:
        i = bisect.bisect_right(boundaries, d)
        pending[i].append(d)
        if len(pending[i]) == batch_sizes[i]:
            out.append(pending[i])
            pending[i] = []
    out.extend(p for p in pending if p)
    return out


@dataclass(frozen=True)
class Utterance:
    """One utterance as the duration scan sees it: where it is, and how long."""

    utt_id: str
    path: str
    shard: str
    duration: float

    def describe(self) -> str:
        return f"utterance {self.utt_id} ({self.path}, in {self.shard}) of {self.duration:.2f} s"


def over_budget_message(too_long: Sequence[Utterance], budget: float, key: str) -> str:
    """The error for utterances longer than the budget: which, and what to do."""
    listed = "; ".join(u.describe() for u in too_long[:5])
    more = f" and {len(too_long) - 5} more" if len(too_long) > 5 else ""
    return (
        f"{len(too_long)} utterance(s) longer than {key} = {budget} padded seconds per batch, which no batch "
        f"can hold: {listed}{more}. Raise {key}, or lower data.max_duration (training drops longer "
        f"utterances), or set data.on_bad_audio: skip to leave them out (they are then logged and listed)"
    )
