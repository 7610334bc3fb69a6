"""Integrated gradients: exactness on linear models, completeness on a small conv net, batching, baselines
on a tiny ASR model, files."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from scipy.ndimage import gaussian_filter

from lowrank_asr.attribution.asr import attributed_input, utterance_attribution
from lowrank_asr.attribution.baselines import (
    BASELINES,
    blur_baseline,
    make_baseline,
    mean_baseline,
    silence_baseline,
)
from lowrank_asr.attribution.integrated_gradients import (
    integrated_gradients,
    trapezoid_alphas,
    with_input_gradient,
)
from lowrank_asr.attribution.io import AttributionItem, read_attributions, write_attributions
from lowrank_asr.attribution.result import frame_attribution, frame_summary
from lowrank_asr.errors import PipelineError
from lowrank_asr.features.logmel import LOG_EPS
from lowrank_asr.hdf5 import provenance
from lowrank_asr.models import build_model

TINY = [
    {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
    {"layers": 2, "channels": 16, "stride": 2, "repeat": 1},
    {"layers": 1, "channels": 24, "stride": 1, "repeat": 1},
]
TINY_ASR = {
    "blocks": TINY,
    "embed_dim": 8,
    "pred_units": 16,
    "joint_units": 16,
    "features": {"num_mel_bins": 24},
}
CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())[
    "attribution"
]


def zeros(x):
    return np.zeros_like(x)


@pytest.fixture(scope="module")
def conv_f():
    """A small nonlinear conv net on [T, F] input, reduced to one scalar per batch row (like a log-likelihood)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20, 8)),
            keras.layers.Conv1D(12, 5, padding="same", activation="tanh"),
            keras.layers.Conv1D(12, 3, padding="same", activation="tanh"),
            keras.layers.Dense(5),
        ]
    )

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
    alphas, w = trapezoid_alphas(7, "geometric")
    np.testing.assert_allclose(alphas, [0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1])
    assert w.sum() == pytest.approx(1.0) and w[0] == pytest.approx(5e-7) and w[-1] == pytest.approx(0.45)
    with pytest.raises(PipelineError, match="spacing"):
        trapezoid_alphas(4, "log")


def test_linear_model_ig_is_exact():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 3)).astype("float32")
    x = rng.standard_normal((6, 3)).astype("float32")
    base = rng.standard_normal((6, 3)).astype("float32")
    wt = tf.constant(w)

    def f(batch):
        return tf.reduce_sum(batch * wt, axis=[1, 2]) + 0.7

    res = integrated_gradients(with_input_gradient(f), x, base, steps=3)
    np.testing.assert_allclose(res.attributions, (x - base) * w, rtol=1e-5, atol=1e-6)
    assert res.f_input == pytest.approx(float(np.sum(x * w)) + 0.7, rel=1e-5)
    assert res.f_baseline == pytest.approx(float(np.sum(base * w)) + 0.7, rel=1e-5)
    assert res.completeness_error < 1e-5 and res.steps == 3


def test_completeness_on_conv_net_and_shrinks_with_steps(conv_f):
    f, x = conv_f
    base = zeros(x)
    errors = {
        m: integrated_gradients(with_input_gradient(f), x, base, steps=m).completeness_error
        for m in (4, 16, 64)
    }
    assert errors[64] <= 0.05
    assert errors[64] < errors[16] < errors[4]
    res = integrated_gradients(with_input_gradient(f), x, base, steps=64)
    assert res.attributions.shape == x.shape
    assert res.f_input == pytest.approx(float(f(x[None])[0]), rel=1e-5)
    assert res.f_baseline == pytest.approx(float(f(base[None])[0]), rel=1e-5)


def test_the_gradient_taken_inside_a_traced_function_gives_the_same_result(conv_f):
    f, x = conv_f
    base = zeros(x)
    taped = integrated_gradients(with_input_gradient(f), x, base, steps=16, batch_size=5)
    inside = integrated_gradients(tf.function(with_input_gradient(f)), x, base, steps=16, batch_size=5)
    np.testing.assert_allclose(inside.attributions, taped.attributions, rtol=1e-5, atol=1e-7)
    assert inside.f_input == pytest.approx(taped.f_input, rel=1e-6)
    assert inside.completeness_error == pytest.approx(taped.completeness_error, rel=1e-4, abs=1e-7)


def test_batched_equals_unbatched(conv_f):
    f, x = conv_f
    base = zeros(x)
    full = integrated_gradients(with_input_gradient(f), x, base, steps=32)
    for bs in (1, 7, 16):
        part = integrated_gradients(with_input_gradient(f), x, base, steps=32, batch_size=bs)
        np.testing.assert_allclose(part.attributions, full.attributions, rtol=1e-4, atol=1e-6)
        assert part.f_input == pytest.approx(full.f_input, rel=1e-6)
        assert part.completeness_error == pytest.approx(full.completeness_error, rel=1e-3, abs=1e-6)


def test_mask_zeroes_padded_frames(conv_f):
    f, x = conv_f
    mask = np.ones((20, 1), dtype="float32")
    mask[15:] = 0
    res = integrated_gradients(with_input_gradient(f), x, zeros(x), steps=8, mask=mask)
    assert not res.attributions[15:].any() and res.attributions[:15].any()


def test_baselines_and_frame_summary():
    rng = np.random.default_rng(3)
    feats = rng.standard_normal((30, 6)).astype("float32") + np.arange(6)
    np.testing.assert_allclose(
        mean_baseline(feats), np.broadcast_to(feats.mean(axis=0), feats.shape), rtol=1e-6
    )
    blurred = blur_baseline(feats, (3, 1))
    np.testing.assert_allclose(
        blurred, gaussian_filter(feats.astype(float), (3, 1), mode="nearest"), rtol=1e-5
    )
    assert blurred.std(axis=0).mean() < feats.std(axis=0).mean()  # detail removed, envelope kept
    wave = rng.standard_normal(800).astype("float32")
    assert blur_baseline(wave, (2, 4), samples_per_frame=10).std() < 0.2 * wave.std()  # 20-sample Gaussian
    for bad in ("zero", "noise"):
        with pytest.raises(PipelineError, match="silence"):
            make_baseline(bad, feats, silence=feats, sigma=(1.0, 1.0))
    with pytest.raises(PipelineError, match="blur_sigma"):
        blur_baseline(feats, (0, 0))
    x = np.ones((10, 4), dtype="float32")
    np.testing.assert_array_equal(silence_baseline(x, np.full(4, -5.0)), np.full((10, 4), -5.0))
    feats = silence_baseline(
        x, featurize=lambda wav: np.full((len(wav) // 160 - 1, 4), -3.0), num_samples=1600
    )
    assert feats.shape == (10, 4) and (feats == -3).all()  # 9 frames edge-padded to 10
    with pytest.raises(PipelineError):
        silence_baseline(x, np.zeros((10, 3)))
    a = np.array([1.0, -2.0, 3.0, 4.0, -5.0])
    np.testing.assert_allclose(frame_summary(a, hop=2), [-1.0, 7.0, -5.0])
    np.testing.assert_allclose(frame_summary(a, hop=2, signed=False), [3.0, 7.0, 5.0])
    np.testing.assert_allclose(frame_attribution(np.ones((3, 4))), [4, 4, 4])


def test_attribution_file_roundtrip(conv_f, tmp_path):
    f, x = conv_f
    base = zeros(x)
    res = integrated_gradients(with_input_gradient(f), x, base, steps=8)
    items = [
        AttributionItem.from_result("84-121-0001", x, base, res, "hello world", hypothesis="hello word"),
        {
            "utt_id": "wave-1",
            "features": np.zeros(320),
            "baseline": np.zeros(320),
            "attributions": np.ones(320),
            "f_input": -1.0,
            "f_baseline": -2.0,
            "completeness_error": 0.01,
            "steps": 8,
            "transcript": "a",
        },
    ]
    path = write_attributions(
        tmp_path / "a" / "epoch_001.h5",
        items,
        provenance(seed=3, config={"a": 1}, code="c0de", variant="v", epoch=1),
    )
    data = read_attributions(path)
    assert data["attrs"]["variant"] == "v" and data["attrs"]["utt_ids"] == ["84-121-0001", "wave-1"]
    first, second = data["items"]
    np.testing.assert_allclose(first["attributions"], res.attributions)
    np.testing.assert_allclose(first["frame_attribution"], res.attributions.sum(axis=1), rtol=1e-5)
    assert first["f_input"] == pytest.approx(res.f_input) and first["hypothesis"] == "hello word"
    assert first["steps"] == 8 and first["transcript"] == "hello world"
    assert (
        second["hypothesis"] is None
        and second["frame_attribution"] is None
        and second["features"].shape == (320,)
    )
    with pytest.raises(PipelineError, match="shape"):
        write_attributions(
            tmp_path / "b.h5",
            [{**items[1], "baseline": np.zeros(5)}],
            provenance(seed=3, config={}, code="c0de"),
        )
    with pytest.raises(PipelineError, match="provenance"):
        write_attributions(tmp_path / "b.h5", items[1:], {"variant": "v", "epoch": 1, "seed": 0})
    assert not (tmp_path / "b.h5").exists()


@pytest.fixture(scope="module")
def tiny_asr():
    """A tiny random RNN-T model (log-mel front end) and one 0.4 s utterance with a 4-token reference."""
    keras.utils.set_random_seed(0)
    model = build_model(TINY_ASR, 29)
    n = 6400
    t = np.arange(n) / 16000
    rng = np.random.default_rng(0)
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 4 * t) > 0) + 0.01 * rng.standard_normal(
        n
    )
    return model, tf.constant(audio[None], tf.float32), n, np.array([3, 5, 7, 2], np.int32)


def _model_log_likelihood(model, features: np.ndarray, labels: np.ndarray) -> float:
    """log P(labels | normalised features [T, F]) straight from the model (no attribution code)."""
    x = tf.constant(features[None], tf.float32)
    return -float(
        model.utterance_loss(
            x, [features.shape[0]], labels[None], [len(labels)], training=False, joint_chunk=None
        )[0]
    )


def test_attributed_input_is_unnormalised_log_mel(tiny_asr):
    model, audio, n, _ = tiny_asr
    inp = attributed_input(model, audio, n)
    normalised, lengths = model.featurize(audio, [n])
    assert inp.x.shape == (int(lengths[0]), 24)
    # the model's input is the attributed input through the (fixed) per-utterance normalisation
    np.testing.assert_allclose((inp.x - inp.mean) * inp.scale, normalised[0].numpy(), atol=2e-4)
    np.testing.assert_allclose(inp.silence, np.log(LOG_EPS), rtol=1e-6)  # digital silence: the log-mel floor


def test_baselines_mean_what_they_say_and_differ(tiny_asr):
    model, audio, n, labels = tiny_asr
    steps = CONFIG["steps"]  # completeness within 5 % at the configured number of steps
    runs = {
        b: utterance_attribution(
            model,
            audio,
            n,
            labels,
            baseline=b,
            steps=steps,
            blur_sigma=(10, 4),
            batch_size=steps + 1,
            batch_seconds=None,
        )
        for b in BASELINES
    }
    inp = runs["silence"][0]
    f_x = _model_log_likelihood(model, model.featurize(audio, [n])[0][0].numpy(), labels)

    def model_f(baseline):  # F(x') = log P(reference | the baseline through the utterance's normalisation)
        return _model_log_likelihood(model, (baseline - inp.mean) * inp.scale, labels)

    expected = {
        "silence": np.full_like(inp.x, np.log(LOG_EPS)),
        "mean": np.broadcast_to(inp.x.mean(axis=0), inp.x.shape),
        "blur": gaussian_filter(inp.x.astype(float), (10, 4), mode="nearest"),
    }
    for name, (_, base, res) in runs.items():
        np.testing.assert_allclose(base, expected[name], rtol=1e-4, atol=1e-4, err_msg=name)
        assert res.completeness_error <= 0.05, (name, res.completeness_error)
        assert res.f_input == pytest.approx(f_x, rel=1e-4, abs=1e-4)
        assert res.f_baseline == pytest.approx(model_f(base), rel=1e-4, abs=1e-4), name
    # the mean baseline is the all-zero normalised input (the old `zero` baseline)
    zero_input = _model_log_likelihood(model, np.zeros_like(inp.x), labels)
    assert runs["mean"][2].f_baseline == pytest.approx(zero_input, rel=1e-4, abs=1e-4)
    for a, b in (("silence", "mean"), ("silence", "blur"), ("mean", "blur")):
        ra, rb = runs[a][2], runs[b][2]
        assert abs(ra.f_baseline - rb.f_baseline) > 1e-3, (a, b)
        diff = np.linalg.norm(ra.attributions - rb.attributions)
        assert diff > 0.1 * max(np.linalg.norm(ra.attributions), np.linalg.norm(rb.attributions)), (a, b)


def test_wave_front_end_attributes_samples_against_digital_silence(tiny_asr):
    _, audio, n, labels = tiny_asr
    keras.utils.set_random_seed(0)
    model = build_model({**TINY_ASR, "frontend": "wave", "wave_frontend": {"filters": 8}}, 29)
    inp, base, res = utterance_attribution(
        model,
        audio,
        n,
        labels,
        baseline="silence",
        steps=CONFIG["steps"],
        blur_sigma=1,
        batch_size=CONFIG["steps"] + 1,
        batch_seconds=None,
    )
    np.testing.assert_array_equal(inp.x, audio[0].numpy())
    assert not base.any() and res.attributions.shape == (n,)
    # the front end normalises with the utterance's own statistics: the fixed ones reproduce it at x
    own, _ = model.wave(audio, tf.constant([n]))
    fixed, _ = model.wave(audio, tf.constant([n]), stats=(inp.mean, inp.scale))
    np.testing.assert_allclose(fixed.numpy(), own.numpy(), atol=1e-4)
    # F depends on the log energy, so the geometric path resolves the climb out of silence near alpha = 0
    assert res.completeness_error <= 0.05, res.completeness_error
    silent = -float(
        model.utterance_loss(
            tf.zeros_like(audio),
            [n],
            labels[None],
            [len(labels)],
            frontend_stats=(inp.mean, inp.scale),
            joint_chunk=None,
        )[0]
    )
    assert res.f_baseline == pytest.approx(silent, rel=1e-4, abs=1e-4)
    inp, base, _ = utterance_attribution(
        model, audio, n, labels, baseline="blur", steps=2, blur_sigma=1, batch_size=None, batch_seconds=None
    )
    np.testing.assert_allclose(base, gaussian_filter(inp.x.astype(float), 160, mode="nearest"), atol=1e-6)
