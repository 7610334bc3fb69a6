"""Duration-budget planning (lowrank_asr.data.budget): buckets, batch sizes, padding, the tf.data simulation."""

import numpy as np
import pytest

from lowrank_asr.data.budget import (
    MAX_BUCKETS,
    BucketPlan,
    Utterance,
    batch_size_for,
    over_budget_message,
    padding_fraction,
    plan_buckets,
    simulate_batches,
)
from lowrank_asr.errors import ConfigError


def librispeech_like(n: int, seed: int = 0) -> np.ndarray:
    """1-17 s, mean ~12 s (skewed to the long end, as LibriSpeech's training utterances)."""
    return 1.0 + 16.0 * np.random.default_rng(seed).beta(3.2, 1.5, n)


@pytest.mark.parametrize(
    "budget, longest, shortest", [(200.0, 17.0, 1.0), (40.0, 35.0, 0.5), (17.0, 17.0, 16.0), (5.0, 1.25, 0.1)]
)
def test_every_bucket_fills_its_budget_without_exceeding_it(budget, longest, shortest):
    plan = plan_buckets(budget, longest, shortest)
    edges = plan.upper_edges
    assert edges[-1] == longest
    assert list(edges) == sorted(set(edges)) and edges[0] > 0
    for edge, size in zip(edges, plan.batch_sizes, strict=True):
        assert size >= 1 and size * edge <= budget  # a full batch of utterances below the edge fits
        assert (size + 1) * edge > budget  # and one more would not: the batch is as large as it can be
    # fine enough: each bucket at most 10 % wide (of its upper edge) down to the shortest utterance
    lowers = (shortest, *edges[:-1])
    assert all((hi - lo) / hi <= 0.1 + 1e-3 for lo, hi in zip(lowers, edges, strict=True))
    assert edges[0] * 0.9 <= shortest + 1e-3


def test_bucket_count_is_capped_and_given_boundaries_are_kept():
    assert len(plan_buckets(100.0, 30.0).upper_edges) == MAX_BUCKETS  # no shortest: the cap bounds the grid
    plan = plan_buckets(10.0, 4.0, boundaries=[1.0, 2.0, 5.0])
    assert plan.upper_edges == (1.0, 2.0, 4.0) and plan.batch_sizes == (10, 5, 2)
    assert plan.boundaries == (1.0, 2.0)
    assert [plan.bucket_of(d) for d in (0.5, 1.0, 1.5, 3.9)] == [0, 1, 1, 2]


def test_batch_size_is_floor_and_at_least_one():
    assert batch_size_for(100.0, 12.0) == 8
    assert batch_size_for(12.0, 12.0) == 1
    assert batch_size_for(12.0, 12.000001) == 1


@pytest.mark.parametrize("budget, longest", [(0.0, 1.0), (-5.0, 1.0), (10.0, 11.0), (10.0, 0.0)])
def test_bad_plans_are_refused(budget, longest):
    with pytest.raises(ConfigError, match="batch_seconds|budget"):
        plan_buckets(budget, longest)


def test_padding_fraction_counts_padded_frames():
    assert padding_fraction([[2.0, 2.0]]) == 0.0
    assert padding_fraction([[1.0, 3.0], [2.0]]) == pytest.approx(2.0 / 8.0)
    assert padding_fraction([]) == 0.0


def test_simulation_batches_every_utterance_once_within_the_budget():
    durations = librispeech_like(3000)
    plan = plan_buckets(120.0, float(durations.max()), float(durations.min()))
    batches = simulate_batches(durations, plan.boundaries, plan.batch_sizes)
    assert sorted(d for b in batches for d in b) == sorted(durations.tolist())
    assert all(len(b) * max(b) <= 120.0 for b in batches)
    assert all(plan.bucket_of(d) == plan.bucket_of(b[0]) for b in batches for d in b)
    # the budget's goal: padding <= 10 %, and below that of batches of 8 in ten 3-s buckets
    count = simulate_batches(durations, [3.0 * i for i in range(1, 10)], [8] * 10)
    assert padding_fraction(batches) <= min(0.10, padding_fraction(count))


def test_simulation_refuses_mismatched_sizes():
    with pytest.raises(ValueError, match="2 batch sizes for 3 buckets"):
        simulate_batches([1.0], [1.0, 2.0], [4, 4])


def test_over_budget_message_names_the_utterances_and_the_remedies():
    utts = [
        Utterance(f"u{i}", f"corpus/u{i}.flac", "tfr/shard-000-of-001.tfrecord", 20.0 + i) for i in range(7)
    ]
    msg = over_budget_message(utts, 18.0, "training.batch_seconds")
    assert (
        "7 utterance(s)" in msg and "u0 (corpus/u0.flac, in tfr/shard-000-of-001.tfrecord) of 20.00 s" in msg
    )
    assert "u4" in msg and "u5" not in msg and "2 more" in msg
    for remedy in ("Raise training.batch_seconds", "data.max_duration", "data.on_bad_audio: skip"):
        assert remedy in msg


def test_plan_is_a_value():
    assert plan_buckets(50.0, 10.0, 2.0) == plan_buckets(50.0, 10.0, 2.0)
    assert isinstance(plan_buckets(50.0, 10.0, 2.0), BucketPlan)
