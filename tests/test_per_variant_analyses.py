"""One job per variant: the loss grids and attributions of several epochs from one built and traced model equal
those of separate per-epoch calls (a stale trace or a model that kept the first epoch's weights would differ)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import seeded_weight_files
from lowrank_asr.attribution.asr import epoch_attributions, variant_attributions
from lowrank_asr.errors import ConfigError, PipelineError
from lowrank_asr.landscape.asr import epoch_landscape, variant_landscapes
from lowrank_asr.text.vocabulary import load_vocabulary
from lowrank_asr.workflow.config import per_variant_jobs

MODEL = {
    "blocks": [
        {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
        {"layers": 1, "channels": 16, "stride": 2, "repeat": 1},
    ],
    "embed_dim": 8,
    "pred_units": 16,
    "joint_units": 16,
}
GRID = {
    "grid": 3,
    "span": [-1.0, 1.0],
    "subset": 4,
    "seed": 3,
    "wer": False,
    "max_symbols_per_step": None,
    "batch_seconds": None,
}
IG = {
    "utterances": 2,
    "steps": 8,
    "baseline": "silence",
    "blur_sigma": (10.0, 4.0),
    "batch_size": 16,
    "max_symbols_per_step": 5,
    "batch_seconds": None,
}


@pytest.fixture(scope="module")
def two_epochs(speech_corpus, tmp_path_factory):
    """Two weights files of the same architecture (different initialisations stand in for two epochs)."""
    vocab = load_vocabulary(speech_corpus.vocab_path)
    paths = seeded_weight_files(MODEL, vocab.size, tmp_path_factory.mktemp("weights"))
    return speech_corpus, paths


def test_variant_landscapes_equal_per_epoch_calls(two_epochs):
    corpus, paths = two_epochs
    common = {
        "model_cfg": MODEL,
        "vocab_path": corpus.vocab_path,
        "data_files": corpus.shards,
        "progress": False,
        **GRID,
    }
    together = list(variant_landscapes(weights_paths=paths, **common))
    alone = [epoch_landscape(weights_path=p, **common) for p in paths]
    assert len(together) == 2
    for t, a in zip(together, alone, strict=True):
        np.testing.assert_allclose(t.grid.loss_array(), a.grid.loss_array(), rtol=1e-6, atol=1e-6)
        assert t.eval_loss == pytest.approx(a.eval_loss, rel=1e-6)
        assert t.subset_ids == a.subset_ids
    # the second epoch's grid is its own, not the first one's again
    assert not np.allclose(together[0].grid.loss_array(), together[1].grid.loss_array(), rtol=1e-3)


def test_variant_landscapes_shard_equals_per_epoch_shard(two_epochs):
    corpus, paths = two_epochs
    common = {
        "model_cfg": MODEL,
        "vocab_path": corpus.vocab_path,
        "data_files": corpus.shards,
        "progress": False,
        "shard": 1,
        "n_shards": 2,
        **GRID,
    }
    together = list(variant_landscapes(weights_paths=paths, **common))
    for t, p in zip(together, paths, strict=True):
        a = epoch_landscape(weights_path=p, **common)
        np.testing.assert_array_equal(t.grid.points, a.grid.points)
        np.testing.assert_allclose(t.grid.loss, a.grid.loss, rtol=1e-6, atol=1e-6)


def test_variant_attributions_equal_per_epoch_calls(two_epochs):
    corpus, paths = two_epochs
    common = {"model_cfg": MODEL, "vocab_path": corpus.vocab_path, "data_files": corpus.shards, **IG}
    together = list(variant_attributions(weights_paths=paths, **common))
    alone = [epoch_attributions(weights_path=p, **common) for p in paths]
    assert len(together) == 2
    for t_items, a_items in zip(together, alone, strict=True):
        assert [i.utt_id for i in t_items] == [i.utt_id for i in a_items]
        for t, a in zip(t_items, a_items, strict=True):
            np.testing.assert_allclose(t.attributions, a.attributions, rtol=1e-6, atol=1e-6)
            np.testing.assert_array_equal(t.features, a.features)
            assert t.f_input == pytest.approx(a.f_input, rel=1e-6)
            assert t.f_baseline == pytest.approx(a.f_baseline, rel=1e-6)
            assert t.hypothesis == a.hypothesis
    assert together[0][0].f_input != pytest.approx(together[1][0].f_input, rel=1e-3)


def test_per_variant_entry_points_need_weights(two_epochs):
    corpus, _ = two_epochs
    common = {"model_cfg": MODEL, "vocab_path": corpus.vocab_path, "data_files": corpus.shards}
    with pytest.raises(PipelineError, match="no weights files"):
        next(variant_landscapes(weights_paths=[], **common, **GRID))
    with pytest.raises(PipelineError, match="no weights files"):
        next(variant_attributions(weights_paths=[], **common, **IG))


def test_analysis_job_setting():
    assert per_variant_jobs({"landscape": {"job": "variant"}}, "landscape")
    assert not per_variant_jobs({"attribution": {"job": "epoch"}}, "attribution")
    with pytest.raises(ConfigError, match=r"landscape.job is 'shard'; use one of: variant, epoch"):
        per_variant_jobs({"landscape": {"job": "shard"}}, "landscape")
