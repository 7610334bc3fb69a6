"""Precise batch norm: moving statistics recomputed from fixed training batches before an epoch is saved.

Keras's BatchNormalization keeps an exponential moving average (momentum 0.99) of batch statistics, which
after a few hundred steps still carries much of its initial (0, 1) values: every inference-mode use of an early
epoch would see a mis-normalised net. Before each epoch's weights are written, ``PreciseBatchNorm`` replaces
every BN layer's moving mean and variance with exact statistics over ``training.precise_bn_batches`` batches.

Choices (see docs/training.md, "Precise batch norm"):
- The pass normalises with batch statistics (as training does), so layer l sees the inputs it saw in training;
  trainable weights and the model's random streams are left untouched.
- No SpecAugment and no dropout: the statistics serve inference, where neither is applied, so they are
  computed on the features and activations inference sees.
- Pooled statistics over all valid frames of the batches (mean = Σx / N, variance = Σ(x - mean)² / N): the
  BN layers of this model compute their batch moments over valid frames only (the padding mask), each frame
  weighing the same; pooling keeps that weighting, so the result is what one BN batch made of all the batches'
  frames would compute, independent of how bucketing split the frames into batches. Accumulated in float64.

The post-hoc compression sweep (compression/sweep.py) re-estimates BN the same way after truncating
weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import keras
import tensorflow as tf

from lowrank_asr.errors import PipelineError
from lowrank_asr.models.batchnorm import frame_weight


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of the model, at any depth."""
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


class PreciseBatchNorm:
    """Recomputes the moving statistics of every BN layer of an ASRModel from given batches."""

    def __init__(self, model, element_spec=None):
        """``element_spec``: the batches' structure (one trace); None traces per new batch shape instead."""
        self.model = model
        self.layers = batchnorm_layers(model)
        shapes = [tuple(layer.moving_mean.shape) for layer in self.layers]
        self.count = [tf.Variable(0.0, dtype=tf.float64, trainable=False) for _ in shapes]
        self.sum = [tf.Variable(tf.zeros(s, tf.float64), trainable=False) for s in shapes]
        self.sum_sq = [tf.Variable(tf.zeros(s, tf.float64), trainable=False) for s in shapes]
        self._step = (
            tf.function(self._accumulate, reduce_retracing=True, autograph=False)
            if element_spec is None
            else tf.function(self._accumulate, input_signature=[element_spec], autograph=False)
        )

    def _accumulate(self, batch: dict) -> None:
        x, x_len = self.model.featurize(batch["audio"], batch["audio_len"])
        # inference mode for SpecAugment and dropout; the recording BN layers use batch statistics regardless
        self.model.encode(x, x_len, training=False)

    def _recorder(self, index: int, original: Callable) -> Callable:
        def call(inputs, training=None, mask=None, **kwargs):
            """``kwargs``: MaskedBatchNorm's ``weight`` (the valid frames, [..., 1]) where the caller passes it."""
            x = tf.cast(inputs, tf.float64)
            frames = frame_weight(mask, kwargs.get("weight"))
            frames = tf.ones_like(x[..., :1]) if frames is None else tf.cast(frames, tf.float64)
            axes = list(range(len(x.shape) - 1))
            self.count[index].assign_add(tf.reduce_sum(frames))
            self.sum[index].assign_add(tf.reduce_sum(x * frames, axis=axes))
            self.sum_sq[index].assign_add(tf.reduce_sum(tf.square(x) * frames, axis=axes))
            # its moving-average update is overwritten below
            return original(inputs, training=True, mask=mask, **kwargs)

        return call

    @contextlib.contextmanager
    def _recording(self) -> Iterator[None]:
        """Route each BN layer's call through its recorder (only traced once; Python-level, so cheap)."""
        for index, layer in enumerate(self.layers):
            layer.call = self._recorder(index, type(layer).call.__get__(layer))
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.call

    def recompute(self, batches: Iterable[dict]) -> int:
        """Set every BN layer's moving mean/variance to the pooled statistics of ``batches``; returns their count."""
        for variables in (self.count, self.sum, self.sum_sq):
            for var in variables:
                var.assign(tf.zeros_like(var))
        seen = 0
        with self._recording():
            for batch in batches:
                self._step(batch)
                seen += 1
        if seen == 0:
            raise PipelineError("precise batch norm got no batch: is the training split empty?")
        for layer, count, total, total_sq in zip(self.layers, self.count, self.sum, self.sum_sq, strict=True):
            n = float(count.numpy())
            if n == 0:
                raise RuntimeError(
                    f"batch-norm layer {layer.path} saw no frame in the precise-BN pass; it is "
                    "outside the encoder, which this pass runs"
                )
            mean = total / n
            variance = tf.maximum(total_sq / n - tf.square(mean), 0.0)
            layer.moving_mean.assign(tf.cast(mean, layer.moving_mean.dtype))
            layer.moving_variance.assign(tf.cast(variance, layer.moving_variance.dtype))
        return seen
