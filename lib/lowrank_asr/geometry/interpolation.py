"""1-D interpolations of the whole model between two weight states (Goodfellow et al. 2015; Li et al. 2018 §3).

``θ(t) = (1 − t)·θ_a + t·θ_b`` for the trainable variables, at any ``t`` (extrapolation included). The
non-trainable float state (batch-norm moving mean and variance) is interpolated too, but with ``t`` clipped to
[0, 1]: at t = 0 and t = 1 the model is exactly the saved one, and outside the segment the statistics stay at
the nearer end (extrapolated variances could turn negative). Integer state (seed generators, counters) is not
touched. Weights are restored afterwards, also on error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.landscape.grid import evaluate_placements
from lowrank_asr.trained_run.objective import subset_objective


def model_state(model) -> list[np.ndarray]:
    """Copies of all of ``model.weights`` (trainable and not), in order."""
    return [np.array(v.numpy(), copy=True) for v in model.weights]


def interpolate_state(
    start: Sequence[np.ndarray], end: Sequence[np.ndarray], trainable: Sequence[bool], t: float
) -> list[np.ndarray]:
    """The state at ``t`` (see the module docstring for which entries use ``t`` and which its clip to [0, 1])."""
    tc = min(max(t, 0.0), 1.0)
    out = []
    for a, b, train in zip(start, end, trainable, strict=True):
        if not np.issubdtype(np.asarray(a).dtype, np.floating):
            out.append(np.asarray(b))
            continue
        s = t if train else tc
        out.append(
            ((1.0 - s) * np.asarray(a, np.float64) + s * np.asarray(b, np.float64)).astype(
                np.asarray(a).dtype
            )
        )
    return out


def evaluate_path(
    model,
    loss_fn: Callable,
    start: Sequence[np.ndarray],
    end: Sequence[np.ndarray],
    ts: Sequence[float],
    *,
    metric_fn: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(loss [K], metric [K] or None)`` at ``θ(t)`` for each ``t`` in ``ts``; ``start``/``end`` from
    :func:`model_state` of the same model."""
    variables = list(model.weights)
    if len(start) != len(variables) or len(end) != len(variables):
        raise PipelineError(
            f"evaluate_path: states of {len(start)} and {len(end)} arrays for a model with "
            f"{len(variables)} weights; take both with model_state of this model"
        )
    trainable_ids = {id(v) for v in model.trainable_variables}
    trainable = [id(v) in trainable_ids for v in variables]

    def place(t: float) -> None:
        for v, w in zip(variables, interpolate_state(start, end, trainable, float(t)), strict=True):
            v.assign(w)

    return evaluate_placements(variables, model_state(model), place, ts, len(ts), loss_fn, metric_fn)


def epoch_path_positions(n_epochs: int, per_epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the consecutive-epoch path is evaluated: ``(position, segment, t)`` arrays.

    Segment ``e`` (1 … n) runs from epoch e − 1 to epoch e; it gets ``per_epoch`` points at t = j/per_epoch
    (j = 1 … per_epoch, so its end is epoch e itself), and the path starts with epoch 0 (segment 1, t = 0).
    ``position = e − 1 + t`` is the x axis of the plot, in epochs.
    """
    if n_epochs < 1 or per_epoch < 1:
        raise PipelineError(
            f"epoch_path_positions: need n_epochs >= 1 and per_epoch >= 1, got {n_epochs}, {per_epoch}"
        )
    seg = [1] + [e for e in range(1, n_epochs + 1) for _ in range(per_epoch)]
    t = [0.0] + [j / per_epoch for _ in range(n_epochs) for j in range(1, per_epoch + 1)]
    seg_a, t_a = np.asarray(seg, dtype=np.int64), np.asarray(t)
    return seg_a - 1 + t_a, seg_a, t_a


@dataclass
class InterpolationResult:
    t: np.ndarray
    loss: np.ndarray
    wer: np.ndarray | None
    position: np.ndarray
    segment: np.ndarray
    segment_t: np.ndarray
    path_loss: np.ndarray
    path_wer: np.ndarray | None
    subset_ids: list[str]


def interpolations(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_paths: Sequence[str | Path],
    data_files: Sequence[str],
    subset: int,
    points: int,
    span: Sequence[float],
    per_epoch: int,
    wer: bool,
    max_symbols_per_step: int,
    batch_seconds: float | None,
) -> InterpolationResult:
    """Loss (and WER) from θ_init = ``weights_paths[0]`` to θ_final = ``weights_paths[-1]`` at ``points``
    values of t over ``span``, and along the consecutive epochs ``weights_paths[0] → [1] → …``; the subset is
    evaluated in micro-batches of at most ``batch_seconds`` padded audio (None: one batch)."""
    obj = subset_objective(
        model_cfg=model_cfg,
        vocab_path=vocab_path,
        weights_path=weights_paths[-1],
        data_files=data_files,
        subset=subset,
        wer=wer,
        max_symbols_per_step=max_symbols_per_step,
        batch_seconds=batch_seconds,
    )
    model = obj.model
    states = [model_state(m) for _, m in obj.run.epochs(weights_paths)]
    t = np.linspace(float(span[0]), float(span[1]), int(points))
    loss, metric = evaluate_path(model, obj.loss_fn, states[0], states[-1], t, metric_fn=obj.metric_fn)
    position, segment, seg_t = epoch_path_positions(len(weights_paths) - 1, per_epoch)
    path_loss = np.empty(len(position))
    path_wer = np.empty(len(position)) if wer else None
    for e in np.unique(segment):
        idx = np.flatnonzero(segment == e)
        seg_loss, seg_wer = evaluate_path(
            model, obj.loss_fn, states[e - 1], states[e], seg_t[idx], metric_fn=obj.metric_fn
        )
        path_loss[idx] = seg_loss
        if path_wer is not None:
            path_wer[idx] = seg_wer
    return InterpolationResult(t, loss, metric, position, segment, seg_t, path_loss, path_wer, obj.subset_ids)
