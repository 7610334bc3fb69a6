"""Figures: valid PNGs of the expected size, shared scales, masked non-finite landscape points."""

import numpy as np
import pytest
from PIL import Image

from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import (
    landscape_limits,
    plot_attribution,
    plot_landscape,
    plot_training_curves,
    shared_scales,
    symmetric_limit,
)
from lowrank_asr.plotting import style as st
from lowrank_asr.plotting.attribution import frame_timing
from lowrank_asr.schema import section_with_defaults

# the time axes of the default model's attributions (16 kHz, 10 ms log-mel frames, 160-sample wave frames)
TIMING = frame_timing(section_with_defaults("model", {}))


def _landscape(scale=1.0, n=7):
    xs = np.linspace(-1, 1, n)
    ys = np.linspace(-1, 1, n - 2)
    X, Y = np.meshgrid(xs, ys)
    loss = scale * (1.5 + 20 * X**2 + 8 * Y**2 + 3 * X * Y)
    return {
        "xcoordinates": xs,
        "ycoordinates": ys,
        "loss": loss,
        "wer": 0.1 + 0.3 * (X**2 + Y**2),
        "attrs": {"variant": "lowrank", "epoch": 3, "seed": 0, "eval_loss": float(loss[2, 3])},
    }


def _png_size(path):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.format, im.size


def test_landscape_png_and_shared_limits(tmp_path):
    epochs = [_landscape(1.0), _landscape(3.0)]
    lo, hi = landscape_limits([e["loss"] for e in epochs])
    assert lo == pytest.approx(1.5) and hi == pytest.approx(epochs[1]["loss"].max())
    infos = [
        plot_landscape(e, tmp_path / f"plots/epoch_{i:03d}.png", zlim=(lo, hi)) for i, e in enumerate(epochs)
    ]
    for info in infos:
        assert info["zlim"] == (lo, hi) and info["log_scale"]
        assert info["norm"].vmin == lo and info["norm"].vmax == hi
        assert info["levels"][0] == pytest.approx(lo) and info["levels"][-1] == pytest.approx(hi)
        fmt, size = _png_size(info["path"])
        assert fmt == "PNG"
        assert size == (round(st.LANDSCAPE_FIGSIZE[0] * st.DPI), round(st.LANDSCAPE_FIGSIZE[1] * st.DPI))
    # without zlim each epoch gets its own range
    own = plot_landscape(epochs[0], tmp_path / "own.png")
    assert own["zlim"] == pytest.approx((1.5, epochs[0]["loss"].max()))


def test_landscape_masks_nan_and_inf(tmp_path):
    data = _landscape()
    data["loss"][0, 0] = np.nan
    data["loss"][-1, -1] = np.inf
    data["loss"][2, 0] = -np.inf
    assert np.isfinite(landscape_limits([data["loss"]])).all()
    info = plot_landscape(data, tmp_path / "nan.png", title="diverged corner")
    assert info["n_masked"] == 3 and _png_size(info["path"])[0] == "PNG"
    # all non-finite: still a figure, no crash
    data["loss"][:] = np.nan
    assert landscape_limits([data["loss"]]) == (0.0, 1.0)
    assert plot_landscape(data, tmp_path / "allnan.png")["n_masked"] == data["loss"].size
    # non-positive losses fall back to linear levels
    data = _landscape()
    data["loss"] -= 10
    assert not plot_landscape(data, tmp_path / "neg.png")["log_scale"]
    with pytest.raises(PipelineError, match="grid"):
        plot_landscape({**data, "loss": data["loss"].T}, tmp_path / "bad.png")


def test_attribution_png_logmel_and_wave(tmp_path):
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((120, 40))
    attr = rng.standard_normal((120, 40)) * 0.01
    attr[60, 20] = 5.0  # an outlier saturates instead of setting the scale
    wave = np.sin(np.arange(8000) / 7.0) * 0.3
    items = [
        {
            "utt_id": "1-2-0003",
            "features": feats,
            "baseline": np.zeros_like(feats),
            "attributions": attr,
            "f_input": -10.0,
            "f_baseline": -30.0,
            "completeness_error": 0.01,
            "steps": 64,
            "transcript": "hello world",
            "hypothesis": "hello word",
            "frame_attribution": None,
        },
        {
            "utt_id": "wave",
            "features": wave,
            "baseline": np.zeros_like(wave),
            "attributions": wave * 1e-3,
            "f_input": -5.0,
            "f_baseline": -9.0,
            "completeness_error": 0.02,
            "steps": 32,
            "transcript": "hi",
        },
    ]
    info = plot_attribution(items, tmp_path / "attr.png", title="lowrank · epoch 3", **TIMING)
    fmt, (w, h) = _png_size(info["path"])
    assert fmt == "PNG" and w == round(st.ATTRIBUTION_WIDTH * st.DPI) and h > w
    assert len(info["limits"]) == 2
    assert info["limits"][0] == pytest.approx(symmetric_limit(attr)) and info["limits"][0] < 1.0
    norm = info["norms"][0]
    assert norm.vcenter == 0 and norm.halfrange == pytest.approx(info["limits"][0])
    with pytest.raises(PipelineError, match="no utterances"):
        plot_attribution([], tmp_path / "none.png", **TIMING)


def test_attribution_epochs_share_one_scale_per_utterance(tmp_path):
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((50, 16))

    def epoch(gain):  # the same utterances, attributions growing over epochs
        return [
            {
                "utt_id": uid,
                "features": feats,
                "baseline": np.zeros_like(feats),
                "f_input": -1.0,
                "f_baseline": -2.0,
                "completeness_error": 0.01,
                "steps": 8,
                "transcript": "a",
                "attributions": gain * k * rng.standard_normal((50, 16)),
            }
            for k, uid in ((1, "u1"), (10, "u2"))
        ]

    epochs = [epoch(0.1), epoch(1.0), epoch(3.0)]
    scales = shared_scales(epochs, hop=TIMING["hop"])
    assert set(scales) == {"u1", "u2"}
    pooled = np.concatenate([np.abs(e[0]["attributions"]).ravel() for e in epochs])
    assert scales["u1"].attribution == pytest.approx(np.quantile(pooled, 0.995))  # 99.5th percentile, pooled
    assert scales["u1"].frame == pytest.approx(
        max(np.abs(e[0]["attributions"].sum(axis=1)).max() for e in epochs)
    )
    assert scales["u2"].attribution > 5 * scales["u1"].attribution  # per utterance, not per figure
    infos = [
        plot_attribution(
            items, tmp_path / f"epoch_{i}.png", scales=scales, shared_by="all 3 epochs", **TIMING
        )
        for i, items in enumerate(epochs)
    ]
    for info in infos:  # every epoch draws each utterance with the same colours and axis
        assert info["limits"] == [scales["u1"].attribution, scales["u2"].attribution]
        assert info["frame_limits"] == [scales["u1"].frame, scales["u2"].frame]
        assert [n.halfrange for n in info["norms"]] == pytest.approx(info["limits"])
        assert all("shared by all 3 epochs" in label for label in info["labels"])
    own = plot_attribution(
        epochs[0], tmp_path / "own.png", **TIMING
    )  # without shared scales: the figure's own
    assert own["limits"][0] == pytest.approx(symmetric_limit(epochs[0][0]["attributions"]))
    assert own["limits"][0] < infos[0]["limits"][0] and "this figure" in own["labels"][0]
    with pytest.raises(PipelineError, match="u2"):
        plot_attribution(epochs[0], tmp_path / "bad.png", scales={"u1": scales["u1"]}, **TIMING)


def test_training_curves(tmp_path):
    paths = {}
    for j, name in enumerate(["a", "b"]):
        p = tmp_path / f"{name}.csv"
        rows = ["epoch,train_loss,dev_loss,dev_wer,seconds,lr"]
        rows += [f"{e},{100 / e + j},{120 / e + j},{0.5 / e},10,0.001" for e in range(1, 4 + j)]
        p.write_text("\n".join(rows) + "\n")
        paths[name] = p
    out = plot_training_curves(paths, tmp_path / "curves" / "training.png")
    fmt, size = _png_size(out)
    assert fmt == "PNG" and size == (
        round(st.TRAINING_FIGSIZE[0] * st.DPI),
        round(st.TRAINING_FIGSIZE[1] * st.DPI),
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss\n1,2\n")
    with pytest.raises(PipelineError, match="dev_wer"):
        plot_training_curves({"bad": bad}, tmp_path / "x.png")


def test_training_history_cells_that_are_not_numbers_name_file_line_and_column(tmp_path):
    from lowrank_asr.plotting import read_history

    path = tmp_path / "history.csv"
    path.write_text("epoch,train_loss,dev_loss,dev_wer,seconds\n1,2.5,2.7,,10\n2,2.1,oops,0.4,10\n")
    with pytest.raises(PipelineError, match=r"history.csv line 3, column 'dev_loss': 'oops' is not a number"):
        read_history(path)
    path.write_text("epoch,train_loss,dev_loss,dev_wer,seconds\n1,2.5,2.7,,10\n")
    history = read_history(path)
    assert (
        np.isnan(history["dev_wer"][0]) and history["dev_loss"][0] == 2.7
    )  # an empty cell is a missing value


def test_training_curves_of_several_seeds_show_their_spread(tmp_path):
    from lowrank_asr.plotting.training import read_history, seed_spread

    paths = []
    for seed in range(3):
        p = tmp_path / f"seed{seed}.csv"
        rows = ["epoch,train_loss,dev_loss,dev_wer,seconds"]
        rows += [f"{e},{10 / e + seed},{12 / e + seed},{0.5 / e + 0.1 * seed},10" for e in range(1, 4 + seed)]
        p.write_text("\n".join(rows) + "\n")
        paths.append(p)
    epochs, mean, low, high = seed_spread([read_history(p) for p in paths], "dev_wer")
    assert epochs.tolist() == [1, 2, 3]  # the epochs every seed reached
    np.testing.assert_allclose(mean, 0.5 / epochs + 0.1)
    np.testing.assert_allclose(high - low, 0.2)
    out = plot_training_curves({"a": paths, "b": paths[0]}, tmp_path / "curves.png")
    assert _png_size(out)[0] == "PNG"
    with pytest.raises(PipelineError, match=r"no history files for \['c'\]"):
        plot_training_curves({"c": []}, tmp_path / "x.png")
