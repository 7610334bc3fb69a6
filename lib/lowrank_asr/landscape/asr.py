"""The loss landscape of a trained ASR variant: fixed subset, fixed directions, the grid around an epoch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.landscape.directions import model_directions
from lowrank_asr.landscape.evaluate import evaluate_grid
from lowrank_asr.landscape.grid import LossGrid, grid_points, shard_points
from lowrank_asr.trained_run.objective import subset_objective


@dataclass
class EpochLandscape:
    grid: LossGrid
    eval_loss: float
    subset_ids: list[str]


def grid_axis(n: int, span: Sequence[float]) -> np.ndarray:
    return np.linspace(float(span[0]), float(span[1]), int(n))


def epoch_landscape(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_path: str | Path,
    data_files: Sequence[str],
    grid: int,
    span: Sequence[float],
    subset: int,
    seed: int,
    shard: int = 0,
    n_shards: int = 1,
    wer: bool,
    max_symbols_per_step: int | None,
    progress: bool = True,
    batch_seconds: float | None,
) -> EpochLandscape:
    """Mean loss over the subset at w + a·d₁ + b·d₂ for this shard's grid points (one epoch's weights).

    The directions come from `seed` alone (filter-normalised to this epoch's weights), so every epoch of a
    variant is seen along the same random draw; features are computed once, weights are moved in place.
    """
    [result] = variant_landscapes(
        model_cfg=model_cfg,
        vocab_path=vocab_path,
        weights_paths=[weights_path],
        data_files=data_files,
        grid=grid,
        span=span,
        subset=subset,
        seed=seed,
        shard=shard,
        n_shards=n_shards,
        wer=wer,
        max_symbols_per_step=max_symbols_per_step,
        progress=progress,
        batch_seconds=batch_seconds,
    )
    return result


def variant_landscapes(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_paths: Sequence[str | Path],
    data_files: Sequence[str],
    grid: int,
    span: Sequence[float],
    subset: int,
    seed: int,
    shard: int = 0,
    n_shards: int = 1,
    wer: bool,
    max_symbols_per_step: int | None,
    progress: bool = True,
    batch_seconds: float | None,
) -> Iterator[EpochLandscape]:
    """:func:`epoch_landscape` for each of one variant's epochs (``weights_paths``, in order), one at a time.

    TensorFlow, the model, the subset's features and the traced loss are set up once: each epoch's weights are
    loaded into the same variables, which the traced loss reads. The directions are drawn from `seed` and
    filter-normalised to each epoch's own weights, exactly as separate :func:`epoch_landscape` calls do.
    """
    if not weights_paths:
        raise PipelineError("variant_landscapes: no weights files given; pass one per analysed epoch")
    obj = subset_objective(
        model_cfg=model_cfg,
        vocab_path=vocab_path,
        weights_path=weights_paths[0],
        data_files=data_files,
        subset=subset,
        wer=wer,
        max_symbols_per_step=max_symbols_per_step,
        batch_seconds=batch_seconds,
    )
    axis = grid_axis(grid, span)
    points = shard_points(grid_points(len(axis), len(axis)), shard, n_shards)
    for _, model in obj.run.epochs(weights_paths):  # the traced loss reads the loaded variables
        eval_loss = float(obj.loss_fn())
        d1, d2 = model_directions(model, seed)
        result = evaluate_grid(
            model,
            obj.loss_fn,
            d1,
            d2,
            axis,
            axis,
            points,
            metric_fn=obj.metric_fn,
            fallback_fn=obj.fallback_loss,
            progress=progress,
        )
        yield EpochLandscape(result, eval_loss, obj.subset_ids)
