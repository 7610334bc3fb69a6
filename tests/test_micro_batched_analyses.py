"""Analyses in bounded memory (evaluation.batch_seconds): the subset loss, its gradient and Hessian-vector
products, the WER, the interpolation and integrated gradients summed over micro-batches equal one padded batch."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from conftest import seeded_weight_files
from lowrank_asr.attribution.asr import variant_attributions
from lowrank_asr.data.dataset import make_dataset
from lowrank_asr.data.subset import subset_micro_batches, subset_utterances
from lowrank_asr.errors import ConfigError
from lowrank_asr.geometry.hessian import ModelHVP
from lowrank_asr.geometry.interpolation import interpolations
from lowrank_asr.landscape.asr import variant_landscapes
from lowrank_asr.text.vocabulary import load_vocabulary
from lowrank_asr.trained_run.objective import subset_objective
from lowrank_asr.trained_run.run import load_trained

MODEL = {
    "blocks": [
        {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
        {"layers": 1, "channels": 16, "stride": 2, "repeat": 1},
    ],
    "embed_dim": 8,
    "pred_units": 16,
    "joint_units": 16,
}
SUBSET = 6
REL = 1e-5


@pytest.fixture(scope="module")
def setting(speech_corpus, tmp_path_factory):
    """Two weights files, the subset's durations and a budget that splits it into micro-batches of 1-2."""
    vocab = load_vocabulary(speech_corpus.vocab_path)
    paths = seeded_weight_files(MODEL, vocab.size, tmp_path_factory.mktemp("weights"))
    batch = next(
        iter(
            make_dataset(
                speech_corpus.shards,
                vocab,
                batch_size=SUBSET,
                training=False,
                seed=0,
                max_duration=None,
                batch_seconds=None,
            )
        )
    )
    durations = batch["audio_len"].numpy() / 16000
    budget = 1.05 * 2 * float(np.median(durations))
    common = {
        "model_cfg": MODEL,
        "vocab_path": speech_corpus.vocab_path,
        "data_files": speech_corpus.shards,
        "subset": SUBSET,
        "max_symbols_per_step": 5,  # for the analyses that decode (wer: true)
    }
    return speech_corpus, paths, batch, durations, budget, common


def one_batch_loss(batch, corpus, weights) -> float:
    """The mean loss of the subset as ONE padded batch, straight from the model (no analysis code)."""
    model, _ = load_trained(MODEL, corpus.vocab_path, weights)
    x, x_len = model.featurize(batch["audio"], batch["audio_len"])
    return float(
        tf.reduce_mean(model.utterance_loss(x, x_len, batch["labels"], batch["label_len"], joint_chunk=None))
    )


def test_budget_splits_the_subset_into_micro_batches(setting):
    _, paths, batch, durations, budget, common = setting
    obj = subset_objective(weights_path=paths[0], wer=False, batch_seconds=budget, **common)
    sizes = [int(p[0].shape[0]) for p in obj.parts]
    assert sum(sizes) == SUBSET and len(sizes) > 1 and max(sizes) <= 2
    vocab = load_vocabulary(common["vocab_path"])
    for b in subset_micro_batches(subset_utterances(common["data_files"], vocab, SUBSET), budget):
        assert b["audio"].shape[0] * b["audio"].shape[1] / 16000 <= budget  # padded seconds per pass
    assert obj.subset_ids == [
        v.decode() for v in batch["utt_id"].numpy().tolist()
    ]  # same utterances, same order
    obj.loss_fn()
    obj.gradient()
    assert obj.part_loss.experimental_get_tracing_count() == 1  # one trace for micro-batches of every shape


def test_grid_over_micro_batches_equals_one_batch_and_eval_loss(setting):
    corpus, paths, batch, _, budget, common = setting
    grid = {"grid": 3, "span": [-1.0, 1.0], "seed": 3, "wer": True, "progress": False}
    micro = list(variant_landscapes(weights_paths=paths, batch_seconds=budget, **common, **grid))
    whole = list(variant_landscapes(weights_paths=paths, batch_seconds=None, **common, **grid))
    for m, w, path in zip(micro, whole, paths, strict=True):
        reference = one_batch_loss(batch, corpus, path)
        assert m.eval_loss == pytest.approx(reference, rel=REL)
        assert w.eval_loss == pytest.approx(reference, rel=REL)
        assert m.grid.loss_array()[1, 1] == pytest.approx(m.eval_loss, rel=REL)  # the grid centre
        np.testing.assert_allclose(m.grid.loss_array(), w.grid.loss_array(), rtol=REL)
        np.testing.assert_array_equal(m.grid.metric_array(), w.grid.metric_array())  # greedy WER
        assert m.subset_ids == w.subset_ids
    assert micro[0].eval_loss != pytest.approx(micro[1].eval_loss, rel=1e-3)


@pytest.mark.parametrize("method", ["double_backprop", "finite_difference"])
def test_gradient_and_hessian_vector_product_sum_over_micro_batches(setting, method):
    _, paths, _, _, budget, common = setting
    micro = subset_objective(weights_path=paths[1], wer=False, batch_seconds=budget, **common)
    whole = subset_objective(weights_path=paths[1], wer=False, batch_seconds=None, **common)
    assert len(micro.parts) > 1 and len(whole.parts) == 1
    g_m = np.concatenate([g.numpy().ravel() for g in micro.gradient()])
    g_w = np.concatenate([g.numpy().ravel() for g in whole.gradient()])
    assert np.linalg.norm(g_m - g_w) <= REL * np.linalg.norm(g_w)
    before = [v.numpy().copy() for v in micro.model.weights]
    hvp_m = ModelHVP(micro.model, micro.part_loss, method, parts=micro.parts)
    hvp_w = ModelHVP(whole.model, whole.part_loss, method, parts=whole.parts)
    v = np.random.default_rng(0).standard_normal(hvp_m.dim)
    a, b = hvp_m(v), hvp_w(v)
    # float32 products summed in another order: measured 1e-6-5e-6 (double backprop), 1e-5-2e-5 (finite
    # differences of gradients, which amplify the rounding) on this corpus
    tol = 5 * REL if method == "double_backprop" else 1e-3
    assert np.linalg.norm(a - b) <= tol * np.linalg.norm(b)
    assert all(np.array_equal(x, y.numpy()) for x, y in zip(before, micro.model.weights, strict=True))


def test_interpolation_over_micro_batches_equals_one_batch(setting):
    _, paths, _, _, budget, common = setting
    kw = {"points": 3, "span": [-0.5, 1.5], "per_epoch": 1, "wer": True}
    micro = interpolations(weights_paths=paths, batch_seconds=budget, **common, **kw)
    whole = interpolations(weights_paths=paths, batch_seconds=None, **common, **kw)
    np.testing.assert_allclose(micro.loss, whole.loss, rtol=REL)
    np.testing.assert_allclose(micro.path_loss, whole.path_loss, rtol=REL)
    np.testing.assert_array_equal(micro.wer, whole.wer)


def test_an_utterance_longer_than_the_budget_fails_naming_it(setting):
    _, paths, batch, durations, _, common = setting
    longest = batch["utt_id"].numpy()[int(np.argmax(durations))].decode()
    with pytest.raises(ConfigError, match=rf"utterance {longest} lasts .*evaluation.batch_seconds"):
        subset_objective(
            weights_path=paths[0], wer=False, batch_seconds=float(max(durations)) * 0.9, **common
        )


def test_integrated_gradients_under_a_budget_equal_one_pass(setting):
    corpus, paths, _, durations, _, _ = setting
    common = {
        "model_cfg": MODEL,
        "vocab_path": corpus.vocab_path,
        "data_files": corpus.shards,
        "utterances": 2,
        "steps": 8,
        "baseline": "silence",
        "blur_sigma": (10.0, 4.0),  # unused by the silence baseline
        "max_symbols_per_step": 5,
        "weights_paths": paths[:1],
    }
    [one_pass] = variant_attributions(
        batch_size=9, batch_seconds=None, **common
    )  # all 9 path points in one pass
    budget = 2.5 * float(max(durations[:2]))  # 2 points per pass
    [budgeted] = variant_attributions(batch_size=9, batch_seconds=budget, **common)
    for a, b in zip(budgeted, one_pass, strict=True):
        assert a.utt_id == b.utt_id and a.hypothesis == b.hypothesis
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-6)
        assert a.f_input == pytest.approx(b.f_input, rel=REL) and a.f_baseline == pytest.approx(
            b.f_baseline, rel=REL
        )
