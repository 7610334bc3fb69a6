"""The loss of a trained run over the fixed analysis subset (``data.subset``), featurised once in micro-batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from lowrank_asr.data.subset import subset_micro_batches, subset_utterances
from lowrank_asr.errors import PipelineError
from lowrank_asr.evaluation.transcribe import greedy_wer
from lowrank_asr.models import build_model
from lowrank_asr.trained_run.parts import dense_gradient, open_signature, part_sum, variable_spec
from lowrank_asr.trained_run.run import TrainedRun


@dataclass
class SubsetObjective:
    """A trained model with its fixed analysis subset featurised once, in micro-batches (``parts``).

    ``part_loss(*part)`` is one micro-batch's share of the mean loss (its summed per-utterance loss / N, traced
    once for every shape), so the subset's mean loss is the sum over ``parts``: :meth:`loss_fn` for the
    model's current weights (inference mode); gradients and Hessian-vector products sum per part in the same
    way (:meth:`gradient`, ``geometry.hessian.ModelHVP``), so that one pass never holds more than one
    micro-batch. ``metric_fn()`` is the greedy WER over the same micro-batches (or None). :meth:`loss_fn64`
    recomputes the loss in float64 (needs ``model_cfg``), for points where float32 overflows.
    """

    model: object
    vocab: object
    parts: list[tuple]
    part_loss: Callable
    metric_fn: Callable | None
    subset_ids: list[str]
    model_cfg: dict | None = None
    run: TrainedRun | None = (
        None  # the run the model belongs to: ``run.epochs(paths)`` loads other epochs into it
    )
    _gradient: Callable | None = field(default=None, init=False, repr=False)
    _float64: tuple | None = field(default=None, init=False, repr=False)

    def loss_fn(self) -> float:
        return float(sum(float(self.part_loss(*part)) for part in self.parts))

    @property
    def fallback_loss(self) -> Callable[[], float] | None:
        """:meth:`loss_fn64` where it can run: RNN-T models (TensorFlow's CTC kernels are float32-only)."""
        return self.loss_fn64 if getattr(self.model, "decoder_type", "rnnt") == "rnnt" else None

    def loss_fn64(self) -> float:
        """The mean loss at the model's current weights (all of them, BN statistics included), computed by a
        float64 twin of the model on the same features: built and traced on first use, for the rare points where
        the float32 activations overflow (the twin doubles the model's memory while it exists)."""
        if self.model_cfg is None:
            raise PipelineError("SubsetObjective.loss_fn64: no model_cfg to build the float64 twin from")
        if self._float64 is None:
            previous = keras.config.dtype_policy()
            keras.config.set_dtype_policy("float64")
            try:
                twin = build_model(self.model_cfg, self.vocab.size)
            finally:
                keras.config.set_dtype_policy(previous)
            parts = [
                tuple(tf.cast(t, tf.float64) if t.dtype.is_floating else t for t in part)
                for part in self.parts
            ]
            self._float64 = (twin, parts, part_loss_fn(twin, parts[0], len(self.subset_ids)))
        twin, parts, part_loss = self._float64
        twin.set_weights(self.model.get_weights())
        return float(sum(float(part_loss(*part)) for part in parts))

    def gradient(self) -> list:
        """Gradient of the mean loss for ``model.trainable_variables``, summed one micro-batch at a time."""
        if self._gradient is None:  # traced on first use, once for every micro-batch shape
            variables = list(self.model.trainable_variables)
            self._gradient = part_sum(
                lambda _, *part: dense_gradient(self.part_loss, variables, part),
                variable_spec(variables),
                [],
                self.parts[0],
            )
        return self._gradient([], self.parts)


def featurized_part(model, batch: dict) -> tuple:
    """A micro-batch as the loss takes it: (features, frames, labels, label lengths), featurised once."""
    return (*model.featurize(batch["audio"], batch["audio_len"]), batch["labels"], batch["label_len"])


def part_loss_fn(model, like: Sequence, n: int) -> Callable:
    """``part_loss(*part)``: a micro-batch's share of the mean inference-mode loss over ``n`` utterances, for the
    model's current weights; traced once for every part shaped like ``like`` (any batch size and length)."""

    @tf.function(input_signature=open_signature(like), autograph=False)
    def part_loss(x, x_len, labels, label_len):
        return tf.reduce_sum(
            model.utterance_loss(x, x_len, labels, label_len, training=False, joint_chunk=None)
        ) / float(n)

    return part_loss


def subset_objective(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_path: str | Path,
    data_files: Sequence[str],
    subset: int,
    wer: bool,
    max_symbols_per_step: int | None,
    batch_seconds: float | None,
) -> SubsetObjective:
    """Load ``weights_path`` into the run's model and close the loss (and, with ``wer``, the greedy WER with at
    most ``max_symbols_per_step`` symbols per frame: ``evaluation.max_symbols_per_step``) over the analysis subset.

    ``batch_seconds`` (``evaluation.batch_seconds``): padded audio seconds per pass (None: the whole subset in
    one batch); the subset is the same either way (its first ``subset`` utterances).
    """
    run = TrainedRun(model_cfg, vocab_path)
    model, vocab = run.load(weights_path), run.vocab
    utterances = subset_utterances(data_files, vocab, subset)
    batches = subset_micro_batches(utterances, batch_seconds)
    parts = [featurized_part(model, b) for b in batches]
    part_loss = part_loss_fn(model, parts[0], len(utterances))
    metric_fn = None
    if wer:

        def metric_fn():
            return greedy_wer(model, batches, vocab, max_symbols_per_step=max_symbols_per_step)

    return SubsetObjective(
        model,
        vocab,
        parts,
        part_loss,
        metric_fn,
        [u["utt_id"] for u in utterances],
        model_cfg=model_cfg,
        run=run,
    )
