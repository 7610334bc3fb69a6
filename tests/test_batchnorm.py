"""MaskedBatchNorm: the numbers, variables and checkpoints of keras.layers.BatchNormalization, a smaller graph."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.models import build_model, contextnet, load_weights, save_weights
from lowrank_asr.models.batchnorm import MaskedBatchNorm

TINY_RNNT = {
    "blocks": [
        {"layers": 1, "channels": 8, "stride": 1, "repeat": 1},
        {"layers": 2, "channels": 16, "stride": 2, "repeat": 1},
    ],
    "embed_dim": 8,
    "pred_units": 16,
    "joint_units": 16,
}


def _pair(policy: str) -> tuple[keras.layers.BatchNormalization, MaskedBatchNorm]:
    """Keras's layer and ours, built on 6 channels with the same (non-trivial) weights and moving statistics."""
    rng = np.random.default_rng(3)
    layers = (keras.layers.BatchNormalization(dtype=policy), MaskedBatchNorm(dtype=policy))
    for layer in layers:
        layer.build((None, None, 6))
    for variable in zip(*(layer.weights for layer in layers), strict=True):
        value = rng.uniform(0.5, 1.5, variable[0].shape).astype("float32")
        for v in variable:
            v.assign(value)
    return layers


def _batch(dtype: str) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(4)
    x = rng.normal(2.0, 3.0, (3, 7, 6)).astype("float32")
    mask = np.arange(7)[None, :] < np.array([7, 4, 2])[:, None]
    x[~mask] = 50.0  # padded frames far off: any leak into the statistics shows
    return tf.constant(x, dtype), tf.constant(mask)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
@pytest.mark.parametrize("training", [True, False])
def test_equals_keras_batchnorm_with_a_mask(policy, training):
    ours_keras, ours = _pair(policy)
    x, mask = _batch("float16" if policy == "mixed_float16" else "float32")
    results = []
    for layer in (ours_keras, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training, mask=mask)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.cast(tf.range(6), tf.float32))
        grads = tape.gradient(loss, [x, *layer.trainable_weights])
        results.append((y, grads, [w.numpy() for w in layer.weights]))
    (y_k, g_k, w_k), (y_o, g_o, w_o) = results
    assert y_o.dtype == y_k.dtype
    # the same float32 ops: equal outputs; gradients differ by float32 rounding, which a float16 input
    # gradient can round up to one float16 step
    np.testing.assert_allclose(
        y_o.numpy().astype("float32"), y_k.numpy().astype("float32"), rtol=1e-6, atol=1e-6
    )
    tol = {"rtol": 1e-3, "atol": 1e-3} if policy == "mixed_float16" else {"rtol": 1e-6, "atol": 1e-6}
    for a, b in zip(g_o, g_k, strict=True):
        np.testing.assert_allclose(a.numpy().astype("float32"), b.numpy().astype("float32"), **tol)
    for a, b in zip(w_o, w_k, strict=True):  # gamma, beta, moving mean, moving variance
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    moved = not np.allclose(w_o[2], _pair(policy)[1].moving_mean.numpy())
    assert moved == training  # training updates the moving statistics, inference does not


def test_padded_frames_do_not_change_the_statistics():
    _, layer = _pair("float32")
    x, mask = _batch("float32")
    layer(x, training=True, mask=mask)
    valid = x.numpy()[mask.numpy()].astype(np.float64)
    start = _pair("float32")[1]
    np.testing.assert_allclose(
        layer.moving_mean.numpy(), 0.99 * start.moving_mean.numpy() + 0.01 * valid.mean(0), rtol=1e-6
    )
    np.testing.assert_allclose(
        layer.moving_variance.numpy(), 0.99 * start.moving_variance.numpy() + 0.01 * valid.var(0), rtol=1e-6
    )


class KerasBatchNorm(keras.layers.BatchNormalization):
    """Keras's own layer, given the mask as the encoder gave it before MaskedBatchNorm: [B, T] bool."""

    def call(self, inputs, training=None, weight=None):
        return super().call(inputs, training=training, mask=tf.squeeze(weight, -1) > 0)


def test_checkpoints_of_the_keras_layer_load(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:  # the encoder as it was before this layer
        patch.setattr(contextnet, "MaskedBatchNorm", KerasBatchNorm)
        keras.utils.set_random_seed(1)
        old = build_model(TINY_RNNT, 29)
        old.build_all()
    rng = np.random.default_rng(0)
    for w in old.weights:  # moving statistics too, so that loading them is checked
        w.assign(rng.normal(1.0, 0.1, w.shape).astype(w.dtype))
    save_weights(old, tmp_path / "old.weights.h5")
    keras.utils.set_random_seed(2)
    new = build_model(TINY_RNNT, 29)
    load_weights(new, tmp_path / "old.weights.h5")
    bn = [layer for layer in new._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    # one per conv layer (3) and the residual of the two-layer block
    assert len(bn) == 4 and all(isinstance(layer, MaskedBatchNorm) for layer in bn)
    for a, b in zip(old.weights, new.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    audio = tf.constant(np.random.default_rng(1).normal(0, 0.1, (2, 8000)).astype("float32"))
    lengths = tf.constant([8000, 5000])
    for training in (False, True):
        np.testing.assert_allclose(
            new.encode(*new.featurize(audio, lengths), training=training)[0].numpy(),
            old.encode(*old.featurize(audio, lengths), training=training)[0].numpy(),
            rtol=1e-5,
            atol=1e-5,
        )
