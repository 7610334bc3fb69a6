"""Keras Adam in one fused op per variable: the traced training step builds and optimises faster.

``keras.optimizers.Adam.update_step`` recomputes the step's scalars (learning rate cast, step count, both
β powers, the bias-corrected step size α) for every variable and updates m, v and the weight with ~20 graph
ops, each through Keras' op dispatch: with the 594 variables of ContextNet-S, Keras Adam was ~25 000 of the
training step's ~60 700 graph nodes, and the first step of every job (and every resume) paid their tracing and
Grappler's optimisation. ``Adam`` computes the β powers once per step and updates each variable with
TensorFlow's ``ResourceApplyAdam`` kernel, which evaluates Keras' expressions in Keras' order
(m += (g - m)·(1 - β₁), v += (g² - v)·(1 - β₂), w -= m·α / (√v + ε), α = lr·√(1 - β₂ᵗ) / (1 - β₁ᵗ)).
One difference: the kernel forms 1 - β in float32, Keras in float64 before rounding (1 - 0.9f = 0.100000024
against 0.1f), so the weights are bit-identical to Keras Adam given ``beta_1=float(np.float32(0.9))`` (and so for
β₂), within rounding of Keras Adam given 0.9 (tests/test_training.py). Its variables, configuration and
checkpoints are Keras Adam's own. Measured in docs/performance.md, "First call of a job".
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
        return (
            lr,
            beta_1_power,
            beta_2_power,
            tf.constant(self.beta_1, dtype),
            tf.constant(self.beta_2, dtype),
            tf.constant(self.epsilon, dtype),
        )

    def _update_variable(self, gradient, variable, scalars) -> None:
        lr, beta_1_power, beta_2_power, beta_1, beta_2, epsilon = scalars
        gradient = tf.cast(tf.convert_to_tensor(gradient), variable.dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=beta_1_power,
            beta2_power=beta_2_power,
            lr=lr,
            beta1=beta_1,
            beta2=beta_2,
            epsilon=epsilon,
            grad=gradient,
        )
