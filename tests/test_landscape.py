"""Loss landscape: filter-normalised directions, in-place grid evaluation, sharding, HDF5 files."""

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.config import stable_hash
from lowrank_asr.errors import PipelineError
from lowrank_asr.hdf5 import provenance
from lowrank_asr.landscape.directions import (
    filter_norms,
    model_directions,
    model_filter_axes,
    model_weights,
    random_directions,
)
from lowrank_asr.landscape.evaluate import evaluate_grid
from lowrank_asr.landscape.grid import LossGrid, grid_points, merge_shards, shard_points
from lowrank_asr.landscape.io import (
    merge_landscape_shards,
    read_landscape,
    read_landscape_shard,
    write_landscape,
    write_landscape_shard,
)


def _tiny_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((12, 4))
    h = keras.layers.DepthwiseConv1D(3, padding="same")(inp)
    h = keras.layers.Conv1D(6, 3, padding="same", activation="tanh")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.LayerNormalization()(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    out = keras.layers.Dense(3)(h)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def setup():
    model = _tiny_model()
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((16, 12, 4)).astype("float32"))
    y = tf.constant(rng.integers(0, 3, 16))
    # Give batch norm non-trivial moving statistics so that "unchanged" means something.
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn.moving_mean.assign(rng.standard_normal(6).astype("float32"))
    bn.moving_variance.assign((1 + rng.random(6)).astype("float32"))

    def loss_fn():
        logits = model(x, training=False)
        return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    def metric_fn():
        return float(np.mean(np.argmax(model(x, training=False).numpy(), axis=1) != y.numpy()))

    return model, loss_fn, metric_fn


def test_filter_normalisation_per_output_channel_and_zero_for_1d():
    rng = np.random.default_rng(0)
    weights = [
        rng.standard_normal((5, 3, 7)).astype("float32"),  # conv kernel [k, in, out]
        rng.standard_normal((7,)).astype("float32"),  # bias
        rng.standard_normal((4, 9)).astype("float32") * 3,  # dense [in, out]
        rng.standard_normal((5, 8, 1)).astype("float32"),  # depthwise [k, C, 1]
        np.float32(2.0).reshape(()),  # scalar
    ]
    d1, d2 = random_directions(weights, seed=3)
    for d in (d1, d2):
        for w, di in zip(weights, d, strict=True):
            assert di.shape == w.shape and di.dtype == w.dtype
        # conv: one filter per output channel (last axis): norm over [k, in]
        np.testing.assert_allclose(filter_norms(d[0], (2,)), filter_norms(weights[0], (2,)), rtol=1e-5)
        np.testing.assert_allclose(filter_norms(d[2], (1,)), filter_norms(weights[2], (1,)), rtol=1e-5)
        # depthwise: one filter per channel, norm over the taps only
        np.testing.assert_allclose(filter_norms(d[3], (1, 2)), filter_norms(weights[3], (1, 2)), rtol=1e-5)
        assert not np.any(d[1]) and not np.any(d[4])
    # The two directions are different draws.
    assert not np.allclose(d1[0], d2[0])


def test_same_seed_same_directions_other_seed_different():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 4, 5)), rng.standard_normal(5)]
    a1, a2 = random_directions(weights, seed=7)
    b1, b2 = random_directions([w.copy() for w in weights], seed=7)
    for x, y in zip(a1 + a2, b1 + b2, strict=True):
        np.testing.assert_array_equal(x, y)
    c1, _ = random_directions(weights, seed=8)
    assert not np.allclose(a1[0], c1[0])


def test_model_filter_axes_follow_layer_types():
    model = keras.Sequential(
        [
            keras.Input((10, 4)),
            keras.layers.DepthwiseConv1D(3),
            keras.layers.Conv1D(1, 3),  # single output channel: still a normal conv
            keras.layers.Dense(2),
        ]
    )
    emb = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(7, 3)])
    axes = model_filter_axes(model)
    assert axes == [(1, 2), None, (2,), None, (1,), None]
    assert model_filter_axes(emb) == [(0,)]
    d1, _ = model_directions(emb, seed=0)
    w = model_weights(emb)[0]
    np.testing.assert_allclose(np.linalg.norm(d1[0], axis=1), np.linalg.norm(w, axis=1), rtol=1e-5)


def test_grid_centre_equals_loss_and_weights_restored(setup):
    model, loss_fn, metric_fn = setup
    before_all = [np.array(v.numpy()) for v in model.variables]
    base = float(loss_fn())
    d1, d2 = model_directions(model, seed=0)
    xs = np.linspace(-1, 1, 5)
    ys = np.linspace(-1, 1, 3)
    grid = evaluate_grid(model, loss_fn, d1, d2, xs, ys, metric_fn=metric_fn, progress=False)
    loss = grid.loss_array()
    assert loss.shape == (3, 5) and grid.complete
    assert loss[1, 2] == pytest.approx(base, rel=1e-6)
    assert np.isfinite(loss).all() and loss.max() > base  # moving away from the weights changes the loss
    assert grid.metric_array().shape == (3, 5)
    for v, b in zip(model.variables, before_all, strict=True):  # trainable and BN moving stats
        np.testing.assert_array_equal(v.numpy(), b)
    # Rows are y: the point (iy=0, ix=4) is w - d2 + d1.
    for v, w, a, b in zip(model.trainable_variables, model_weights(model), d1, d2, strict=True):
        v.assign(w + a - b)
    assert loss[0, 4] == pytest.approx(float(loss_fn()), rel=1e-5)
    for v, w in zip(model.variables, before_all, strict=True):
        v.assign(w)


def test_weights_restored_on_exception(setup):
    model, loss_fn, _ = setup
    before = model_weights(model)
    d1, d2 = model_directions(model, seed=1)
    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return loss_fn()

    with pytest.raises(RuntimeError, match="boom"):
        evaluate_grid(model, failing, d1, d2, [-1, 0, 1], [-1, 0, 1], progress=False)
    for v, b in zip(model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), b)


def test_sharded_evaluation_merges_to_single_job_exactly(setup, tmp_path):
    model, loss_fn, metric_fn = setup
    d1, d2 = model_directions(model, seed=2)
    xs, ys = np.linspace(-1, 1, 4), np.linspace(-0.5, 0.5, 3)
    full = evaluate_grid(model, loss_fn, d1, d2, xs, ys, metric_fn=metric_fn, progress=False)
    pts = grid_points(len(xs), len(ys))
    assert pts.shape == (12, 2) and pts[:5].tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0]]
    shards = [
        evaluate_grid(
            model, loss_fn, d1, d2, xs, ys, shard_points(pts, i, 3), metric_fn=metric_fn, progress=False
        )
        for i in (2, 0, 1)
    ]
    merged = merge_shards(shards)
    np.testing.assert_array_equal(merged.loss_array(), full.loss_array())
    np.testing.assert_array_equal(merged.metric_array(), full.metric_array())

    # The same through shard files.
    attrs = provenance(
        seed=2, config={"grid": 4}, code="grid-code", variant="v", epoch=3, eval_loss=float(loss_fn())
    )
    paths = [
        write_landscape_shard(tmp_path / f"s{i}.h5", s, attrs, shard=i, n_shards=3, subset_ids=["a", "b"])
        for i, s in enumerate(shards)
    ]
    g, a = read_landscape_shard(paths[0])
    assert a["shard"] == 0 and a["n_shards"] == 3 and a["subset_ids"] == ["a", "b"]
    out = merge_landscape_shards(
        paths, tmp_path / "out" / "epoch_003.h5", provenance(seed=2, config={"grid": 4}, code="merge-code")
    )
    data = read_landscape(out)
    np.testing.assert_array_equal(data["loss"], full.loss_array())
    np.testing.assert_array_equal(data["wer"], full.metric_array())
    assert data["attrs"]["variant"] == "v" and data["attrs"]["epoch"] == 3
    assert data["attrs"]["config_hash"] == stable_hash({"grid": 4})
    assert data["attrs"]["code_hash"] == "merge-code" and data["attrs"]["grid_code_hash"] == "grid-code"
    assert "shard" not in data["attrs"] and data["subset_ids"] == ["a", "b"]
    assert "package_version" in data["attrs"]
    with pytest.raises(PipelineError, match="config_hash"):  # shards of another configuration
        merge_landscape_shards(paths, tmp_path / "bad.h5", provenance(seed=2, config={"grid": 5}, code="m"))

    with pytest.raises(PipelineError, match="missing"):
        merge_shards(shards[:2])
    with pytest.raises(PipelineError, match="more than once"):
        merge_shards(shards + shards[:1])
    with pytest.raises(PipelineError, match="n_shards"):
        merge_landscape_shards(paths[:2], tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()


def test_shard_points_cover_grid_once():
    pts = grid_points(9, 9)
    parts = [shard_points(pts, i, 4) for i in range(4)]
    assert sum(len(p) for p in parts) == 81
    assert len({tuple(p) for part in parts for p in part}) == 81
    with pytest.raises(PipelineError):
        shard_points(pts, 4, 4)


def test_landscape_file_format(tmp_path):
    xs, ys = np.linspace(-1, 1, 3), np.linspace(-1, 1, 2)
    loss = np.arange(6, dtype=float).reshape(2, 3)
    prov = provenance(seed=0, config={}, code="c")
    path = write_landscape(
        tmp_path / "l.h5", xs, ys, loss, attrs={"variant": "a", "epoch": 1, "eval_loss": 2.5, **prov}
    )
    with h5py.File(path) as f:
        assert (
            f["xcoordinates"].shape == (3,) and f["ycoordinates"].shape == (2,) and f["loss"].shape == (2, 3)
        )
        assert f.attrs["variant"] == "a" and f.attrs["eval_loss"] == 2.5
    assert read_landscape(path)["wer"] is None
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(PipelineError, match="eval_loss"):
        write_landscape(tmp_path / "m.h5", xs, ys, loss, attrs={"variant": "a", "epoch": 1, **prov})
    with pytest.raises(PipelineError, match="code_hash"):
        write_landscape(
            tmp_path / "m.h5", xs, ys, loss, attrs={"variant": "a", "epoch": 1, "seed": 0, "eval_loss": 1.0}
        )
    with pytest.raises(PipelineError, match="shape"):
        write_landscape(
            tmp_path / "m.h5", xs, ys, loss.T, attrs={"variant": "a", "epoch": 1, "eval_loss": 1.0, **prov}
        )
    assert not (tmp_path / "m.h5").exists()


def test_lossgrid_partial_array_has_nan():
    g = LossGrid(xs=np.zeros(2), ys=np.zeros(2), points=np.array([[0, 1]]), loss=np.array([3.0]))
    arr = g.loss_array()
    assert arr[0, 1] == 3.0 and np.isnan(arr).sum() == 3 and not g.complete


def test_guarded_loss_recomputes_or_stores_inf_never_nan():
    from lowrank_asr.landscape.grid import FLOAT32, FLOAT64, NOT_FINITE, GuardedLoss

    values = iter([2.5, np.nan, np.float32(np.inf), np.nan])
    fallbacks = iter([7.0, np.nan])
    guarded = GuardedLoss(lambda: next(values), lambda: next(fallbacks))
    assert [guarded() for _ in range(3)] == [2.5, 7.0, np.inf]
    assert guarded.status == [FLOAT32, FLOAT64, NOT_FINITE]
    bare = GuardedLoss(lambda: next(values))  # no fallback: +inf with its status
    assert bare() == np.inf and bare.status == [NOT_FINITE]


# an encoder with batch norms and a small RNN-T decoder (the rehearsal's kind), built in seconds
OVERFLOW_MODEL = {
    "blocks": [
        {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
        {"layers": 1, "channels": 16, "stride": 2, "repeat": 1},
    ],
    "kernel_size": 5,
    "decoder": "rnnt",
    "embed_dim": 4,
    "pred_units": 8,
    "joint_units": 8,
}


def test_overflowing_points_get_their_float64_loss_or_inf_with_status(speech_corpus, tmp_path):
    """Far along a direction the float32 activations overflow (the rehearsal's corners: the loss was NaN). The
    grid stores the float64 loss there, or +inf where float64 overflows too, and says which; never NaN."""
    from lowrank_asr.landscape.grid import FLOAT32, FLOAT64, NOT_FINITE
    from lowrank_asr.landscape.io import read_landscape, write_landscape
    from lowrank_asr.models import build_model, save_weights
    from lowrank_asr.plotting.landscape import plot_landscape
    from lowrank_asr.text.vocabulary import load_vocabulary
    from lowrank_asr.trained_run.objective import subset_objective

    keras.utils.set_random_seed(3)
    build = build_model(OVERFLOW_MODEL, load_vocabulary(speech_corpus.vocab_path).size)
    save_weights(build, tmp_path / "w.weights.h5")
    obj = subset_objective(
        model_cfg=OVERFLOW_MODEL,
        vocab_path=speech_corpus.vocab_path,
        weights_path=tmp_path / "w.weights.h5",
        data_files=speech_corpus.shards,
        subset=2,
        wer=False,
        max_symbols_per_step=None,
        batch_seconds=None,
    )
    centre = obj.loss_fn()
    assert obj.loss_fn64() == pytest.approx(centre, rel=1e-4)  # the float64 twin computes the same function
    rng = np.random.default_rng(0)
    d1 = [rng.standard_normal(v.shape).astype(np.float32) for v in obj.model.trainable_variables]
    d2 = [np.zeros(v.shape, np.float32) for v in obj.model.trainable_variables]
    # weights moved by 1e15 x a unit Gaussian: products of a few layers overflow float32 (3.4e38) but not float64
    # (the joint's tanh saturates: the loss stays finite); at 1e39 the weights themselves overflow float32
    xs = np.array([0.0, 1e15, 1e39])
    grid = evaluate_grid(obj.model, obj.loss_fn, d1, d2, xs, [0.0], fallback_fn=obj.loss_fn64, progress=False)
    assert grid.status.tolist() == [FLOAT32, FLOAT64, NOT_FINITE]
    assert grid.loss[0] == pytest.approx(centre) and np.isfinite(grid.loss[1]) and grid.loss[2] == np.inf
    assert grid.status_array().tolist() == [[FLOAT32, FLOAT64, NOT_FINITE]]
    # the float32 loss at the middle point is indeed not a number: the fallback was needed
    for v, w, d in zip(
        obj.model.trainable_variables, [v.numpy() for v in obj.model.trainable_variables], d1, strict=True
    ):
        v.assign(w + 1e15 * d)
    assert not np.isfinite(obj.loss_fn()) and obj.loss_fn64() == pytest.approx(grid.loss[1], rel=1e-9)

    prov = provenance(seed=0, config={}, code="c", variant="v", epoch=1, eval_loss=centre)
    ys = [0.0, 1.0]
    path = write_landscape(
        tmp_path / "l.h5",
        xs,
        ys,
        np.vstack([grid.loss, grid.loss]),
        None,
        prov,
        status=np.vstack([grid.status, grid.status]),
    )
    back = read_landscape(path)
    assert back["loss_status"].tolist() == [[0, 1, 2]] * 2 and not np.isnan(back["loss"]).any()
    info = plot_landscape(back, tmp_path / "l.png")
    assert info["n_masked"] == 2 and info["n_recomputed"] == 2
    with pytest.raises(PipelineError, match="NaN"):
        write_landscape(tmp_path / "nan.h5", xs, ys, np.full((2, 3), np.nan), None, prov)
    # a CTC model has no float64 fallback (TensorFlow's CTC kernels are float32-only): +inf, with its status
    ctc = {**OVERFLOW_MODEL, "decoder": "ctc"}
    keras.utils.set_random_seed(3)
    save_weights(build_model(ctc, load_vocabulary(speech_corpus.vocab_path).size), tmp_path / "c.weights.h5")
    obj = subset_objective(
        model_cfg=ctc,
        vocab_path=speech_corpus.vocab_path,
        weights_path=tmp_path / "c.weights.h5",
        data_files=speech_corpus.shards,
        subset=2,
        wer=False,
        max_symbols_per_step=None,
        batch_seconds=None,
    )
    assert obj.fallback_loss is None
    d1 = [rng.standard_normal(v.shape).astype(np.float32) for v in obj.model.trainable_variables]
    d2 = [np.zeros(v.shape, np.float32) for v in obj.model.trainable_variables]
    grid = evaluate_grid(
        obj.model, obj.loss_fn, d1, d2, xs[:2], [0.0], fallback_fn=obj.fallback_loss, progress=False
    )
    assert grid.status.tolist() == [FLOAT32, NOT_FINITE] and grid.loss[1] == np.inf
