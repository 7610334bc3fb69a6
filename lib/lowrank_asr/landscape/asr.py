"""The loss landscape of a trained ASR variant: fixed subset, fixed directions, the grid around an epoch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.landscape.directions import model_directions
from lowrank_asr.landscape.grid import LossGrid, evaluate_grid, grid_points, shard_points


@dataclass
class EpochLandscape:
    grid: LossGrid
    eval_loss: float
    subset_ids: list[str]


def grid_axis(n: int, span: Sequence[float]) -> np.ndarray:
    return np.linspace(float(span[0]), float(span[1]), int(n))


@dataclass
class SubsetObjective:
    """A trained model with its fixed analysis subset featurised once: ``loss_fn()`` is the mean loss over the
    subset for the model's current weights (inference mode), ``metric_fn()`` the greedy WER (or None)."""

    model: object
    vocab: object
    loss_fn: Callable
    metric_fn: Callable | None
    subset_ids: list[str]


def subset_loss_fn(model, batch: dict) -> Callable:
    """The traced mean inference-mode loss of ``model``'s current weights over ``batch`` (featurised once)."""
    import tensorflow as tf

    x, x_len = model.featurize(batch["audio"], batch["audio_len"])
    labels, label_len = batch["labels"], batch["label_len"]

    @tf.function
    def loss_fn():
        return tf.reduce_mean(model.utterance_loss(x, x_len, labels, label_len, training=False))

    return loss_fn


def subset_objective(*, model_cfg: dict, vocab_path: str | Path, weights_path: str | Path,
                     data_files: Sequence[str], subset: int, wer: bool = False,
                     max_symbols_per_step: int = 5) -> SubsetObjective:
    """Load ``weights_path`` into the variant's model and close the loss (and WER) over the fixed subset."""
    from lowrank_asr.data.subset import fixed_subset, utt_ids
    from lowrank_asr.models.trained import load_trained

    model, vocab = load_trained(model_cfg, vocab_path, weights_path)
    batch = fixed_subset(data_files, vocab, subset)
    loss_fn = subset_loss_fn(model, batch)
    metric_fn = None
    if wer:
        from lowrank_asr.evaluation.transcribe import greedy_wer

        def metric_fn():
            return greedy_wer(model, [batch], vocab, max_symbols_per_step=max_symbols_per_step)

    return SubsetObjective(model, vocab, loss_fn, metric_fn, utt_ids(batch))


def epoch_landscape(*, model_cfg: dict, vocab_path: str | Path, weights_path: str | Path,
                    data_files: Sequence[str], grid: int, span: Sequence[float], subset: int, seed: int,
                    shard: int = 0, n_shards: int = 1, wer: bool = False, max_symbols_per_step: int = 5,
                    progress: bool = True) -> EpochLandscape:
    """Mean loss over the subset at w + a·d₁ + b·d₂ for this shard's grid points (one epoch's weights).

    The directions come from `seed` alone (filter-normalised to this epoch's weights), so every epoch of a
    variant is seen along the same random draw; features are computed once, weights are moved in place.
    """
    [result] = variant_landscapes(model_cfg=model_cfg, vocab_path=vocab_path, weights_paths=[weights_path],
                                  data_files=data_files, grid=grid, span=span, subset=subset, seed=seed,
                                  shard=shard, n_shards=n_shards, wer=wer,
                                  max_symbols_per_step=max_symbols_per_step, progress=progress)
    return result


def variant_landscapes(*, model_cfg: dict, vocab_path: str | Path, weights_paths: Sequence[str | Path],
                       data_files: Sequence[str], grid: int, span: Sequence[float], subset: int, seed: int,
                       shard: int = 0, n_shards: int = 1, wer: bool = False, max_symbols_per_step: int = 5,
                       progress: bool = True) -> Iterator[EpochLandscape]:
    """:func:`epoch_landscape` for each of one variant's epochs (``weights_paths``, in order), one at a time.

    TensorFlow, the model, the subset's features and the traced loss are set up once: each epoch's weights are
    loaded into the same variables, which the traced loss reads. The directions are drawn from `seed` and
    filter-normalised to each epoch's own weights, exactly as separate :func:`epoch_landscape` calls do.
    """
    from lowrank_asr.models.weights import load_weights

    if not weights_paths:
        raise PipelineError("variant_landscapes: no weights files given; pass one per analysed epoch")
    obj = subset_objective(model_cfg=model_cfg, vocab_path=vocab_path, weights_path=weights_paths[0],
                           data_files=data_files, subset=subset, wer=wer, max_symbols_per_step=max_symbols_per_step)
    axis = grid_axis(grid, span)
    points = shard_points(grid_points(len(axis), len(axis)), shard, n_shards)
    for i, weights_path in enumerate(weights_paths):
        if i:  # assign into the built model's variables: the traced loss_fn sees the new values
            load_weights(obj.model, weights_path)
        eval_loss = float(obj.loss_fn())
        d1, d2 = model_directions(obj.model, seed)
        result = evaluate_grid(obj.model, obj.loss_fn, d1, d2, axis, axis, points, metric_fn=obj.metric_fn,
                               progress=progress)
        yield EpochLandscape(result, eval_loss, obj.subset_ids)
