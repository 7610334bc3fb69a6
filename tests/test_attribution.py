"""Integrated gradients: exactness on linear models, completeness on a small conv net, batching, files."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.attribution import (
    AttributionItem,
    frame_attribution,
    frame_summary,
    integrated_gradients,
    read_attributions,
    silence_baseline,
    trapezoid_alphas,
    write_attributions,
    zero_baseline,
)
from lowrank_asr.errors import PipelineError


@pytest.fixture(scope="module")
def conv_f():
    """A small nonlinear conv net on [T, F] input, reduced to one scalar per batch row (like a log-likelihood)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((20, 8)),
        keras.layers.Conv1D(12, 5, padding="same", activation="tanh"),
        keras.layers.Conv1D(12, 3, padding="same", activation="tanh"),
        keras.layers.Dense(5),
    ])

    @tf.function(reduce_retracing=True)
    def f(x):
        logp = tf.nn.log_softmax(model(x, training=False), axis=-1)
        return tf.reduce_sum(logp[:, :, 2], axis=1)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 8)).astype("float32")
    return f, x


def test_trapezoid_weights_sum_to_one():
    alphas, w = trapezoid_alphas(4)
    np.testing.assert_allclose(alphas, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(w, [0.125, 0.25, 0.25, 0.25, 0.125])


def test_linear_model_ig_is_exact():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 3)).astype("float32")
    x = rng.standard_normal((6, 3)).astype("float32")
    base = rng.standard_normal((6, 3)).astype("float32")
    wt = tf.constant(w)

    def f(batch):
        return tf.reduce_sum(batch * wt, axis=[1, 2]) + 0.7

    res = integrated_gradients(f, x, base, steps=3)
    np.testing.assert_allclose(res.attributions, (x - base) * w, rtol=1e-5, atol=1e-6)
    assert res.f_input == pytest.approx(float(np.sum(x * w)) + 0.7, rel=1e-5)
    assert res.f_baseline == pytest.approx(float(np.sum(base * w)) + 0.7, rel=1e-5)
    assert res.completeness_error < 1e-5 and res.steps == 3


def test_completeness_on_conv_net_and_shrinks_with_steps(conv_f):
    f, x = conv_f
    base = zero_baseline(x)
    errors = {m: integrated_gradients(f, x, base, steps=m).completeness_error for m in (4, 16, 64)}
    assert errors[64] <= 0.05
    assert errors[64] < errors[16] < errors[4]
    res = integrated_gradients(f, x, base, steps=64)
    assert res.attributions.shape == x.shape
    assert res.f_input == pytest.approx(float(f(x[None])[0]), rel=1e-5)
    assert res.f_baseline == pytest.approx(float(f(base[None])[0]), rel=1e-5)


def test_batched_equals_unbatched(conv_f):
    f, x = conv_f
    base = zero_baseline(x)
    full = integrated_gradients(f, x, base, steps=32)
    for bs in (1, 7, 16):
        part = integrated_gradients(f, x, base, steps=32, batch_size=bs)
        np.testing.assert_allclose(part.attributions, full.attributions, rtol=1e-4, atol=1e-6)
        assert part.f_input == pytest.approx(full.f_input, rel=1e-6)
        assert part.completeness_error == pytest.approx(full.completeness_error, rel=1e-3, abs=1e-6)


def test_mask_zeroes_padded_frames(conv_f):
    f, x = conv_f
    mask = np.ones((20, 1), dtype="float32")
    mask[15:] = 0
    res = integrated_gradients(f, x, zero_baseline(x), steps=8, mask=mask)
    assert not res.attributions[15:].any() and res.attributions[:15].any()


def test_baselines_and_frame_summary():
    x = np.ones((10, 4), dtype="float32")
    np.testing.assert_array_equal(silence_baseline(x, np.full(4, -5.0)), np.full((10, 4), -5.0))
    feats = silence_baseline(x, featurize=lambda wav: np.full((len(wav) // 160 - 1, 4), -3.0), num_samples=1600)
    assert feats.shape == (10, 4) and (feats == -3).all()  # 9 frames edge-padded to 10
    with pytest.raises(PipelineError):
        silence_baseline(x, np.zeros((10, 3)))
    a = np.array([1.0, -2.0, 3.0, 4.0, -5.0])
    np.testing.assert_allclose(frame_summary(a, hop=2), [-1.0, 7.0, -5.0])
    np.testing.assert_allclose(frame_summary(a, hop=2, signed=False), [3.0, 7.0, 5.0])
    np.testing.assert_allclose(frame_attribution(np.ones((3, 4))), [4, 4, 4])


def test_attribution_file_roundtrip(conv_f, tmp_path):
    f, x = conv_f
    base = zero_baseline(x)
    res = integrated_gradients(f, x, base, steps=8)
    items = [
        AttributionItem.from_result("84-121-0001", x, base, res, "hello world", hypothesis="hello word"),
        {"utt_id": "wave-1", "features": np.zeros(320), "baseline": np.zeros(320), "attributions": np.ones(320),
         "f_input": -1.0, "f_baseline": -2.0, "completeness_error": 0.01, "steps": 8, "transcript": "a"},
    ]
    path = write_attributions(tmp_path / "a" / "epoch_001.h5", items,
                              {"variant": "v", "epoch": 1, "seed": 0, "config_hash": "h"})
    data = read_attributions(path)
    assert data["attrs"]["variant"] == "v" and data["attrs"]["utt_ids"] == ["84-121-0001", "wave-1"]
    first, second = data["items"]
    np.testing.assert_allclose(first["attributions"], res.attributions)
    np.testing.assert_allclose(first["frame_attribution"], res.attributions.sum(axis=1), rtol=1e-5)
    assert first["f_input"] == pytest.approx(res.f_input) and first["hypothesis"] == "hello word"
    assert first["steps"] == 8 and first["transcript"] == "hello world"
    assert second["hypothesis"] is None and second["frame_attribution"] is None and second["features"].shape == (320,)
    with pytest.raises(PipelineError, match="shape"):
        write_attributions(tmp_path / "b.h5", [{**items[1], "baseline": np.zeros(5)}], {})
    assert not (tmp_path / "b.h5").exists()
