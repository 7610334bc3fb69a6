"""Training geometry: trajectory PCA plane, Hessian sharpness (Lanczos, Hutchinson), 1-D interpolation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.errors import PipelineError
from lowrank_asr.geometry.hessian import (
    ModelHVP,
    hutchinson_trace,
    hvp_method_for,
    lanczos,
)
from lowrank_asr.geometry.interpolation import epoch_path_positions, evaluate_path, model_state
from lowrank_asr.geometry.io import read_geometry, write_geometry
from lowrank_asr.geometry.trajectory import plane_axes, trajectory_plane
from lowrank_asr.hdf5 import provenance

SHAPES = [(4, 3), (5,), (2, 3, 2)]
AXES = [(1,), None, (2,)]  # the 1-D variable (a bias) gets a zero direction


def _split(flat, shapes=SHAPES):
    out, start = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(flat[start : start + n].reshape(s))
        start += n
    return out


def test_trajectory_in_a_known_plane_is_recovered():
    rng = np.random.default_rng(0)
    p = sum(int(np.prod(s)) for s in SHAPES)
    bias = slice(12, 17)
    basis = rng.standard_normal((p, 2))
    basis[bias] = 0.0  # the plane lives in the filter weights only
    u, _ = np.linalg.qr(basis)
    final = rng.standard_normal(p)
    ab = np.array([[3.0, 1.0], [2.0, -1.5], [1.2, 0.7], [0.5, 0.2], [0.0, 0.0]])
    epochs = []
    for a, b in ab:
        theta = final + a * u[:, 0] + b * u[:, 1]
        theta[bias] += rng.standard_normal(5)  # biases wander off the plane: they must be ignored
        epochs.append(_split(theta))
    plane = trajectory_plane(epochs, AXES)
    d1 = np.concatenate([d.ravel() for d in plane.d1])
    d2 = np.concatenate([d.ravel() for d in plane.d2])
    assert np.allclose(plane.d1[1], 0) and np.allclose(plane.d2[1], 0)
    assert np.isclose(d1 @ d1, 1) and np.isclose(d2 @ d2, 1) and abs(d1 @ d2) < 1e-10
    # the recovered plane is the known one: both bases span the same space
    assert np.allclose(np.linalg.svd(u.T @ np.stack([d1, d2], 1), compute_uv=False), 1.0)
    assert np.allclose(plane.residual, 0, atol=1e-10)
    assert np.isclose(plane.explained.sum(), 1.0)
    assert plane.explained[0] >= plane.explained[1]
    # projections reproduce each epoch's offset exactly; the final epoch is the origin
    for (x, y), (a, b) in zip(plane.coords, ab, strict=True):
        assert np.allclose(x * d1 + y * d2, a * u[:, 0] + b * u[:, 1])
    assert np.allclose(plane.coords[-1], 0)
    assert plane.coords[0, 0] > 0 and plane.coords[0, 1] > 0  # oriented towards the first epoch
    xs, ys = plane_axes(plane.coords, 5, 0.25)
    assert xs.min() < plane.coords[:, 0].min() and xs.max() > plane.coords[:, 0].max()
    assert ys.min() < plane.coords[:, 1].min() and ys.max() > plane.coords[:, 1].max()


def test_trajectory_off_plane_has_residual_and_too_few_epochs_fail():
    rng = np.random.default_rng(1)
    epochs = [_split(rng.standard_normal(29)) for _ in range(5)]
    plane = trajectory_plane(epochs, AXES)
    assert plane.residual[:-1].max() > 0.1 and plane.explained.sum() < 1.0
    with pytest.raises(PipelineError, match="at least 3"):
        trajectory_plane(epochs[:2], AXES)


def _quadratic(seed=0, eigs=(6.0, 3.0, 1.0, 0.5, -0.25, 0.1)):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((len(eigs), len(eigs))))
    return q @ np.diag(eigs) @ q.T, np.array(eigs)


def test_lanczos_finds_top_eigenvalue_within_its_residual():
    h, eigs = _quadratic()
    calls = []

    def hvp(v):
        calls.append(1)
        return h @ v

    res = lanczos(hvp, len(eigs), max_iter=500, tol=1e-8, seed=3)
    assert res.converged and res.iterations == len(calls) == len(res.history) <= len(eigs)
    assert res.eigenvalue == pytest.approx(6.0, rel=1e-6) and res.dominant == pytest.approx(6.0, rel=1e-6)
    short = lanczos(hvp, len(eigs), max_iter=2, tol=1e-12, seed=3)
    assert not short.converged and short.iterations == 2 and short.residual > 1e-12 * abs(short.eigenvalue)


def _spectrum_5_and_minus_4_9(n=2000, seed=0):
    """Eigenvalues 5 and −4.9 at the edges of a bulk in [−4, 4]: power iteration's rate is 4.9/5 = 0.98."""
    rng = np.random.default_rng(seed)
    eigs = np.concatenate([[5.0, -4.9], rng.uniform(-4.0, 4.0, n - 2)])
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * eigs) @ q.T


@pytest.mark.parametrize("max_iter, tol", [(10, 0.01), (30, 0.01), (60, 1e-4), (200, 1e-6)])
def test_lanczos_converged_means_within_tolerance_with_close_eigenvalues_of_both_signs(max_iter, tol):
    h = _spectrum_5_and_minus_4_9()
    res = lanczos(lambda v: h @ v, len(h), max_iter=max_iter, tol=tol, seed=1)
    # the stored residual is the Ritz pair's own, recomputed here with one more product
    true = np.linalg.norm(h @ res.vector - res.eigenvalue * res.vector)
    assert res.residual == pytest.approx(true, rel=1e-3, abs=1e-6 * abs(res.eigenvalue))
    assert np.min(np.abs(np.linalg.eigvalsh(h) - res.eigenvalue)) <= res.residual * (1 + 1e-6) + 1e-9
    assert res.eigenvalue <= 5.0 * (1 + 1e-6)  # Ritz values never pass λ_max (up to the float32 basis)
    assert res.converged == (res.residual <= tol * abs(res.eigenvalue))
    if res.converged:
        assert abs(res.eigenvalue - 5.0) <= tol * 5.0
    else:
        assert res.iterations == max_iter
    if max_iter >= 30:  # power iteration needs hundreds of products here; Lanczos tens
        assert res.converged and res.iterations < max_iter


def test_lanczos_finds_the_largest_eigenvalue_when_the_dominant_one_is_negative():
    h, _ = _quadratic(2, eigs=(2.0, 1.0, 0.5, -0.3, -5.0))
    res = lanczos(lambda v: h @ v, 5, max_iter=50, tol=1e-7, seed=0)
    assert res.converged and res.eigenvalue == pytest.approx(2.0, rel=1e-6)
    assert res.dominant == pytest.approx(-5.0, rel=1e-6)
    # λ_max tiny next to |λ_d|: the tolerance is on λ_max itself, so a one-product run says it did not converge
    h, _ = _quadratic(3, eigs=(0.05, 0.04, -0.5, -5.0))
    res = lanczos(lambda v: h @ v, 4, max_iter=1, tol=1e-3, seed=0)
    assert not res.converged and res.iterations == 1


def test_hutchinson_trace_exact_on_diagonal_and_unbiased_in_general():
    diag = np.diag([4.0, -1.0, 2.5, 0.5])
    mean, _ = hutchinson_trace(lambda v: diag @ v, 4, samples=1, seed=0)
    assert mean == pytest.approx(6.0)  # vᵀDv = Σ dᵢ vᵢ² = tr D for any ±1 vector
    h, eigs = _quadratic()
    mean, err = hutchinson_trace(lambda v: h @ v, len(eigs), samples=4000, seed=1)
    assert abs(mean - eigs.sum()) < 4 * err and err < 0.2


class _Params:
    """A minimal 'model': two variables and a quadratic loss ½ θᵀ H θ with a known Hessian."""

    def __init__(self, h):
        self.a = tf.Variable(tf.random.normal([2, 2], seed=1))
        self.b = tf.Variable(tf.random.normal([2], seed=2))
        self.trainable_variables = [self.a, self.b]
        self.h = tf.constant(h, tf.float32)

    def loss(self):
        theta = tf.concat([tf.reshape(self.a, [-1]), self.b], 0)
        return 0.5 * tf.tensordot(theta, tf.linalg.matvec(self.h, theta), 1)


@pytest.mark.parametrize("method", ["double_backprop", "finite_difference"])
def test_model_hvp_exact_eigenvalue_and_trace_on_quadratic(method):
    h, eigs = _quadratic()
    params = _Params(h)
    hvp = ModelHVP(params, params.loss, method)
    assert hvp.dim == 6
    v = np.random.default_rng(0).standard_normal(6)
    assert np.allclose(hvp(v), h @ v, rtol=1e-3, atol=1e-3)
    res = lanczos(hvp, hvp.dim, max_iter=300, tol=1e-4, seed=0)  # float32 products: ~1e-5 noise
    assert res.converged and res.eigenvalue == pytest.approx(6.0, rel=1e-3)
    # Hutchinson's mean over all 2^6 sign vectors would be exact; 400 samples land within a few errors
    mean, err = hutchinson_trace(hvp, hvp.dim, samples=400, seed=0)
    assert abs(mean - eigs.sum()) < 4 * err
    assert hvp.count == 1 + res.iterations + 400


def test_hvp_of_real_asr_model_matches_finite_difference_of_gradients(speech_corpus):
    from lowrank_asr.data.dataset import make_dataset
    from lowrank_asr.models import build_model
    from lowrank_asr.text.vocabulary import load_vocabulary

    vocab = load_vocabulary(speech_corpus.vocab_path)
    batch = next(
        iter(
            make_dataset(
                speech_corpus.shards,
                vocab,
                batch_size=2,
                training=False,
                seed=0,
                max_duration=None,
                batch_seconds=None,
            )
        )
    )
    keras.utils.set_random_seed(0)
    model = build_model(
        {
            "blocks": [{"layers": 1, "channels": 8, "stride": 2, "repeat": 1}],
            "embed_dim": 4,
            "pred_units": 8,
            "joint_units": 8,
        },
        vocab.size,
    )
    x, x_len = model.featurize(batch["audio"], batch["audio_len"])

    @tf.function
    def loss_fn():
        return tf.reduce_mean(
            model.utterance_loss(x, x_len, batch["labels"], batch["label_len"], joint_chunk=None)
        )

    exact = ModelHVP(model, loss_fn, hvp_method_for(model))
    assert exact.method == "double_backprop"
    fd = ModelHVP(model, loss_fn, "finite_difference")
    v = np.random.default_rng(0).standard_normal(exact.dim)
    before = model_state(model)
    a, b = exact(v), fd(v)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 0.05
    assert all(np.array_equal(x, y) for x, y in zip(before, model_state(model), strict=True))


def _bn_model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    h = keras.layers.Dense(5)(inp)
    h = keras.layers.BatchNormalization()(h)
    return keras.Model(inp, keras.layers.Dense(2)(h))


def test_interpolation_ends_are_the_saved_models_and_weights_restored():
    model = _bn_model()
    x = tf.constant(np.random.default_rng(0).standard_normal((8, 4)), tf.float32)
    loss_fn = lambda: tf.reduce_mean(tf.square(model(x, training=False)))  # noqa: E731
    start = model_state(model)
    loss_a = float(loss_fn())
    for v in model.weights:
        v.assign(v + 0.3 + tf.random.uniform(v.shape))  # also moves moving mean/variance (kept positive)
    end = model_state(model)
    loss_b = float(loss_fn())
    loss, metric = evaluate_path(model, loss_fn, start, end, [-0.5, 0.0, 0.5, 1.0, 1.5])
    assert metric is None
    assert loss[1] == pytest.approx(loss_a, rel=1e-5) and loss[3] == pytest.approx(loss_b, rel=1e-5)
    assert np.all(np.isfinite(loss)) and loss[0] != loss[1] and loss[4] != loss[3]
    assert all(np.array_equal(a, b) for a, b in zip(end, model_state(model), strict=True))
    with pytest.raises(PipelineError, match="model_state"):
        evaluate_path(model, loss_fn, start[:-1], end, [0.0])


def test_epoch_path_positions_run_from_epoch_zero_to_last():
    position, segment, t = epoch_path_positions(3, 2)
    assert np.allclose(position, [0, 0.5, 1, 1.5, 2, 2.5, 3])
    assert segment.tolist() == [1, 1, 1, 2, 2, 3, 3] and np.allclose(t, [0, 0.5, 1, 0.5, 1, 0.5, 1])


def test_geometry_file_round_trip_and_required_attributes(tmp_path):
    path = write_geometry(
        tmp_path / "s.h5",
        "sharpness",
        {"epochs": [1, 2], "eigenvalue": [3.0, 2.0], "wer": None},
        provenance(seed=3, config={}, code="abc", variant="v", hvp_method="double_backprop"),
        subset_ids=["a", "b"],
    )
    data = read_geometry(path, "sharpness")
    assert data["eigenvalue"].tolist() == [3.0, 2.0] and "wer" not in data
    assert data["subset_ids"] == ["a", "b"] and data["attrs"]["variant"] == "v"
    assert data["attrs"]["format"] == "lowrank-asr/sharpness" and "package_version" in data["attrs"]
    assert data["attrs"]["code_hash"] == "abc"
    with pytest.raises(PipelineError, match="not 'lowrank-asr/trajectory'"):
        read_geometry(path, "trajectory")
    with pytest.raises(PipelineError, match=r"\['seed'\]"):
        write_geometry(tmp_path / "t.h5", "trajectory", {}, {"variant": "v"})
    with pytest.raises(PipelineError, match="code_hash"):
        write_geometry(tmp_path / "t.h5", "trajectory", {}, {"variant": "v", "seed": 3})


def test_geometry_plots_from_files(tmp_path):
    from lowrank_asr.plotting.geometry import plot_interpolation, plot_sharpness, plot_trajectories

    xs, ys = np.linspace(-1, 2, 4), np.linspace(-0.5, 1, 3)
    traj, interp, sharp = [], [], []
    for k, variant in enumerate(["a", "b"]):
        loss = 1 + (k + 1) * np.add.outer(ys**2, xs**2)
        loss[0, 0] = np.nan  # a diverged point is masked, not fatal
        attrs = provenance(seed=1, config={}, code="abc", variant=variant)
        traj.append(
            read_geometry(
                write_geometry(
                    tmp_path / f"{variant}_t.h5",
                    "trajectory",
                    {
                        "xcoordinates": xs,
                        "ycoordinates": ys,
                        "loss": loss,
                        "epochs": [1, 2, 3],
                        "projections": [[1.5, 0.5], [0.7, -0.2], [0, 0]],
                        "explained_variance": [0.9, 0.08],
                        "residual": [0, 0, 0],
                    },
                    attrs,
                ),
                "trajectory",
            )
        )
        interp.append(
            read_geometry(
                write_geometry(
                    tmp_path / f"{variant}_i.h5",
                    "interpolation",
                    {
                        "t": [-0.5, 0.5, 1.5],
                        "loss": [5, 2, 3],
                        "wer": [1, 0.6, 0.8],
                        "path_position": [0, 1, 2],
                        "path_segment": [1, 1, 2],
                        "path_t": [0, 1, 1],
                        "path_loss": [5, 3, 2],
                        "path_wer": [1, 0.7, 0.6],
                    },
                    attrs,
                ),
                "interpolation",
            )
        )
        sharp.append(
            read_geometry(
                write_geometry(
                    tmp_path / f"{variant}_s.h5",
                    "sharpness",
                    {
                        "epochs": [1, 2],
                        "eigenvalue": [10.0, 5.0 + k],
                        "converged": [True, False],
                        "trace": [50.0, 40.0],
                        "trace_stderr": [2.0, 3.0],
                        "iterations": [4, 10],
                        "residual": [0.05, 2.0],
                    },
                    {**attrs, "tolerance": 0.01},
                ),
                "sharpness",
            )
        )
    outs = [
        plot_trajectories(traj, tmp_path / "t.png"),
        plot_trajectories(traj[:1], tmp_path / "t1.png"),
        plot_interpolation(interp[0], tmp_path / "i.png"),
        plot_sharpness(sharp, tmp_path / "s.png"),
    ]
    assert all(p.stat().st_size > 10_000 for p in outs)
    with pytest.raises(PipelineError, match="no trajectory files"):
        plot_trajectories([], tmp_path / "none.png")
