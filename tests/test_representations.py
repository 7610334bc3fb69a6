"""Representation analysis: kernel and activation spectra, linear CKA, block outputs, low-rank truncation."""

from pathlib import Path

import keras
import numpy as np
import pytest

from lowrank_asr.compression.truncation import (
    encoder_dense_weights,
    factor_params,
    layer_params,
    rank_for_fraction,
    snapshot_dense_weights,
    truncate,
    truncate_encoder,
    truncated_svd,
)
from lowrank_asr.errors import PipelineError
from lowrank_asr.hdf5 import provenance
from lowrank_asr.models import build_model
from lowrank_asr.representations.blocks import block_outputs, block_reductions, pool_frames
from lowrank_asr.representations.cka import StreamingCKA, linear_cka
from lowrank_asr.representations.kernels import conv_reference, encoder_kernels
from lowrank_asr.representations.spectra import (
    CovarianceAccumulator,
    components_for_variance,
    effective_rank,
    kernel_spectrum,
    numerical_rank,
    singular_values,
    stable_rank,
    valid_frames,
)
from lowrank_asr.training.precise_bn import PreciseBatchNorm, batchnorm_layers

# config/smoke.yaml's encoder (3 blocks, strides 1, 2, 2; one residual block), a CTC head to build fast.
SMOKE = {
    "blocks": [
        {"layers": 1, "channels": 32, "stride": 1, "repeat": 1},
        {"layers": 2, "channels": 32, "stride": 2, "repeat": 1},
        {"layers": 1, "channels": 48, "stride": 2, "repeat": 1},
    ],
    "kernel_size": 5,
    "decoder": "ctc",
}
VARIANTS = {
    "separable": {},
    "lowrank": {"conv": "lowrank"},
    "rank2": {"conv": "rank", "rank": 2},
    "wave": {"frontend": "wave", "wave_frontend": {"filters": 8, "kernel": 400, "stride": 160}},
}


@pytest.fixture(scope="module")
def models():
    out = {}
    for name, over in VARIANTS.items():
        keras.utils.set_random_seed(7)
        out[name] = build_model({**SMOKE, **over}, 12)
    return out


def _orthonormal(n: int, k: int, rng) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((n, k)))[0]


def _audio(lengths=(8000, 5200), seed=0):
    rng = np.random.default_rng(seed)
    audio = np.zeros((len(lengths), max(lengths)), np.float32)
    for b, n in enumerate(lengths):
        audio[b, :n] = 0.1 * rng.standard_normal(n)
    return audio, np.array(lengths, np.int32)


# ----------------------------------------------------------------------------------------------- spectra
def test_effective_and_stable_rank_exact_on_matrices_of_known_spectrum():
    rng = np.random.default_rng(0)
    u, v = _orthonormal(9, 5, rng), _orthonormal(7, 5, rng)
    for s in ([3.0, 3.0, 3.0, 0.0, 0.0], [4.0, 2.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]):
        s = np.array(s)
        m = u @ np.diag(s) @ v.T
        got = singular_values(m)
        np.testing.assert_allclose(got[:5], s, atol=1e-12)
        p = s[s > 0] / s.sum()
        assert effective_rank(got) == pytest.approx(np.exp(-np.sum(p * np.log(p))), abs=1e-9)
        assert stable_rank(got) == pytest.approx(np.sum(s**2) / s.max() ** 2, abs=1e-12)
        assert numerical_rank(got) == np.count_nonzero(s)
    equal = np.array([2.0, 2.0, 2.0])
    assert effective_rank(equal) == pytest.approx(3.0) and stable_rank(equal) == pytest.approx(3.0)
    assert effective_rank(np.zeros(4)) == 0.0 and stable_rank(np.zeros(4)) == 0.0


def test_kernel_spectrum_of_a_kernel_with_known_filter_ranks():
    rng = np.random.default_rng(1)
    k, c, o = 5, 6, 4
    w = np.zeros((k, c, o))
    for f in range(o):  # filter f has rank f + 1 with singular values 1, 1/2, ...
        s = 1.0 / (1.0 + np.arange(f + 1))
        w[:, :, f] = _orthonormal(k, f + 1, rng) @ np.diag(s) @ _orthonormal(c, f + 1, rng).T
    spec = kernel_spectrum(w)
    assert spec.filter_rank.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(spec.filter_singular_values[3], [1, 1 / 2, 1 / 3, 1 / 4, 0], atol=1e-12)
    assert spec.filter_stable_rank[0] == pytest.approx(1.0) and spec.filter_effective_rank[
        0
    ] == pytest.approx(1.0)
    np.testing.assert_allclose(spec.singular_values, np.linalg.svd(w.reshape(k * c, o), compute_uv=False))
    assert spec.singular_values.shape == (o,) and spec.filter_singular_values.shape == (o, k)
    with pytest.raises(PipelineError, match="kernel"):
        kernel_spectrum(w[0])


# ------------------------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_effective_kernels_reproduce_every_conv_layer_output(models, variant):
    model = models[variant]
    layers = {}
    if model.wave is not None:
        layers["wave_frontend/conv"] = model.wave.conv
    for block in model.encoder.blocks:
        for i, layer in enumerate(block.layers_):
            layers[f"{block.spec.name}/conv{i}"] = layer.conv
        if block.spec.residual:
            layers[f"{block.spec.name}/res_conv"] = block.res_conv
    kernels = encoder_kernels(model)
    assert [kern.name for kern in kernels] == list(layers)
    rng = np.random.default_rng(2)
    for kern in kernels:
        x = rng.standard_normal((2, 1000 if kern.padding == "valid" else 23, kern.kernel.shape[1]))
        y = layers[kern.name](x.astype(np.float32)).numpy()
        ref = conv_reference(x, kern.kernel, kern.stride, kern.padding)
        assert y.shape == ref.shape, kern.name
        np.testing.assert_allclose(y, ref, atol=1e-5, err_msg=kern.name)


@pytest.mark.parametrize("variant,rank", [("lowrank", 1), ("rank2", 2), ("separable", 5)])
def test_per_filter_rank_of_each_variant(models, variant, rank):
    """lowrank filters are rank 1 and rank-2 filters rank 2 to numerical precision; separable ones are full."""
    convs = [kern for kern in encoder_kernels(models[variant]) if "/conv" in kern.name]
    assert len(convs) == 4
    for kern in convs:
        spec = kernel_spectrum(kern.kernel)
        assert set(spec.filter_rank.tolist()) == {rank}, kern.name
        if rank < 5:  # the discarded singular values are at float32 rounding level
            assert np.max(spec.filter_singular_values[:, rank:] / spec.filter_singular_values[:, :1]) < 1e-6
        folded = kernel_spectrum(kern.folded())
        assert set(folded.filter_rank.tolist()) == {rank}


@pytest.mark.parametrize("variant", ["separable", "lowrank", "wave"])
def test_layer_spectra_invariant_to_rescaling_filters_that_a_batch_norm_follows(models, variant):
    """BN makes each output filter's scale irrelevant to the function: rescaling filters by exp(N(0, 0.7)) must
    leave the layer-level effective and stable rank where they were (they moved from 46 to 37 and from 21 to 5
    on raw kernels), while a kernel without a BN after it (the wave front end) keeps its raw spectrum."""
    import dataclasses

    rng = np.random.default_rng(11)
    for kern in encoder_kernels(models[variant]):
        scales = np.exp(rng.normal(0.0, 0.7, kern.kernel.shape[2]))
        rescaled = dataclasses.replace(kern, kernel=kern.kernel * scales[None, None, :])
        before, after = kernel_spectrum(kern.normalised()), kernel_spectrum(rescaled.normalised())
        if kern.bn_scale is None:
            assert kern.name == "wave_frontend/conv"
            np.testing.assert_array_equal(kern.normalised(), kern.kernel)
            continue
        assert after.effective_rank == pytest.approx(before.effective_rank, rel=1e-9), kern.name
        assert after.stable_rank == pytest.approx(before.stable_rank, rel=1e-9), kern.name
        np.testing.assert_allclose(after.singular_values, before.singular_values, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(kern.normalised(), axis=(0, 1)), 1.0, rtol=1e-12)
        # the raw spectrum does move (so the check above could fail)
        raw_before, raw_after = kernel_spectrum(kern.kernel), kernel_spectrum(rescaled.kernel)
        assert abs(raw_after.stable_rank - raw_before.stable_rank) > 1e-3 * raw_before.stable_rank, kern.name


def test_normalised_kernel_keeps_zero_filters_zero():
    from lowrank_asr.representations.kernels import ConvKernel

    w = np.zeros((3, 2, 4))
    w[:, :, 1] = 2.0
    kern = ConvKernel("B/conv0", "B", "separable", w, 1, "centred", np.ones(4))
    out = kern.normalised()
    assert np.all(np.isfinite(out)) and np.all(out[:, :, [0, 2, 3]] == 0)
    assert np.linalg.norm(out[:, :, 1]) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------- activation spectra
def test_block_output_in_a_d_dimensional_subspace_gives_d():
    rng = np.random.default_rng(3)
    d, dim, lengths = 4, 16, np.array([50, 37, 12])
    basis = _orthonormal(dim, d, rng)
    acc = CovarianceAccumulator(dim)
    everything = []
    for _ in range(20):  # streamed batches; padded frames hold garbage that must be ignored
        y = rng.standard_normal((3, 50, d)) @ basis.T + 5.0
        y[np.arange(50)[None, :] >= lengths[:, None]] = 1e3 * rng.standard_normal(dim)
        frames = valid_frames(y, lengths).astype(np.float32)
        assert frames.shape == (lengths.sum(), dim)
        acc.update(frames)
        everything.append(frames)
    spec = acc.spectrum()
    assert spec.frames == 20 * lengths.sum()
    assert spec.components.tolist() == [d, d, d]
    assert numerical_rank(np.sqrt(spec.eigenvalues), rtol=1e-6) == d
    assert spec.effective_rank == pytest.approx(d, abs=0.1)
    np.testing.assert_allclose(
        acc.covariance(), np.cov(np.concatenate(everything).astype(np.float64).T), atol=1e-10
    )


def test_components_for_variance_counts():
    lam = np.array([5.0, 3.0, 1.5, 0.4, 0.1])  # cumulative 0.5, 0.8, 0.95, 0.99, 1.0
    assert components_for_variance(lam).tolist() == [3, 3, 4]
    assert components_for_variance(lam, [0.5, 1.0]).tolist() == [1, 5]
    assert components_for_variance(np.zeros(3)).tolist() == [0, 0, 0]


# -------------------------------------------------------------------------------------------------- CKA
def test_cka_invariances_symmetry_and_one_for_itself():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 10)) @ rng.standard_normal((10, 10))
    y = np.tanh(x[:, :6] + 0.5 * rng.standard_normal((500, 6)))
    rotation = _orthonormal(10, 10, rng)
    base = linear_cka(x, y)
    assert 0.05 < base < 0.95
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x @ rotation, x) == pytest.approx(1.0)
    assert linear_cka(x @ rotation, y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(3.7 * x + 2.0, y) == pytest.approx(base, abs=1e-12)  # scaling and offset
    assert linear_cka(y, x) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x[:, :3], x[:, 3:]) != pytest.approx(1.0)


def test_cka_equals_the_centred_gram_formula():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((60, 7)), rng.standard_normal((60, 4)) + rng.standard_normal((60, 1))
    h = np.eye(60) - 1.0 / 60
    k, m = h @ x @ x.T @ h, h @ y @ y.T @ h
    hsic = np.sum(k * m) / np.sqrt(np.sum(k * k) * np.sum(m * m))
    assert linear_cka(x, y) == pytest.approx(hsic, abs=1e-12)


def test_cka_near_zero_for_independent_features():
    """E[CKA] ≈ √(p·q)/n for independent isotropic features; assert below 3× that."""
    rng = np.random.default_rng(6)
    n, p, q = 20000, 16, 8
    value = linear_cka(rng.standard_normal((n, p)), rng.standard_normal((n, q)))
    assert value < 3 * np.sqrt(p * q) / n


def test_streamed_cka_equals_one_shot_and_uses_fixed_memory():
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((300, 5)), rng.standard_normal((300, 3))]
    ys = [
        xs[0] @ rng.standard_normal((5, 4)) + 0.1 * rng.standard_normal((300, 4)),
        rng.standard_normal((300, 6)),
    ]
    acc = StreamingCKA([5, 3], [4, 6])
    sizes = []
    for start in range(0, 300, 70):
        acc.update(
            [x[start : start + 70].astype(np.float32) for x in xs],
            [y[start : start + 70].astype(np.float32) for y in ys],
        )
        sizes.append(sum(a.nbytes for row in acc.cross for a in row))
    assert len(set(sizes)) == 1
    got = acc.matrix()
    assert got.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            assert got[i, j] == pytest.approx(
                linear_cka(xs[i].astype(np.float32), ys[j].astype(np.float32)), abs=1e-12
            )
    assert got[0, 0] > 0.5 > got[1, 0]
    with pytest.raises(PipelineError, match="same frames"):
        acc.update([xs[0][:5], xs[1][:4]], [ys[0][:5], ys[1][:5]])


# ------------------------------------------------------------------------------------------ block outputs
def test_block_outputs_masks_and_last_block_equal_encode(models):
    model = models["separable"]
    audio, audio_len = _audio()
    outs = block_outputs(model, audio, audio_len)
    assert len(outs) == 3 and block_reductions(model) == [1, 2, 4]
    x, x_len = model.featurize(audio, audio_len)
    x_len = x_len.numpy()
    for (y, lengths), red, spec in zip(outs, block_reductions(model), model.specs, strict=True):
        assert y.shape[0] == 2 and y.shape[2] == spec.channels
        np.testing.assert_array_equal(lengths, -(-x_len // red))
        padded = np.arange(y.shape[1])[None, :] >= lengths[:, None]
        assert np.all(y[padded] == 0) and np.any(padded)
        assert np.abs(valid_frames(y, lengths)).sum(axis=1).min() > 0
    enc, enc_len = model.encode(x, x_len, training=False)
    np.testing.assert_allclose(outs[-1][0], enc.numpy(), atol=1e-6)
    np.testing.assert_array_equal(outs[-1][1], enc_len.numpy())
    # the shorter utterance alone gives the same valid frames as inside the padded batch
    alone = block_outputs(model, audio[1:, : audio_len[1]], audio_len[1:])
    for (y, lengths), (y1, len1) in zip(outs, alone, strict=True):
        np.testing.assert_allclose(valid_frames(y[1:], lengths[1:]), valid_frames(y1, len1), atol=1e-5)


def test_block_outputs_of_the_wave_front_end_model(models):
    model = models["wave"]
    audio, audio_len = _audio((4000, 2400))
    outs = block_outputs(model, audio, audio_len)
    frames = 1 + (audio_len - 400) // 160
    np.testing.assert_array_equal(outs[-1][1], -(-frames // 4))


def test_pool_frames_averages_valid_frames_only():
    y = np.arange(2 * 5 * 1, dtype=np.float64).reshape(2, 5, 1)  # utterance 0: 0..4, utterance 1: 5..9
    pooled, lengths = pool_frames(y, np.array([5, 3]), 2)
    assert lengths.tolist() == [3, 2]
    np.testing.assert_allclose(pooled[0, :, 0], [0.5, 2.5, 4.0])
    np.testing.assert_allclose(pooled[1, :2, 0], [5.5, 7.0])  # frame 8 is padding and not averaged
    same, same_len = pool_frames(y, np.array([5, 3]), 1)
    # a factor of 1 keeps every valid frame as it is
    assert same_len.tolist() == [5, 3]
    np.testing.assert_allclose(same[0, :5, 0], y[0, :5, 0])
    np.testing.assert_allclose(same[1, :3, 0], y[1, :3, 0])


# -------------------------------------------------------------------------------------------- truncation
def test_truncation_full_rank_reproduces_and_rank_r_is_best_approximation():
    rng = np.random.default_rng(8)
    w = rng.standard_normal((12, 7))
    np.testing.assert_allclose(truncate(w, 7), w, atol=1e-12)
    s = np.linalg.svd(w, compute_uv=False)
    for r in (1, 3, 6):
        approx = truncate(w, r)
        assert np.linalg.matrix_rank(approx) == r
        assert np.linalg.norm(w - approx) == pytest.approx(np.sqrt(np.sum(s[r:] ** 2)))
        a, b = truncated_svd(w, r)
        assert a.size + b.size == factor_params(12, 7, r) == r * (12 + 7)
    with pytest.raises(PipelineError, match="rank"):
        truncate(w, 8)


def test_parameter_count_of_a_rank_r_layer():
    assert factor_params(64, 32, 5) == 5 * (64 + 32)
    assert layer_params(64, 32, 5) == 5 * 96  # factors are smaller than the dense weight
    assert layer_params(64, 32, 30) == 64 * 32  # not worth factorising: counted dense
    assert rank_for_fraction((64, 32), 0.25) == 8 and rank_for_fraction((64, 32), 1.0) == 32
    assert rank_for_fraction((64, 32), 0.001) == 1
    # ⌈f · min(C, O)⌉, values worked out by hand: 0.25 · 10 = 2.5 -> 3 (round-half-even would give 2)
    hand = {
        ((10, 16), 0.25): 3,
        ((16, 10), 0.25): 3,
        ((10, 16), 0.5): 5,
        ((7, 9), 0.5): 4,
        ((30, 40), 0.1): 3,
        ((144, 144), 0.25): 36,
        ((6, 100), 0.34): 3,
        ((6, 100), 1 / 3): 2,
        ((5, 5), 0.01): 1,
    }
    assert {key: rank_for_fraction(*key) for key in hand} == hand
    with pytest.raises(PipelineError, match="fraction"):
        rank_for_fraction((4, 4), 0.0)


def test_truncate_encoder_full_rank_keeps_outputs_and_low_rank_counts(models):
    model = models["lowrank"]
    audio, audio_len = _audio()
    before = block_outputs(model, audio, audio_len)[-1][0]
    originals = snapshot_dense_weights(model)
    n_params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # params: trainable ones only
    assert n_params < model.count_params()  # which leaves out the batch norms' moving statistics
    assert len(originals) == 1 + 2 + 1 + 1 + 3 * 2  # pointwise per conv layer, one res_conv, SE fc1/fc2 x3
    full = truncate_encoder(model, 1.0, originals)
    assert full.model_params == n_params
    np.testing.assert_array_equal(
        block_outputs(model, audio, audio_len)[-1][0], before
    )  # weights kept as they are

    low = truncate_encoder(model, 0.25, originals)
    variables = encoder_dense_weights(model)
    saved = 0
    for layer in low.layers:
        c, o = layer.shape
        assert layer.rank == max(1, round(0.25 * min(c, o)))
        assert np.linalg.matrix_rank(variables[layer.path].numpy(), tol=1e-5) == layer.rank
        assert layer.params == min(c * o, layer.rank * (c + o))
        saved += c * o - layer.params
    assert low.model_params == n_params - saved and saved > 0
    assert not np.allclose(block_outputs(model, audio, audio_len)[-1][0], before, atol=1e-3)
    truncate_encoder(model, 1.0, originals)  # restore for the other tests
    np.testing.assert_array_equal(block_outputs(model, audio, audio_len)[-1][0], before)


@pytest.mark.parametrize("variant", ["rank2", "wave"])
def test_compression_batch_norm_reestimation_pools_valid_frames(models, variant):
    """The sweep's BN re-estimation (precise batch norm) sets each BN layer to the mean / variance of all valid
    frames of the batches pooled, checked on the first conv's BN against numpy; every layer, the wave front end
    model's included, gets statistics from the pass (else it raises)."""
    model = models[variant]
    norms = batchnorm_layers(model)
    assert len(norms) == 4 + 1  # one per conv layer and the residual branch's; the wave front end has none
    saved = [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in norms]
    first = model.encoder.blocks[0].layers_[0]
    batches = [
        dict(zip(("audio", "audio_len"), _audio(lens, seed), strict=True))
        for seed, lens in enumerate([(8000, 5200), (6000, 3000)])
    ]
    frames = []
    for batch in batches:
        x, x_len = model.featurize(batch["audio"], batch["audio_len"])
        if model.wave is not None:
            x, x_len = model.wave(x, x_len)
        frames.append(valid_frames(first.conv(x).numpy().astype(np.float64), x_len.numpy()))
    pooled = np.concatenate(frames)
    try:
        assert PreciseBatchNorm(model).recompute(batches) == 2
        np.testing.assert_allclose(first.bn.moving_mean.numpy(), pooled.mean(axis=0), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(first.bn.moving_variance.numpy(), pooled.var(axis=0), rtol=1e-4, atol=1e-6)
        # pooled, not the average of per-batch means: the batches have different frame counts
        assert not np.allclose(
            pooled.mean(axis=0), np.mean([f.mean(axis=0) for f in frames], axis=0), atol=1e-6
        )
        for bn, (mean, var) in zip(norms, saved, strict=True):
            assert not np.array_equal(bn.moving_mean.numpy(), mean) and not np.array_equal(
                bn.moving_variance.numpy(), var
            )
        with pytest.raises(PipelineError, match="no batch"):
            PreciseBatchNorm(model).recompute([])
    finally:
        for bn, (mean, var) in zip(norms, saved, strict=True):
            bn.moving_mean.assign(mean)
            bn.moving_variance.assign(var)


# ------------------------------------------------------------------------------ subset, analyses, HDF5 files
def test_the_analysis_subset_is_the_first_utterances_and_make_dataset_keeps_only_it(speech_corpus):
    """One subset rule for every analysis: representations see the utterances the landscape and attribution see."""
    from lowrank_asr.data.dataset import make_dataset
    from lowrank_asr.data.subset import all_utt_ids, subset_ids, subset_utterances
    from lowrank_asr.text.vocabulary import load_vocabulary

    everything = all_utt_ids(speech_corpus.shards)
    assert len(everything) == 8
    ids = subset_ids(speech_corpus.shards, 5)
    assert ids == everything[:5]
    assert subset_ids(speech_corpus.shards, 50) == everything
    vocab = load_vocabulary(speech_corpus.vocab_path)
    assert [u["utt_id"] for u in subset_utterances(speech_corpus.shards, vocab, 5)] == ids
    data = make_dataset(
        speech_corpus.shards,
        vocab,
        batch_size=2,
        training=False,
        seed=0,
        utt_ids=ids,
        max_duration=None,
        batch_seconds=None,
    )
    assert [u.decode() for b in data for u in b["utt_id"].numpy().tolist()] == ids


@pytest.fixture(scope="module")
def trained(speech_corpus, tmp_path_factory):
    """Two 'epochs' (different seeds) of the lowrank smoke model and a separable one, as weights files."""
    from lowrank_asr.models import save_weights
    from lowrank_asr.text.vocabulary import load_vocabulary

    vocab = load_vocabulary(speech_corpus.vocab_path)
    root = tmp_path_factory.mktemp("weights")
    out = {}
    for name, over, seed in [
        ("low1", {"conv": "lowrank"}, 1),
        ("low2", {"conv": "lowrank"}, 2),
        ("sep", {}, 3),
    ]:
        keras.utils.set_random_seed(seed)
        save_weights(build_model({**SMOKE, **over}, vocab.size), root / f"{name}.weights.h5")
        out[name] = ({**SMOKE, **over}, root / f"{name}.weights.h5")
    return out


def test_variant_representations_stream_and_write(speech_corpus, trained, tmp_path):
    from lowrank_asr.representations.analysis import variant_representations
    from lowrank_asr.representations.io import read_representations, write_representations

    cfg, w1 = trained["low1"]
    w2 = trained["low2"][1]
    kw = dict(
        model_cfg=cfg,
        vocab_path=speech_corpus.vocab_path,
        data_files=speech_corpus.shards,
        subset=6,
        epoch_weights={2: w2, 1: w1},
        final_weights_path=w2,
    )
    small = dict(variant_representations(batch_size=2, batch_seconds=None, **kw))
    big = dict(variant_representations(batch_size=8, batch_seconds=None, **kw))
    assert list(small) == [1, 2]
    assert small[1].subset_ids == big[1].subset_ids == small[2].subset_ids and len(small[1].subset_ids) == 6
    np.testing.assert_allclose(small[1].cka_final, big[1].cka_final, atol=1e-9)  # batching does not matter
    # batches by duration (evaluation.batch_seconds): the same utterances, maybe in another order, same statistics
    from lowrank_asr.data.dataset import scan_durations

    longest = max(u.duration for u in scan_durations(speech_corpus.shards))
    budget = dict(variant_representations(batch_size=8, batch_seconds=2.05 * longest, **kw))
    assert sorted(budget[1].subset_ids) == sorted(big[1].subset_ids)
    np.testing.assert_allclose(budget[1].cka_final, big[1].cka_final, atol=1e-6)
    for a, b in zip(budget[1].activations, big[1].activations, strict=True):
        assert a.frames == b.frames
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-5, atol=1e-8)
    for a, b in zip(small[1].activations, big[1].activations, strict=True):
        assert a.frames == b.frames
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-6, atol=1e-9)
    assert small[1].cka_final.shape == (3, 3) and np.all((small[1].cka_final > 0) & (small[1].cka_final < 1))
    np.testing.assert_allclose(np.diag(small[2].cka_final), 1.0, atol=1e-9)  # the final epoch against itself
    assert {spec.filter_rank.max() for k, spec in small[1].kernels if "/conv" in k.name} == {1}

    path = write_representations(
        tmp_path / "lowrank" / "epoch_001.h5",
        small[1],
        provenance(seed=0, config={}, code="abc", variant="lowrank", epoch=1, final_epoch=2, split="x"),
    )
    back = read_representations(path)
    assert back["attrs"]["variant"] == "lowrank" and back["attrs"]["format"] == "lowrank-asr/representations"
    assert back["attrs"]["code_hash"] == "abc" and back["attrs"]["package_version"]
    assert back["blocks"] == ["C0", "C1", "C2"] and back["subset_ids"] == small[1].subset_ids
    np.testing.assert_allclose(back["cka_final"], small[1].cka_final)
    assert back["kernels"]["C1"]["conv1"]["filter_rank"].tolist() == [1] * 32
    conv = back["kernels"]["C1"]["conv1"]
    assert conv["attrs"]["normalisation"] == "unit_filter_norm"
    np.testing.assert_allclose(
        np.sum(conv["filter_singular_values"] ** 2, axis=1), 1.0, rtol=1e-9
    )  # unit filters
    assert back["activations"]["C2"]["attrs"]["frames"] == small[1].activations[2].frames
    with pytest.raises(PipelineError, match="final_epoch"):
        write_representations(
            tmp_path / "x.h5", small[1], provenance(seed=0, config={}, code="abc", variant="v", epoch=1)
        )
    with pytest.raises(PipelineError, match="code_hash"):
        write_representations(
            tmp_path / "x.h5", small[1], {"variant": "v", "epoch": 1, "seed": 0, "final_epoch": 2}
        )


def test_variant_similarities_pairs_and_file(speech_corpus, trained, tmp_path):
    from lowrank_asr.representations.analysis import variant_similarities
    from lowrank_asr.representations.io import read_variant_similarity, write_variant_similarity

    names = ["low1", "copy", "sep"]
    cfgs = {n: trained["low1" if n == "copy" else n][0] for n in names}
    paths = {n: trained["low1" if n == "copy" else n][1] for n in names}
    epochs = {1: paths, 2: {**paths, "copy": trained["low2"][1]}}
    results = list(
        variant_similarities(
            model_cfgs=cfgs,
            vocab_path=speech_corpus.vocab_path,
            epoch_weights=epochs,
            data_files=speech_corpus.shards,
            subset=4,
            batch_size=3,
            batch_seconds=None,
        )
    )
    assert [r[0] for r in results] == [1, 2]
    _, cka, ids = results[0]
    assert list(cka) == [("low1", "copy"), ("low1", "sep"), ("copy", "sep")] and len(ids) == 4
    np.testing.assert_allclose(cka[("low1", "copy")], cka[("low1", "copy")].T, atol=1e-9)
    np.testing.assert_allclose(np.diag(cka[("low1", "copy")]), 1.0, atol=1e-9)
    np.testing.assert_allclose(cka[("low1", "sep")], cka[("copy", "sep")], atol=1e-9)
    assert np.all(np.diag(results[1][1][("low1", "copy")]) < 1 - 1e-3)  # epoch 2 loaded other weights
    blocks = {n: ["C0", "C1", "C2"] for n in names}
    path = write_variant_similarity(
        tmp_path / "variants_epoch_001.h5",
        cka,
        blocks,
        ids,
        provenance(seed=1, config={}, code="abc", epoch=1),
    )
    back = read_variant_similarity(path)
    assert set(back["cka"]) == set(cka) and back["attrs"]["variants"] == names
    np.testing.assert_allclose(back["cka"][("low1", "sep")][0], cka[("low1", "sep")])


def test_compression_sweep_full_rank_equals_evaluation(speech_corpus):
    from lowrank_asr.compression.sweep import compression_sweep
    from lowrank_asr.data.dataset import make_dataset
    from lowrank_asr.evaluation.transcribe import transcribe
    from lowrank_asr.metrics import error_rates
    from lowrank_asr.models.summary import trainable_params
    from lowrank_asr.text.vocabulary import load_vocabulary

    vocab = load_vocabulary(speech_corpus.vocab_path)
    keras.utils.set_random_seed(4)
    model = build_model(
        {**SMOKE, "decoder": "rnnt", "embed_dim": 8, "pred_units": 16, "joint_units": 16}, vocab.size
    )

    def data():
        return make_dataset(
            speech_corpus.shards,
            vocab,
            batch_size=4,
            training=False,
            seed=0,
            max_duration=None,
            batch_seconds=None,
        )

    rows, _ = transcribe(model, data(), vocab, beam_width=None, max_symbols_per_step=2, progress=False)
    evaluated = error_rates([r.reference for r in rows], [r.greedy for r in rows])
    weights = [w.numpy().copy() for w in model.weights]
    n_params = trainable_params(model)  # as the WER table counts: BN moving statistics left out
    sweep = compression_sweep(
        model, vocab, [0.25, 1.0], {"dev": data}, data, calibration_batches=2, max_symbols_per_step=2
    )
    full, low = sweep
    assert [r["fraction"] for r in sweep] == [1.0, 0.25]
    assert (full["greedy_wer"], full["greedy_cer"]) == (evaluated.wer, evaluated.cer), evaluated
    assert evaluated.cer not in (
        0.0,
        1.0,
    )  # random weights emit many characters: a value that tells decodes apart
    assert full["params"] == n_params and full["recalibration_batches"] == 0
    assert low["params"] < n_params and low["recalibration_batches"] == 2 and low["utterances"] == 8
    for before, after in zip(weights, model.weights, strict=True):  # weights and BN statistics restored
        np.testing.assert_array_equal(before, after.numpy())


def test_representations_and_compression_splits_are_prepared():
    from lowrank_asr.workflow.config import all_splits, analysis_epochs, load_config

    config = load_config(Path(__file__).resolve().parents[1] / "config" / "smoke.yaml")
    config["representations"]["split"] = "test-other"
    config["data"]["dev_splits"] = []
    config["evaluation"]["splits"] = []
    config["data"]["test_splits"] = ["test-clean"]
    assert "test-other" in all_splits(config)
    config["compression"]["splits"] = ["train-other-500"]
    assert "train-other-500" in all_splits(config)
    config["representations"]["epochs"] = "last"
    assert analysis_epochs(config, "representations") == [config["training"]["epochs"]]
