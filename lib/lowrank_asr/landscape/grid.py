"""A loss on the plane ``w + a * d1 + b * d2`` around a model's trained weights: its points, shards and results
(NumPy only: the plot environment reads them; ``landscape.evaluate`` evaluates them in TensorFlow).

Grid points are index pairs ``(iy, ix)`` (row, column of the ``loss [M, N]`` array; row = y), enumerated
row-major (y outer, x inner) by :func:`grid_points`. Shards take every ``n_shards``-th point, so each shard
covers the whole plane (balanced cost when the loss evaluation time depends on the region).

A loss is never stored as NaN (:class:`GuardedLoss`): far from the minimum the encoder's activations can grow by
orders of magnitude per block (the batch norms divide by the moving variances of the unperturbed weights) and
overflow float32, after which inf − inf or inf · 0 give NaN. Such a point is evaluated again by the caller's
float64 fallback (the true loss, usually finite); what is still not finite is stored as +inf. ``status`` says
which (:data:`LOSS_STATUS`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lowrank_asr.errors import PipelineError

FLOAT32, FLOAT64, NOT_FINITE = 0, 1, 2
LOSS_STATUS = {
    FLOAT32: "float32 value",
    FLOAT64: "float32 not finite (overflow); recomputed in float64",
    NOT_FINITE: "not finite in float64 either, or no float64 fallback (CTC: TensorFlow's CTC kernels are "
    "float32-only): stored as +inf",
}
NOT_EVALUATED = -1


class GuardedLoss:
    """``loss_fn`` as a float that is never NaN: a non-finite value is recomputed by ``fallback_fn`` (float64) when
    given, and what is still not finite becomes +inf. ``status`` lists one :data:`LOSS_STATUS` code per call."""

    def __init__(self, loss_fn: Callable[[], object], fallback_fn: Callable[[], float] | None = None):
        self.loss_fn, self.fallback_fn = loss_fn, fallback_fn
        self.status: list[int] = []

    def __call__(self) -> float:
        value, status = float(np.asarray(self.loss_fn())), FLOAT32
        if not np.isfinite(value) and self.fallback_fn is not None:
            value, status = float(self.fallback_fn()), FLOAT64
        if not np.isfinite(value):
            value, status = float("inf"), NOT_FINITE
        self.status.append(status)
        return value


@dataclass
class LossGrid:
    """Loss (and optional metric) values at some or all points of an ``xs`` × ``ys`` grid.

    ``points [K, 2]`` int ``(iy, ix)``; ``loss [K]``; ``metric [K]`` or None. A full grid has every point once.
    """

    xs: np.ndarray
    ys: np.ndarray
    points: np.ndarray
    loss: np.ndarray
    metric: np.ndarray | None = None
    status: np.ndarray | None = None  # [K] LOSS_STATUS codes (None: not recorded)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.ys), len(self.xs))

    @property
    def complete(self) -> bool:
        return len(self.points) == len(self.ys) * len(self.xs) and _unique_count(
            self.points, self.shape
        ) == len(self.points)

    def _array(self, values: np.ndarray) -> np.ndarray:
        out = np.full(self.shape, np.nan, dtype=np.float64)
        if len(self.points):
            out[self.points[:, 0], self.points[:, 1]] = values
        return out

    def loss_array(self) -> np.ndarray:
        """``[M, N]`` loss (row = y); NaN where a point was not evaluated."""
        return self._array(self.loss)

    def metric_array(self) -> np.ndarray | None:
        """``[M, N]`` metric (e.g. WER) or None."""
        return None if self.metric is None else self._array(self.metric)

    def status_array(self) -> np.ndarray | None:
        """``[M, N]`` int8 LOSS_STATUS codes (NOT_EVALUATED where a point was not evaluated) or None."""
        if self.status is None:
            return None
        out = np.full(self.shape, NOT_EVALUATED, dtype=np.int8)
        if len(self.points):
            out[self.points[:, 0], self.points[:, 1]] = self.status
        return out


def _unique_count(points: np.ndarray, shape: tuple[int, int]) -> int:
    return len(np.unique(points[:, 0] * shape[1] + points[:, 1])) if len(points) else 0


def grid_points(n_x: int, n_y: int) -> np.ndarray:
    """All ``(iy, ix)`` index pairs of an ``n_x`` × ``n_y`` grid, row-major (y outer, x inner): ``[n_y*n_x, 2]``."""
    if n_x < 1 or n_y < 1:
        raise PipelineError(f"grid_points: grid size must be positive, got n_x={n_x}, n_y={n_y}")
    iy, ix = np.meshgrid(np.arange(n_y), np.arange(n_x), indexing="ij")
    return np.stack([iy.ravel(), ix.ravel()], axis=1).astype(np.int64)


def shard_points(points: np.ndarray, shard: int, n_shards: int) -> np.ndarray:
    """The points of shard ``shard`` (0-based) out of ``n_shards``: every ``n_shards``-th point."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise PipelineError(
            f"shard_points: need 0 <= shard < n_shards, got shard={shard}, n_shards={n_shards}"
        )
    return np.asarray(points)[shard::n_shards]


def evaluate_placements(
    variables: Sequence,
    originals: Sequence[np.ndarray],
    place: Callable[[Any], None],
    items: Iterable,
    count: int,
    loss_fn: Callable,
    metric_fn: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(loss [count], metric [count] or None)`` after ``place(item)`` moved the weights to each item's point
    (a grid point, a point on a path); ``variables`` get their ``originals`` back afterwards, also on error."""
    loss = np.empty(count, dtype=np.float64)
    metric = np.empty(count, dtype=np.float64) if metric_fn is not None else None
    try:
        for k, item in enumerate(items):
            place(item)
            loss[k] = float(np.asarray(loss_fn()))
            if metric is not None:
                metric[k] = float(np.asarray(metric_fn()))
    finally:
        for v, w in zip(variables, originals, strict=True):
            v.assign(w)
    return loss, metric


def merge_shards(shards: Sequence[LossGrid]) -> LossGrid:
    """One full :class:`LossGrid` from shard results; error when coordinates differ or points are missing/duplicated."""
    if not shards:
        raise PipelineError("merge_shards: no shard results given")
    first = shards[0]
    for i, s in enumerate(shards[1:], start=1):
        if not (np.array_equal(s.xs, first.xs) and np.array_equal(s.ys, first.ys)):
            raise PipelineError(f"merge_shards: shard {i} has different grid coordinates than shard 0")
        if (s.metric is None) != (first.metric is None):
            raise PipelineError(
                f"merge_shards: shard {i} {'lacks' if s.metric is None else 'has'} metric values "
                "unlike shard 0; evaluate all shards with the same metric_fn"
            )
    points = np.concatenate([np.asarray(s.points, dtype=np.int64).reshape(-1, 2) for s in shards])
    loss = np.concatenate([np.asarray(s.loss, dtype=np.float64) for s in shards])
    metric = None if first.metric is None else np.concatenate([np.asarray(s.metric) for s in shards])
    # statuses only when every shard recorded them (files written before they existed have none)
    status = (
        None
        if any(s.status is None for s in shards)
        else np.concatenate([np.asarray(s.status, dtype=np.int8) for s in shards])
    )
    shape = first.shape
    flat = points[:, 0] * shape[1] + points[:, 1]
    counts = np.bincount(flat, minlength=shape[0] * shape[1])
    if (counts > 1).any():
        dup = points[np.isin(flat, np.flatnonzero(counts > 1))][:5].tolist()
        raise PipelineError(
            f"merge_shards: grid points evaluated more than once, e.g. (iy, ix) {dup}; "
            "check the shard numbers given to each job"
        )
    if (counts == 0).any():
        missing = np.argwhere(counts.reshape(shape) == 0)[:5].tolist()
        raise PipelineError(
            f"merge_shards: {int((counts == 0).sum())} grid points missing, e.g. (iy, ix) "
            f"{missing}; a shard result is absent or incomplete"
        )
    order = np.argsort(flat, kind="stable")
    return LossGrid(
        xs=first.xs,
        ys=first.ys,
        points=points[order],
        loss=loss[order],
        metric=None if metric is None else metric[order],
        status=None if status is None else status[order],
    )
