"""SpecAugment (Park et al. 2019) with adaptive time masks, from stateless TF random ops.

For an utterance with T valid frames and F channels:
- ``freq_masks`` frequency masks, each of width f ~ U{0..min(freq_width, F)}, start ~ U{0..F - f};
- ``min(time_masks, ceil(TIME_MULTIPLICITY · T))`` time masks (adaptive multiplicity p_M = 0.04 from
  "SpecAugment on large scale datasets", Park et al. 2020), each of width t ~ U{0..floor(time_ratio · T)}
  (size ratio p_S = ``time_ratio``) and start ~ U{0..T - t}; masks only touch valid frames.
Masked values are set to 0, the per-utterance mean of normalised features. Given the same ``seed`` (a
[2] int tensor) the masks are identical, so training is deterministic; ``SpecAugment`` draws a new seed per
call from a ``keras.random.SeedGenerator`` (seeded by ``keras.utils.set_random_seed``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

TIME_MULTIPLICITY = 0.04


def _uniform_int(shape: tf.Tensor, seed: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
    """Integers uniform in [0, high] (inclusive, elementwise; high broadcast to shape)."""
    u = tf.random.stateless_uniform(shape, seed=seed)
    high = tf.cast(high, tf.float32)
    return tf.cast(tf.minimum(tf.floor(u * (high + 1.0)), high), tf.int32)


def spec_augment(
    x: tf.Tensor,
    x_len: tf.Tensor,
    seed: tf.Tensor,
    *,
    freq_masks: int,
    freq_width: int,
    time_masks: int,
    time_ratio: float,
) -> tf.Tensor:
    """Masked copy of features ``x`` [B, T, F] with valid lengths ``x_len`` [B]."""
    seed = tf.cast(seed, tf.int32)
    shape = tf.shape(x)
    batch, frames, bins = shape[0], shape[1], shape[2]
    keep = tf.ones_like(x[:, :, 0:1]) * tf.ones_like(x[:, 0:1, :])  # [B, T, F]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    if freq_masks > 0:
        width = _uniform_int([batch, freq_masks], seeds[0], tf.minimum(freq_width, bins))
        start = _uniform_int([batch, freq_masks], seeds[1], bins - width)
        f = tf.range(bins)[None, None, :]
        hit = (f >= start[:, :, None]) & (f < (start + width)[:, :, None])  # [B, M, F]
        keep *= 1.0 - tf.cast(tf.reduce_any(hit, axis=1), x.dtype)[:, None, :]
    if time_masks > 0:
        length = tf.cast(x_len, tf.float32)
        count = tf.minimum(tf.cast(tf.math.ceil(TIME_MULTIPLICITY * length), tf.int32), time_masks)
        max_width = tf.cast(tf.floor(time_ratio * length), tf.int32)
        width = _uniform_int(
            [batch, time_masks], seeds[2], tf.broadcast_to(max_width[:, None], [batch, time_masks])
        )
        start = _uniform_int([batch, time_masks], seeds[3], x_len[:, None] - width)
        active = tf.range(time_masks)[None, :] < count[:, None]  # [B, M]
        t = tf.range(frames)[None, None, :]
        hit = (t >= start[:, :, None]) & (t < (start + width)[:, :, None]) & active[:, :, None]
        keep *= 1.0 - tf.cast(tf.reduce_any(hit, axis=1), x.dtype)[:, :, None]
    return x * keep


class SpecAugment(keras.layers.Layer):
    """SpecAugment as a layer: active only with ``training=True``; a fresh stateless seed per call."""

    def __init__(
        self,
        freq_masks: int,
        freq_width: int,
        time_masks: int,
        time_ratio: float,
        enabled: bool,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.enabled = enabled
        self.params = {
            "freq_masks": freq_masks,
            "freq_width": freq_width,
            "time_masks": time_masks,
            "time_ratio": time_ratio,
        }
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, *args, **kwargs):  # no weights; avoids Keras tracing call() to build
        self.built = True

    def call(self, x: tf.Tensor, x_len: tf.Tensor, training: bool = False) -> tf.Tensor:
        if not (training and self.enabled):
            return x
        return spec_augment(x, x_len, self.seed_generator.next(), **self.params)
