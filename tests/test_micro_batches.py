"""Micro-batches under a duration budget (evaluation.batch_seconds): planning only, no TensorFlow."""

import math

import numpy as np
import pytest

from lowrank_asr.data.micro_batches import padded_seconds, plan_micro_batches, points_per_pass
from lowrank_asr.errors import ConfigError


def test_longest_first_greedy_packing():
    durations = [1.0, 3.0, 2.0, 2.0, 5.0, 1.0]
    plan = plan_micro_batches(durations, 6.0)
    # 5 alone (2 x 5 > 6); 3 + 2 (2 x 3 = 6); then 2 + 1 + 1 (3 x 2 = 6); ties keep the given order
    assert plan == [[4], [1, 2], [3, 0, 5]]
    assert padded_seconds(durations, plan) == [5.0, 6.0, 6.0]


@pytest.mark.parametrize("budget", [2.5, 7.0, 30.0, 1e6])
def test_every_utterance_once_and_every_batch_within_budget(budget):
    durations = np.random.default_rng(0).uniform(0.5, 2.5, size=57).tolist()
    plan = plan_micro_batches(durations, budget)
    assert sorted(i for b in plan for i in b) == list(range(57))
    assert max(padded_seconds(durations, plan)) <= budget
    # greedy: a batch closes only when the next utterance would not fit
    for b, nxt in zip(plan, plan[1:], strict=False):
        assert (len(b) + 1) * durations[b[0]] > budget and durations[nxt[0]] <= durations[b[-1]]
    if budget >= 57 * 2.5:
        assert len(plan) == 1


def test_no_budget_is_one_batch_in_the_given_order():
    assert plan_micro_batches([3.0, 1.0, 2.0], None) == [[0, 1, 2]]
    assert plan_micro_batches([], None) == []


def test_an_utterance_longer_than_the_budget_is_named():
    with pytest.raises(
        ConfigError,
        match=r"utterance 84-121-0002 lasts 12.50 s.*evaluation.batch_seconds = 10.0"
        r".*at least 13",
    ):
        plan_micro_batches([3.0, 12.5], 10.0, names=["84-121-0001", "84-121-0002"])
    with pytest.raises(ConfigError, match="must be positive"):
        plan_micro_batches([3.0], 0.0)


def test_path_points_per_pass_follow_the_budget():
    assert points_per_pass(3.0, 10.0, "u", 16) == 3
    assert points_per_pass(2.0, 10.0, "u", 16) == 5 == math.floor(10.0 / 2.0)
    assert points_per_pass(10.0, 10.0, "u", 16) == 1
    assert points_per_pass(3.0, None, "u", 16) == 16  # no budget: attribution.batch_size
    with pytest.raises(ConfigError, match="utterance u lasts 11.00 s"):
        points_per_pass(11.0, 10.0, "u", 16)
