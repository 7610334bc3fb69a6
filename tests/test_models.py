"""ContextNet model: config merging, paper sizes, masking, decoder API, weights I/O and the summary CLI."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from lowrank_asr.config_files import load_yaml, section_with_defaults
from lowrank_asr.errors import ConfigError, PipelineError
from lowrank_asr.models import build_model, load_weights, merge_model_config, save_weights
from lowrank_asr.models.__main__ import main as cli_main
from lowrank_asr.models.config import expand_blocks

TINY = [
    {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
    {"layers": 2, "channels": 16, "stride": 2, "repeat": 1},
    {"layers": 2, "channels": 24, "stride": 2, "repeat": 1},
    {"layers": 1, "channels": 32, "stride": 1, "repeat": 1},
]
TINY_RNNT = {"blocks": TINY, "embed_dim": 8, "pred_units": 16, "joint_units": 16}
ROOT = Path(__file__).resolve().parents[1]
LIBRISPEECH = ROOT / "config" / "librispeech.yaml"
# Han et al. 2020, table 4: ContextNet-S/M/L with 1024 word-pieces.
PAPER_PARAMS = {"contextnet_s": 10.8e6, "contextnet_m": 31.4e6, "contextnet_l": 112.7e6}


def _tiny(seed=0, **over):
    keras.utils.set_random_seed(seed)
    return build_model({**TINY_RNNT, **over}, 29)


def _audio(lengths, total, seed=0):
    rng = np.random.default_rng(seed)
    audio = np.zeros([len(lengths), total], np.float32)
    for i, n in enumerate(lengths):
        audio[i, :n] = 0.1 * rng.standard_normal(n)
    return tf.constant(audio), tf.constant(lengths, tf.int32)


def test_merge_rejects_unknown_keys_and_merges_nested():
    with pytest.raises(ConfigError, match=r"'convv'.*allowed keys: .*alpha"):
        merge_model_config({"convv": "lowrank"})
    with pytest.raises(ConfigError, match=r"specaugment.bogus.*freq_masks"):
        merge_model_config({"specaugment": {"bogus": 1}})
    with pytest.raises(ConfigError, match=r"conv.*separable, lowrank, rank"):
        merge_model_config({"conv": "full"})
    with pytest.raises(ConfigError, match=r"blocks\[0\]"):
        merge_model_config({"blocks": [{"layers": 1, "channels": 8, "width": 3}]})
    with pytest.raises(ConfigError, match=r"blocks\[0\] lacks stride, repeat"):
        merge_model_config({"blocks": [{"layers": 1, "channels": 8}]})
    cfg = merge_model_config({"specaugment": {"enabled": True}})
    # the unset keys are the schema's defaults
    assert cfg["specaugment"] == {**section_with_defaults("model", {})["specaugment"], "enabled": True}


def test_default_model_has_the_documented_size():
    """models/config.py's comment on DEFAULT_MODEL: 7 blocks, 4x time reduction, 0.84 M parameters."""
    model = build_model({}, 29)
    assert len(model.specs) == 7 and model.time_reduction == 4
    assert f"{model.count_params() / 1e6:.2f}" == "0.84"


def test_paper_block_plan():
    specs = expand_blocks("paper", 1.0)
    assert [s.name for s in specs] == [f"C{i}" for i in range(23)]
    assert [s.layers for s in specs] == [1] + [5] * 21 + [1]
    assert [i for i, s in enumerate(specs) if s.stride == 2] == [3, 7, 14]
    assert [s.channels for s in specs] == [256] * 11 + [512] * 11 + [640]
    assert [s.residual for s in specs] == [False] + [True] * 21 + [False]
    assert [s.channels for s in expand_blocks("paper", 0.5)][-1] == 320


def _readme_parameter_table() -> dict[str, str]:
    """variant -> the "ours" column (e.g. "11.76") of docs/models.md's parameter table for config/librispeech.yaml."""
    text = (ROOT / "docs" / "models.md").read_text()
    table = text[text.index("| variant (config/librispeech.yaml)") :]
    table = table[: table.index("\n\n")]
    return dict(re.findall(r"^\| `(\w+)` \|[^|]*\|[^|]*\| ([\d.]+) M \|", table, flags=re.M))


@pytest.mark.parametrize("variant", list(load_yaml(LIBRISPEECH)["variants"]))
def test_librispeech_variants_match_readme_and_paper(variant, capsys):
    """The summary CLI on config/librispeech.yaml's variants gives the docs' counts, the paper's within 10 %."""
    assert cli_main(["summary", "--config", str(LIBRISPEECH), "--variant", variant, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    n = out["total_params"]
    assert out["vocab_size"] == 1024
    assert _readme_parameter_table()[variant] == f"{n / 1e6:.2f}"
    if variant in PAPER_PARAMS:
        assert abs(n / PAPER_PARAMS[variant] - 1) < 0.10, n
        assert out["model"]["blocks"] == "paper"


@pytest.mark.parametrize("conv", ["separable", "lowrank", "rank"])
@pytest.mark.parametrize("training", [False, True])
def test_padding_does_not_leak_into_valid_outputs(conv, training):
    model = _tiny(conv=conv, rank=2)
    lengths = [3000, 4717]
    a_short, l_short = _audio(lengths, 4800)
    a_long = tf.pad(a_short, [[0, 0], [0, 3517]])  # odd extra padding: changes the parity of every length
    outs = []
    for audio in (a_short, a_long):
        x, x_len = model.featurize(audio, l_short)
        enc, enc_len = model.encode(x, x_len, training=training)
        outs.append((enc.numpy(), enc_len.numpy()))
    (e1, n1), (e2, n2) = outs
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_array_equal(
        n1, [-(-((3000 - 400) // 160 + 1) // 4), -(-((4717 - 400) // 160 + 1) // 4)]
    )
    for i, n in enumerate(n1):
        np.testing.assert_allclose(e1[i, :n], e2[i, :n], atol=2e-5)
        assert np.all(e2[i, n:] == 0)


def test_squeeze_excite_averages_valid_frames_only():
    from lowrank_asr.models.contextnet import SqueezeExcite

    se = SqueezeExcite(8)
    x = tf.random.normal([1, 10, 8], seed=3)
    padded = tf.concat([x, 5.0 * tf.ones([1, 6, 8])], axis=1)  # garbage in the padding
    np.testing.assert_allclose(
        se(x, tf.constant([10])).numpy(), se(padded, tf.constant([10])).numpy()[:, :10], atol=1e-6
    )


def test_rnnt_api_shapes_and_step_consistency():
    model = _tiny()
    audio, lens = _audio([8000, 6000], 8000)
    x, x_len = model.featurize(audio, lens)
    assert x.shape[-1] == 80
    enc, enc_len = model.encode(x, x_len)
    assert enc.shape == (2, 12, 32) and list(enc_len.numpy()) == [12, 9]
    labels = tf.constant([[3, 4, 5], [6, 7, 0]])
    assert type(model).predict is keras.Model.predict  # Keras' batch inference keeps its meaning
    pred = model.pred_sequence(labels, tf.constant([3, 2]))
    assert pred.shape == (2, 4, 16)
    logits = model.joint(enc, pred)
    assert logits.shape == (2, 12, 4, 29)
    np.testing.assert_allclose(model.joint(enc[:, :, None], pred[:, None]).numpy(), logits.numpy(), atol=1e-6)
    state = model.pred_initial_state(2)
    prev = tf.zeros([2], tf.int32)
    for u in range(4):
        p, state = model.pred_step(prev, state)
        np.testing.assert_allclose(p.numpy(), pred.numpy()[:, u], atol=1e-5)
        np.testing.assert_allclose(model.joint_step(enc[:, 5], p).numpy(), logits.numpy()[:, 5, u], atol=1e-5)
        if u < 3:
            prev = labels[:, u]


def test_utterance_loss_is_differentiable_for_both_decoders():
    for decoder in ("rnnt", "ctc"):
        model = _tiny(decoder=decoder, specaugment={"enabled": True})
        audio, lens = _audio([8000, 6000], 8000)
        x, x_len = model.featurize(audio, lens)
        labels, label_len = tf.constant([[3, 4, 5], [6, 7, 0]]), tf.constant([3, 2])
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = model.utterance_loss(x, x_len, labels, label_len, training=True, joint_chunk=None)
            total = tf.reduce_sum(loss)
        assert loss.shape == (2,) and np.all(np.isfinite(loss.numpy())) and np.all(loss.numpy() > 0)
        gx, *gw = tape.gradient(total, [x, *model.trainable_variables])
        assert np.abs(gx.numpy()).max() > 0
        assert all(g is not None for g in gw)
        if decoder == "ctc":
            assert model.ctc_logits(model.encode(x, x_len)[0]).shape == (2, 12, 29)


def test_wave_frontend_frames_match_logmel():
    model = _tiny(frontend="wave")
    audio, lens = _audio([8000, 5123], 8000)
    x, x_len = model.featurize(audio, lens)
    assert x.shape == (2, 8000) and list(x_len.numpy()) == [8000, 5123]
    front, f_len = model.wave(x, x_len)
    assert front.shape == (2, 48, 80) and list(f_len.numpy()) == [48, (5123 - 400) // 160 + 1]
    enc, enc_len = model.encode(x, x_len)
    assert list(enc_len.numpy()) == [12, 8]
    # the learnable conv: 80 filters x 400 taps, no bias
    assert model.wave.count_params() == 80 * 400


def test_build_is_deterministic_and_weights_round_trip(tmp_path):
    m1, m2, m3 = _tiny(seed=5), _tiny(seed=5), _tiny(seed=6)
    for a, b in zip(m1.weights, m2.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    path = tmp_path / "sub" / "epoch_001.weights.h5"
    save_weights(m1, path)
    assert path.is_file() and not [p for p in path.parent.iterdir() if p != path]
    assert not np.array_equal(m1.weights[0].numpy(), m3.weights[0].numpy())
    load_weights(m3, path)
    for a, b in zip(m1.weights, m3.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    audio, lens = _audio([4000], 4000)
    out1 = m1.encode(*m1.featurize(audio, lens))[0].numpy()
    out3 = m3.encode(*m3.featurize(audio, lens))[0].numpy()
    np.testing.assert_array_equal(out1, out3)
    with pytest.raises(PipelineError, match="does not exist"):
        load_weights(m3, tmp_path / "missing.weights.h5")
    with pytest.raises(PipelineError, match="does not fit"):
        load_weights(_tiny(conv="lowrank", decoder="ctc"), path)


@pytest.mark.parametrize("conv", ["separable", "lowrank"])
def test_summary_macs_equal_counts_by_hand(conv):
    """Multiply-adds per second of audio, counted here from the layer shapes: 100 frames/s after the 10 ms hop,
    halved by each stride. TINY: C0 one layer 80 -> 16; C1 two layers 16 -> 16, the second strided, with a
    residual; ...; C3 32 channels at 25 frames/s."""
    model = _tiny(conv=conv)
    rows = {r["name"]: r for r in model.summary_table()}
    k, feats = 5, 80
    assert rows["logmel"]["macs"] == 100 * (512 // 2 + 1) * feats  # mel projection of the 512-point spectrum
    if conv == "separable":  # depthwise k taps per channel, then pointwise, both at the output frame rate
        c0 = 100 * (k * feats + feats * 16)
        c1 = 100 * (k * 16 + 16 * 16) + 50 * (k * 16 + 16 * 16)
    else:  # pointwise at the input frame rate, then depthwise k taps per output channel at the output rate
        c0 = 100 * (feats * 16 + k * 16)
        c1 = 100 * (16 * 16 + k * 16) + (100 * 16 * 16 + 50 * k * 16)
    se = 2 * 16  # squeeze-and-excite: channel mean and gating, per channel and output frame
    assert rows["C0"]["macs"] == c0 + 100 * se
    assert rows["C1"]["macs"] == c1 + 50 * se + 50 * 16 * 16  # + the strided 1x1 residual projection
    # one LSTM step: four gates, each (embedding + recurrent state) x units; then the joint's pred projection
    e, p, j, v, d = 8, 16, 16, 29, 32
    lstm = model.prediction.lstms[0].cell
    assert 4 * p * (e + p) == int(np.prod(lstm.kernel.shape)) + int(np.prod(lstm.recurrent_kernel.shape))
    assert rows["prediction"]["macs"] == 4 * p * (e + p) + p * j
    # the joint once per encoder frame (25/s): encoder projection, J adds of the two projections, output layer
    assert rows["joint"]["frame_rate"] == 25
    assert rows["joint"]["macs"] == 25 * (d * j + j + j * v)
    ctc = {r["name"]: r for r in _tiny(conv=conv, decoder="ctc").summary_table()}
    assert ctc["ctc_head"]["macs"] == 25 * d * v


def _write_config(tmp_path, vocab):
    cfg = {
        "vocabulary": vocab,
        "model": {**TINY_RNNT},
        "variants": {"base": {}, "low": {"conv": "lowrank", "decoder": "ctc"}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_summary_cli(tmp_path, capsys):
    path = _write_config(tmp_path, {"type": "char", "size": 1024})
    assert cli_main(["summary", "--config", str(path), "--variant", "low", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keras.utils.set_random_seed(0)
    model = build_model({**TINY_RNNT, "conv": "lowrank", "decoder": "ctc"}, 29)
    assert out["total_params"] == model.count_params() and out["vocab_size"] == 29
    # trainable: all weights but the batch norms' moving mean and variance (2 × channels per norm)
    moving = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert out["trainable_params"] == out["total_params"] - moving and moving > 0
    assert moving == sum(
        2 * layer.moving_mean.shape[0] for layer in model._flatten_layers() if hasattr(layer, "moving_mean")
    )
    assert [b["name"] for b in out["blocks"]] == ["logmel", "C0", "C1", "C2", "C3", "ctc_head"]
    assert sum(b["params"] for b in out["blocks"]) == out["total_params"]
    assert all(b["macs"] > 0 for b in out["blocks"][1:])
    path = _write_config(tmp_path, {"type": "sentencepiece", "size": 64})
    assert cli_main(["summary", "--config", str(path), "--variant", "base"]) == 0
    text = capsys.readouterr().out
    assert "vocab 64" in text and "C3" in text and "total" in text
    assert cli_main(["summary", "--config", str(path), "--variant", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "base, low" in err
    bad = yaml.safe_load(path.read_text())
    bad["variants"]["low"]["convv"] = "lowrank"
    path.write_text(yaml.safe_dump(bad))
    assert cli_main(["summary", "--config", str(path), "--variant", "low"]) == 2
    assert "'convv'" in capsys.readouterr().err


def test_swish_is_tf_silu_in_values_and_gradient():
    from lowrank_asr.models.contextnet import masked_swish, swish, time_mask

    x = tf.random.normal([3, 17, 8], seed=4) * 4.0
    dy = tf.random.normal([3, 17, 8], seed=5)
    mask = time_mask(tf.constant([17, 9, 1]), 17)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        pairs = [(swish(x), tf.nn.silu(x)), (masked_swish(x, mask), tf.nn.silu(x) * mask)]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        np.testing.assert_array_equal(
            tape.gradient(ours, x, dy).numpy(), tape.gradient(theirs, x, dy).numpy()
        )


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_conv1d_pads_inside_the_op_as_pad_time(stride):
    """One op with explicit padding = ``pad_time`` then a 'VALID' conv: outputs equal, gradients to rounding."""
    from lowrank_asr.models.convolutions import depthwise_conv1d, pad_time

    x = tf.random.normal([2, 13, 6], seed=6)
    kernel = tf.random.normal([5, 6], seed=7)
    dy = tf.random.normal([2, -(-13 // stride), 6], seed=8)

    def reference(x, kernel):
        y = tf.nn.depthwise_conv2d(
            pad_time(x, 5)[:, :, None, :],
            kernel[:, None, :, None],
            strides=[1, stride, stride, 1],
            padding="VALID",
        )
        return y[:, :, 0, :]

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel])
        ours, theirs = depthwise_conv1d(x, kernel, stride), reference(x, kernel)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    for a, b in zip(
        tape.gradient(ours, [x, kernel], dy), tape.gradient(theirs, [x, kernel], dy), strict=True
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
