"""Evaluate a loss on the plane ``w + a * d1 + b * d2`` around a model's trained weights (TensorFlow).

The model is never rebuilt: each grid point assigns the perturbed weights in place (``var.assign``) and calls
the caller's ``loss_fn`` (a zero-argument closure over pre-featurised data), so one grid point costs one
evaluation pass plus one weight assignment. The trained weights are restored afterwards, also on error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from lowrank_asr.errors import PipelineError
from lowrank_asr.landscape.grid import GuardedLoss, LossGrid, evaluate_placements, grid_points


def _check_directions(variables, weights, d1, d2) -> None:
    for name, arrays in (("weights", weights), ("d1", d1), ("d2", d2)):
        if len(arrays) != len(variables):
            raise PipelineError(
                f"evaluate_grid: {len(arrays)} {name} arrays for {len(variables)} trainable variables; "
                "directions must come from random_directions(model_weights(model), seed) of the same model"
            )
        for v, a in zip(variables, arrays, strict=True):
            if tuple(v.shape) != tuple(np.shape(a)):
                raise PipelineError(
                    f"evaluate_grid: {name} array of shape {np.shape(a)} does not match variable "
                    f"{getattr(v, 'path', v.name)} of shape {tuple(v.shape)}"
                )


_ASSIGN_FN = None


def _assign_fn():
    """The traced ``v <- w + a*d1 + b*d2`` over all variables (built on first use)."""
    global _ASSIGN_FN
    if _ASSIGN_FN is None:

        @tf.function(autograph=False)
        def assign_all(variables, w, d1, d2, a, b):
            for v, x, u, z in zip(variables, w, d1, d2, strict=True):
                v.assign(x + tf.cast(a, x.dtype) * u + tf.cast(b, x.dtype) * z)

        _ASSIGN_FN = assign_all
    return _ASSIGN_FN


def evaluate_grid(
    model,
    loss_fn: Callable[[], object],
    d1: Sequence[np.ndarray],
    d2: Sequence[np.ndarray],
    xs: Sequence[float],
    ys: Sequence[float],
    points: np.ndarray | None = None,
    *,
    metric_fn: Callable[[], float] | None = None,
    fallback_fn: Callable[[], float] | None = None,
    progress: bool = True,
) -> LossGrid:
    """Loss (and ``metric_fn``) at ``w + xs[ix] * d1 + ys[iy] * d2`` for each ``(iy, ix)`` in ``points``.

    ``loss_fn()`` returns a scalar (tensor or float) for the model's *current* weights; ``metric_fn()`` too
    (e.g. WER over the same subset). ``points`` defaults to the whole grid. A non-finite loss is recomputed by
    ``fallback_fn`` (float64) and stored as +inf if still not finite, never as NaN (:class:`GuardedLoss`; the
    grid's ``status`` says which). Weights are restored to their exact original values afterwards.
    Returns a :class:`LossGrid`; ``.loss_array()`` gives the ``[M, N]`` array of a full grid.
    """
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    if points is None:
        points = grid_points(len(xs), len(ys))
    points = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    if len(points) and (points.min() < 0 or points[:, 0].max() >= len(ys) or points[:, 1].max() >= len(xs)):
        raise PipelineError(f"evaluate_grid: point indices outside the {len(ys)} x {len(xs)} grid")

    variables = list(model.trainable_variables)
    originals = [np.array(v.numpy(), copy=True) for v in variables]
    _check_directions(variables, originals, d1, d2)
    # Keep centre and directions as device tensors: one fused a*d1 + b*d2 per variable and point.
    w_t = [tf.constant(w) for w in originals]
    d1_t = [tf.constant(np.asarray(d, dtype=w.dtype)) for d, w in zip(d1, originals, strict=True)]
    d2_t = [tf.constant(np.asarray(d, dtype=w.dtype)) for d, w in zip(d2, originals, strict=True)]

    # Assign through the underlying tf.Variables (Keras 3 wraps them) so they can be arguments of one traced
    # function: eager per-variable ops cost ~0.1 ms each, a noticeable share of a grid point for a model with
    # hundreds of variables; the trace is shared by every call with the same variable shapes.
    tf_vars = [v if isinstance(v, tf.Variable) else v.value for v in variables]
    assign_fn = _assign_fn()

    def set_point(a: float, b: float) -> None:
        assign_fn(tf_vars, w_t, d1_t, d2_t, tf.constant(a, tf.float64), tf.constant(b, tf.float64))

    bar = tqdm(points, desc="loss grid", unit="pt", disable=None if progress else True, mininterval=5)
    guarded = GuardedLoss(loss_fn, fallback_fn)
    loss, metric = evaluate_placements(
        variables, originals, lambda p: set_point(xs[p[1]], ys[p[0]]), bar, len(points), guarded, metric_fn
    )
    return LossGrid(
        xs=xs,
        ys=ys,
        points=points,
        loss=loss,
        metric=metric,
        status=np.asarray(guarded.status, dtype=np.int8),
    )
