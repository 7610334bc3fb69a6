"""Micro-batches under a duration budget (``evaluation.batch_seconds``): pure planning, no TensorFlow.

A forward (+ backward) pass over a padded batch costs memory in proportion to its padded audio: the batch size
times its longest utterance's duration. The analyses that sum a loss over a fixed subset (landscape, geometry)
split it into micro-batches whose padded seconds stay within the budget; integrated gradients puts as many path
points of one utterance into a pass as the budget allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lowrank_asr.errors import ConfigError

BUDGET_KEY = "evaluation.batch_seconds"


def check_fits(duration: float, budget: float, name: str) -> None:
    """Error naming the utterance and the budget when ``duration`` alone exceeds ``budget`` seconds."""
    if budget <= 0:
        raise ConfigError(f"{BUDGET_KEY} must be positive seconds (or null for one batch), got {budget}")
    if duration > budget:
        raise ConfigError(
            f"utterance {name} lasts {duration:.2f} s, longer than {BUDGET_KEY} = {budget} s of padded audio per "
            f"pass; raise {BUDGET_KEY} to at least {math.ceil(duration)} (data.max_duration filters only the "
            "training data, not the analysis subsets)"
        )


def plan_micro_batches(
    durations: Sequence[float], budget: float | None, names: Sequence[str] | None = None
) -> list[list[int]]:
    """Indices of ``durations`` grouped into micro-batches of at most ``budget`` padded seconds each.

    ``budget`` None: one batch of all, in the given order (no bound). Otherwise the utterances are sorted by
    duration, longest first (ties in the given order), and packed greedily: a micro-batch takes the next
    utterances while ``(size + 1) × its first (longest) duration <= budget``. Longest first puts the largest
    pass first, so a budget too large for the device fails at once rather than after most of the work.
    ``names`` (e.g. utterance ids) name an utterance longer than the budget in the error.
    """
    n = len(durations)
    if budget is None:
        return [list(range(n))] if n else []
    names = [str(i) for i in range(n)] if names is None else list(names)
    order = sorted(range(n), key=lambda i: (-float(durations[i]), i))
    batches: list[list[int]] = []
    for i in order:
        check_fits(float(durations[i]), budget, names[i])
        if batches and (len(batches[-1]) + 1) * float(durations[batches[-1][0]]) <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def padded_seconds(durations: Sequence[float], batches: Sequence[Sequence[int]]) -> list[float]:
    """Padded audio seconds of each micro-batch: its size × its longest utterance's duration."""
    return [len(b) * max(float(durations[i]) for i in b) for b in batches if b]


def points_per_pass(duration: float, budget: float | None, name: str, default: int | None) -> int | None:
    """Integrated-gradients path points of one utterance per forward/backward pass: ``floor(budget / duration)``
    (at least 1: an utterance longer than the budget is an error), or ``default`` when there is no budget."""
    if budget is None:
        return default
    check_fits(duration, budget, name)
    return max(1, math.floor(budget / duration))
