"""The optimiser's path on its own plane (Li et al. 2018, §7): PCA of the epoch weights around the final ones.

Random directions cannot show the path (in high dimension it is nearly orthogonal to any random plane), so the
plane is spanned by the first two principal components of ``θ_i − θ_n`` (i = 1 … n). As for the random
directions (``landscape.directions``), parameters with a zero direction (biases, batch-norm γ/β: filter axes
``None``) are zeroed in the differences, so the plane moves only the weights that have filters.

Conventions: the matrix rows are the flattened differences in ``model.trainable_variables`` order; the
components come from the mean-centred matrix (PCA, as Li et al. use scikit-learn's), unit norm; the
projections are of the un-centred differences, so the final epoch sits at the origin and
``θ_n + x_i·d₁ + y_i·d₂`` is the best approximation of ``θ_i`` in the plane.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.landscape.directions import FilterAxes, model_filter_axes, model_weights
from lowrank_asr.landscape.evaluate import evaluate_grid
from lowrank_asr.landscape.grid import LossGrid
from lowrank_asr.trained_run.objective import subset_objective


@dataclass
class TrajectoryPlane:
    """Directions ``d1``, ``d2`` (per variable, unit norm overall), ``coords [n, 2]`` of every epoch,
    ``explained [2]`` variance ratio of each component, and ``residual [n]``: the distance of each epoch from
    the plane (0 when the path lies in it)."""

    d1: list[np.ndarray]
    d2: list[np.ndarray]
    coords: np.ndarray
    explained: np.ndarray
    residual: np.ndarray


def _flatten(
    weights: Sequence[np.ndarray], final: Sequence[np.ndarray], axes: Sequence[FilterAxes]
) -> np.ndarray:
    parts = [
        np.zeros(np.size(w)) if a is None else (np.asarray(w, np.float64) - np.asarray(f, np.float64)).ravel()
        for w, f, a in zip(weights, final, axes, strict=True)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def _unflatten(vector: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    out, start = [], 0
    for w in like:
        n = int(np.size(w))
        out.append(vector[start : start + n].reshape(np.shape(w)).astype(np.asarray(w).dtype))
        start += n
    return out


def trajectory_plane(
    epoch_weights: Sequence[Sequence[np.ndarray]], filter_axes: Sequence[FilterAxes] | None = None
) -> TrajectoryPlane:
    """The PCA plane of a weight trajectory ``[θ₁ … θₙ]`` (each a list of arrays, the last is the centre).

    ``filter_axes``: one spec per variable (``model_filter_axes``); ``None`` entries are zeroed. Default: none
    zeroed. Needs at least 3 epochs (two non-zero differences span a plane).
    """
    if len(epoch_weights) < 3:
        raise PipelineError(
            f"trajectory_plane: {len(epoch_weights)} epochs given; a plane needs at least 3 "
            "(train for 3 or more epochs)"
        )
    final = epoch_weights[-1]
    axes = list(filter_axes) if filter_axes is not None else [()] * len(final)
    if len(axes) != len(final):
        raise PipelineError(f"trajectory_plane: {len(axes)} filter-axes specs for {len(final)} variables")
    for i, w in enumerate(epoch_weights):
        if [np.shape(a) for a in w] != [np.shape(a) for a in final]:
            raise PipelineError(
                f"trajectory_plane: epoch {i + 1} has other variable shapes than the final epoch"
            )
    diffs = np.stack([_flatten(w, final, axes) for w in epoch_weights])  # [n, p]
    centred = diffs - diffs.mean(axis=0, keepdims=True)
    # n ≪ p: the SVD of the small [n, p] matrix gives the components without a p × p covariance.
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    total = float(np.sum(s**2))
    if total == 0.0 or s[1] == 0.0:
        raise PipelineError("trajectory_plane: the epoch weights do not span a plane (identical epochs?)")
    comps = vt[:2]
    # A component's sign is arbitrary: orient each so that the first epoch has a positive coordinate.
    first = comps @ diffs[0]
    comps = comps * np.where(first < 0, -1.0, 1.0)[:, None]
    coords = diffs @ comps.T
    residual = np.linalg.norm(diffs - coords @ comps, axis=1)
    return TrajectoryPlane(
        d1=_unflatten(comps[0], final),
        d2=_unflatten(comps[1], final),
        coords=coords,
        explained=s[:2] ** 2 / total,
        residual=residual,
    )


def plane_axes(coords: np.ndarray, n: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid axes covering every projection (and the origin) with ``margin`` × the extent added on each side."""
    coords = np.asarray(coords, dtype=np.float64)
    axes = []
    for k in range(2):
        lo, hi = min(0.0, float(coords[:, k].min())), max(0.0, float(coords[:, k].max()))
        pad = margin * (hi - lo) if hi > lo else 1.0
        axes.append(np.linspace(lo - pad, hi + pad, int(n)))
    return axes[0], axes[1]


@dataclass
class TrajectoryResult:
    plane: TrajectoryPlane
    grid: LossGrid
    eval_loss: float
    subset_ids: list[str]
    seconds: float


def trajectory_landscape(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_paths: Sequence[str | Path],
    data_files: Sequence[str],
    subset: int,
    grid: int,
    margin: float,
    progress: bool = False,
    batch_seconds: float | None,
) -> TrajectoryResult:
    """The loss on the PCA plane of ``weights_paths`` (epochs in order; the last is the centre), over the subset
    in micro-batches of at most ``batch_seconds`` padded audio (None: one batch)."""
    obj = subset_objective(
        model_cfg=model_cfg,
        vocab_path=vocab_path,
        weights_path=weights_paths[-1],
        data_files=data_files,
        subset=subset,
        wer=False,  # the loss alone: no decoding
        max_symbols_per_step=None,
        batch_seconds=batch_seconds,
    )
    model = obj.model
    epochs = [model_weights(m) for _, m in obj.run.epochs(weights_paths)]
    obj.run.load(weights_paths[-1])  # the centre, with its own batch-norm statistics
    plane = trajectory_plane(epochs, model_filter_axes(model))
    xs, ys = plane_axes(plane.coords, grid, margin)
    eval_loss = float(obj.loss_fn())
    began = time.perf_counter()
    result = evaluate_grid(
        model, obj.loss_fn, plane.d1, plane.d2, xs, ys, fallback_fn=obj.fallback_loss, progress=progress
    )
    return TrajectoryResult(plane, result, eval_loss, obj.subset_ids, time.perf_counter() - began)
