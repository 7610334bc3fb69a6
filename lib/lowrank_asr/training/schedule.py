"""Learning-rate schedules: the transformer schedule (warm-up, then 1/√step decay) used by ContextNet."""

from __future__ import annotations

import keras
import tensorflow as tf


class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = peak · min(step / warmup, √(warmup / step)).

    The same shape as Vaswani et al.'s d_model^-0.5 · min(step^-0.5, step · warmup^-1.5), scaled so that its
    maximum, reached at step = warmup, is `peak` (the group's code capped it at 0.05 / √d_model).
    """

    def __init__(self, peak: float, warmup_steps: int):
        super().__init__()
        self.peak = float(peak)
        self.warmup_steps = max(int(warmup_steps), 1)

    def __call__(self, step):
        step = tf.cast(step, tf.float32) + 1.0  # Keras counts iterations from 0
        warmup = tf.cast(self.warmup_steps, tf.float32)
        return self.peak * tf.minimum(step / warmup, tf.sqrt(warmup / step))

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


def default_peak(d_model: int) -> float:
    """The group's peak learning rate: 0.05 / √d_model."""
    return 0.05 / d_model**0.5


def make_schedule(spec: dict, d_model: int):
    """A schedule from the config's complete `training.learning_rate` mapping (`peak: null`: `default_peak`)."""
    peak = default_peak(d_model) if spec["peak"] is None else spec["peak"]
    if spec["schedule"] == "constant":
        return peak
    return TransformerSchedule(peak, spec["warmup_steps"])
