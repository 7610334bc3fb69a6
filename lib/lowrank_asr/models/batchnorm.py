"""Masked batch norm with a small graph: Keras's BatchNormalization, its masked ``call`` in a handful of ops.

Keras 3's masked moments broadcast the mask to the input's shape, select with ``where`` twice and squeeze; with
Keras's layer machinery that came to ~118 graph nodes per layer, ~115 layers in ContextNet-S, in the forward
graph and again in its gradient (issue 11: tracing and Grappler time of a job's first step). This layer computes
the same numbers with a [B, T, 1] weight instead: mean = Σ x·m / (Σ m + ε_K), variance = Σ ((x - mean)·m)² /
(Σ m + ε_K) (biased, ε_K = keras.config.epsilon(), as Keras), moving = moving·momentum + batch·(1 - momentum),
inference with the moving statistics, moments and normalisation in float32 under mixed precision.

A subclass with the same variables (names, order), so checkpoints of the Keras layer load, and code that
finds BN layers by ``isinstance(layer, keras.layers.BatchNormalization)`` (precise BN, compression) keeps
working. Only what this model uses is lean: channels last, no renorm, no synchronisation; anything else goes
to Keras's own ``call``.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def frame_weight(mask: tf.Tensor | None = None, weight: tf.Tensor | None = None) -> tf.Tensor | None:
    """The valid frames as a [..., 1] 0/1 weight, from a float ``weight`` of that shape or Keras's bool ``mask``
    [...]; None if neither is given (every frame counts)."""
    if weight is not None:
        return weight
    return None if mask is None else tf.expand_dims(mask, -1)


class MaskedBatchNorm(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` over the last axis whose ``call`` builds a small graph."""

    def call(self, inputs, training=None, mask=None, weight=None):
        """``weight``: the mask as a [..., 1] 0/1 float tensor instead of ``mask`` ([...] bool), where the caller
        has it (the encoder builds one per frame rate, not one per layer)."""
        if self.renorm or self.synchronized or self.axis not in (-1, len(inputs.shape) - 1):
            if mask is None and weight is not None:
                mask = tf.squeeze(weight, -1) > 0
            return super().call(inputs, training=training, mask=mask)
        compute_dtype = tf.float64 if inputs.dtype == tf.float64 else tf.float32  # Keras: result_type(x, f32)
        x = tf.cast(inputs, compute_dtype)
        gamma = tf.cast(self.gamma, compute_dtype) if self.scale else None
        beta = tf.cast(self.beta, compute_dtype) if self.center else None
        if training and self.trainable:
            weight = frame_weight(mask, weight)
            if weight is None:
                mean, variance = self._moments(x, None)  # Keras's unmasked moments
                outputs = tf.nn.batch_normalization(x, mean, variance, beta, gamma, self.epsilon)
            else:
                outputs, mean, variance = self._masked_training(
                    x, tf.cast(weight, compute_dtype), gamma, beta
                )
            momentum = self.momentum
            moving_mean = tf.cast(self.moving_mean, compute_dtype)
            moving_variance = tf.cast(self.moving_variance, compute_dtype)
            self.moving_mean.assign(moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(moving_variance * momentum + variance * (1.0 - momentum))
        else:
            mean = tf.cast(self.moving_mean, compute_dtype)
            variance = tf.cast(self.moving_variance, compute_dtype)
            outputs = tf.nn.batch_normalization(x, mean, variance, beta, gamma, self.epsilon)
        return tf.cast(outputs, self.compute_dtype)

    def _masked_training(self, x: tf.Tensor, weight: tf.Tensor, gamma, beta):
        """Normalised ``x`` and the per-channel mean and biased variance over the frames where ``weight``
        ([..., 1], 0/1) is 1, with a closed-form gradient (autodiff of these ops made ~85 nodes per layer)."""
        axes = list(range(len(x.shape) - 1))
        epsilon = self.epsilon
        scale = tf.ones_like(x[0, 0]) if gamma is None else gamma
        offset = tf.zeros_like(scale) if beta is None else beta

        # the statistics outside the custom gradient: it differentiates through them in closed form, and as
        # outputs of it they would get (zero) gradients from the moving-average update, ~10 more nodes a layer
        count = tf.reduce_sum(weight) + keras.config.epsilon()
        mean = tf.reduce_sum(x * weight, axes) / count
        centered = (x - mean) * weight
        variance = tf.reduce_sum(tf.square(centered), axes) / count

        @tf.custom_gradient
        def normalize(x, scale, offset):
            def grad(dy):
                # y = (x - μ)·r·γ + β, r = (σ² + ε)^-½, μ = Σ x·m / N, σ² = Σ ((x - μ)·m)² / N
                r = tf.math.rsqrt(variance + epsilon)
                d_offset = tf.reduce_sum(dy, axes)
                d_scale = tf.reduce_sum(dy * (x - mean), axes) * r
                d_variance = -0.5 * scale * r * r * d_scale
                # ∂σ²/∂μ = -2 Σ (x - μ)·m / N: zero but for Keras's ε in N; kept to match autodiff
                d_mean = -scale * r * d_offset - 2.0 * d_variance * tf.reduce_sum(centered, axes) / count
                dx = dy * (scale * r) + (d_mean + 2.0 * d_variance * centered) * (weight / count)
                return dx, d_scale, d_offset

            return tf.nn.batch_normalization(x, mean, variance, offset, scale, epsilon), grad

        return normalize(x, scale, offset), mean, variance
