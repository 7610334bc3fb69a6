"""Geometry of training for an ASR variant: the trajectory plane, 1-D interpolations and sharpness per epoch.

Each function loads the variant once, featurises the fixed analysis subset once (the landscape's subset) and
moves the weights in place, so one job per variant pays the start-up (TensorFlow import, model build, tracing)
once for all epochs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lowrank_asr.geometry.hessian import ModelHVP, hutchinson_trace, power_iteration
from lowrank_asr.geometry.interpolation import epoch_path_positions, evaluate_path, model_state
from lowrank_asr.geometry.trajectory import TrajectoryPlane, plane_axes, trajectory_plane
from lowrank_asr.landscape.asr import subset_objective
from lowrank_asr.landscape.directions import model_filter_axes, model_weights
from lowrank_asr.landscape.grid import LossGrid, evaluate_grid


@dataclass
class TrajectoryResult:
    plane: TrajectoryPlane
    grid: LossGrid
    eval_loss: float
    subset_ids: list[str]
    seconds: float


def trajectory_landscape(*, model_cfg: dict, vocab_path: str | Path, weights_paths: Sequence[str | Path],
                         data_files: Sequence[str], subset: int, grid: int, margin: float,
                         progress: bool = False) -> TrajectoryResult:
    """The loss on the PCA plane of ``weights_paths`` (epochs in order; the last is the centre)."""
    from lowrank_asr.models.weights import load_weights

    obj = subset_objective(model_cfg=model_cfg, vocab_path=vocab_path, weights_path=weights_paths[-1],
                           data_files=data_files, subset=subset)
    model = obj.model
    epochs = []
    for path in weights_paths:
        load_weights(model, path)
        epochs.append(model_weights(model))
    load_weights(model, weights_paths[-1])  # the centre, with its own batch-norm statistics
    plane = trajectory_plane(epochs, model_filter_axes(model))
    xs, ys = plane_axes(plane.coords, grid, margin)
    eval_loss = float(obj.loss_fn())
    began = time.perf_counter()
    result = evaluate_grid(model, obj.loss_fn, plane.d1, plane.d2, xs, ys, progress=progress)
    return TrajectoryResult(plane, result, eval_loss, obj.subset_ids, time.perf_counter() - began)


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


def interpolations(*, model_cfg: dict, vocab_path: str | Path, weights_paths: Sequence[str | Path],
                   data_files: Sequence[str], subset: int, points: int, span: Sequence[float], per_epoch: int,
                   wer: bool, max_symbols_per_step: int = 5) -> InterpolationResult:
    """Loss (and WER) from θ_init = ``weights_paths[0]`` to θ_final = ``weights_paths[-1]`` at ``points``
    values of t over ``span``, and along the consecutive epochs ``weights_paths[0] → [1] → …``."""
    from lowrank_asr.models.weights import load_weights

    obj = subset_objective(model_cfg=model_cfg, vocab_path=vocab_path, weights_path=weights_paths[-1],
                           data_files=data_files, subset=subset, wer=wer, max_symbols_per_step=max_symbols_per_step)
    model = obj.model
    states = []
    for path in weights_paths:
        load_weights(model, path)
        states.append(model_state(model))
    t = np.linspace(float(span[0]), float(span[1]), int(points))
    loss, metric = evaluate_path(model, obj.loss_fn, states[0], states[-1], t, metric_fn=obj.metric_fn)
    position, segment, seg_t = epoch_path_positions(len(weights_paths) - 1, per_epoch)
    path_loss = np.empty(len(position))
    path_wer = np.empty(len(position)) if wer else None
    for e in np.unique(segment):
        idx = np.flatnonzero(segment == e)
        seg_loss, seg_wer = evaluate_path(model, obj.loss_fn, states[e - 1], states[e], seg_t[idx],
                                          metric_fn=obj.metric_fn)
        path_loss[idx] = seg_loss
        if path_wer is not None:
            path_wer[idx] = seg_wer
    return InterpolationResult(t, loss, metric, position, segment, seg_t, path_loss, path_wer, obj.subset_ids)


@dataclass
class SharpnessResult:
    epochs: list[int]
    loss: list[float] = field(default_factory=list)
    eigenvalue: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    converged: list[bool] = field(default_factory=list)
    relative_change: list[float] = field(default_factory=list)
    trace: list[float] = field(default_factory=list)
    trace_stderr: list[float] = field(default_factory=list)
    hvp_method: str = ""
    hvp_seconds: float = float("nan")
    grad_seconds: float = float("nan")
    subset_ids: list[str] = field(default_factory=list)


def hvp_method_for(model) -> str:
    """Double backprop, except for CTC: TensorFlow's fused CTC kernel blocks second derivatives."""
    return "finite_difference" if getattr(model, "decoder_type", "rnnt") == "ctc" else "double_backprop"


def sharpness(*, model_cfg: dict, vocab_path: str | Path, weights_paths: Sequence[str | Path],
              epochs: Sequence[int], data_files: Sequence[str], subset: int, max_iter: int, tol: float,
              samples: int, seed: int) -> SharpnessResult:
    """Top Hessian eigenvalue (power iteration) and trace (Hutchinson) of the subset loss at each epoch."""
    import tensorflow as tf

    from lowrank_asr.models.weights import load_weights

    obj = subset_objective(model_cfg=model_cfg, vocab_path=vocab_path, weights_path=weights_paths[0],
                           data_files=data_files, subset=subset)
    model = obj.model
    hvp = ModelHVP(model, obj.loss_fn, hvp_method_for(model))
    out = SharpnessResult(epochs=list(epochs), hvp_method=hvp.method, subset_ids=obj.subset_ids)
    variables = list(model.trainable_variables)

    @tf.function
    def gradient():
        with tf.GradientTape() as tape:
            loss = obj.loss_fn()
        return tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    hvp_times, grad_times = [], []
    for path in weights_paths:
        load_weights(model, path)
        out.loss.append(float(obj.loss_fn()))
        count, began = hvp.count, time.perf_counter()
        top = power_iteration(hvp, hvp.dim, max_iter=max_iter, tol=tol, seed=seed)
        trace, err = hutchinson_trace(hvp, hvp.dim, samples=samples, seed=seed)
        hvp_times.append((time.perf_counter() - began) / (hvp.count - count))
        gradient()  # first call traces
        began = time.perf_counter()
        [tf.convert_to_tensor(g).numpy() for g in gradient()]
        grad_times.append(time.perf_counter() - began)
        out.eigenvalue.append(top.eigenvalue)
        out.iterations.append(top.iterations)
        out.converged.append(top.converged)
        out.relative_change.append(top.relative_change)
        out.trace.append(trace)
        out.trace_stderr.append(err)
    # the first epoch's products include tracing: the median over epochs is the steady-state cost
    out.hvp_seconds = float(np.median(hvp_times))
    out.grad_seconds = float(np.median(grad_times))
    return out
