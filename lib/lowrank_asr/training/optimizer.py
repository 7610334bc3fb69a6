"""Keras Adam with the same arithmetic in fewer graph ops: the traced training step builds faster.

``keras.optimizers.Adam.update_step`` recomputes the step's scalars (learning rate cast, step count, both
β powers, the bias-corrected step size α) for every variable, each through Keras' op dispatch. With the
594 variables of ContextNet-S, Adam was ~25 000 of the training step's ~60 700 graph nodes and ~35 % of its
Python tracing time, which the first step of every job (and every resume) pays, and Grappler then spent
seconds merging the copies again. ``Adam`` computes the scalars once per step and updates each variable with
plain TensorFlow ops in the order Keras uses, so every value is bit-identical to Keras' Adam
(tests/test_training.py checks the weights and slots after several steps). Measured: ~50 000 nodes, Adam's
tracing 17 -> 11 s, the first step's CPU time -10 % (README, "First call of a job"). Its variables,
configuration and checkpoints are Keras Adam's own.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class Adam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (without amsgrad, which falls back to Keras' own update) for the TensorFlow
    backend, with the per-step scalars shared by all variables."""

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        if self.amsgrad:
            return super()._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)
        shared: dict = {}  # dtype -> (alpha, 1 - beta_1, 1 - beta_2): one set per step, not per variable

        def apply(var, grad):
            if var.dtype not in shared:
                shared[var.dtype] = self._step_scalars(learning_rate, var.dtype)
            self._update_variable(grad, var, shared[var.dtype])

        for grad, var in grads_and_vars:
            distribution.extended.update(var, apply, args=(grad,), group=False)
        return None

    def _step_scalars(self, learning_rate, dtype):
        # the expressions of keras.optimizers.Adam.update_step, evaluated once
        lr = tf.cast(learning_rate, dtype)
        local_step = tf.cast(self.iterations.value + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), local_step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), local_step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        return alpha, tf.constant(1 - self.beta_1, dtype), tf.constant(1 - self.beta_2, dtype)

    def _update_variable(self, gradient, variable, scalars) -> None:
        alpha, one_minus_beta_1, one_minus_beta_2 = scalars
        gradient = tf.cast(tf.convert_to_tensor(gradient), variable.dtype)
        index = self._get_variable_index(variable)
        m = self._momentums[index].value
        v = self._velocities[index].value
        m.assign_add((gradient - m) * one_minus_beta_1)
        v.assign_add((tf.square(gradient) - v) * one_minus_beta_2)
        # automatic control dependencies order these reads after the assignments above
        variable.assign_sub((m * alpha) / (tf.sqrt(v) + tf.constant(self.epsilon, variable.dtype)))
