"""One way to analyse a trained run: the model is built once, each epoch's weights are loaded into it in turn,
and the model's front end (raw features, statistics, normalisation) is what featurisation is made of."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from conftest import seeded_weight_files
from lowrank_asr.errors import PipelineError
from lowrank_asr.features.logmel import log_mel
from lowrank_asr.models import build_model
from lowrank_asr.text.vocabulary import load_vocabulary
from lowrank_asr.trained_run import run as run_module
from lowrank_asr.trained_run.run import TrainedRun

MODEL = {
    "blocks": [{"layers": 1, "channels": 8, "stride": 2, "repeat": 1}],
    "embed_dim": 4,
    "pred_units": 8,
    "joint_units": 8,
}


def test_epochs_build_the_model_once_and_yield_each_epochs_weights(speech_corpus, tmp_path, monkeypatch):
    vocab = load_vocabulary(speech_corpus.vocab_path)
    paths = seeded_weight_files(MODEL, vocab.size, tmp_path, epochs=(1, 2, 3))
    expected = []
    for path in paths:  # each file's weights, read by a model of its own
        model = build_model(MODEL, vocab.size)
        model.load_weights(str(path))
        expected.append([w.copy() for w in model.get_weights()])
    assert not np.allclose(expected[0][0], expected[1][0])  # the epochs differ, so the check below can fail

    builds = []
    import lowrank_asr.trained_run.run as run_module

    def counting_build(cfg, size):
        builds.append(cfg)
        return build_model(cfg, size)

    monkeypatch.setattr(run_module, "build_model", counting_build)
    run = TrainedRun(MODEL, speech_corpus.vocab_path)
    seen = []
    for (path, model), want in zip(run.epochs(paths), expected, strict=True):
        seen.append((path, model))
        for got, w in zip(model.get_weights(), want, strict=True):
            np.testing.assert_array_equal(got, w)
    assert len(builds) == 1 and [p for p, _ in seen] == paths
    assert all(m is seen[0][1] for _, m in seen)  # one model: traced functions that read it stay valid
    assert run.vocab.size == vocab.size


def test_epochs_refuse_an_empty_list_before_building(speech_corpus, monkeypatch):
    run = TrainedRun(MODEL, speech_corpus.vocab_path)
    with pytest.raises(PipelineError, match="no weights files"):
        run.epochs([])
    assert run._model is None


def test_load_trained_returns_the_model_with_the_weights_and_the_vocabulary(speech_corpus, tmp_path):
    [path] = seeded_weight_files(MODEL, load_vocabulary(speech_corpus.vocab_path).size, tmp_path, epochs=(4,))
    model, vocab = run_module.load_trained(MODEL, speech_corpus.vocab_path, path)
    other = build_model(MODEL, vocab.size)
    other.load_weights(str(path))
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("normalize", [True, False])
def test_featurize_is_the_front_ends_raw_features_normalised_with_their_own_statistics(normalize):
    model = build_model({**MODEL, "features": {"normalize": normalize}}, 5)
    rng = np.random.default_rng(0)
    audio = tf.constant(rng.standard_normal((2, 8000)).astype(np.float32))
    lengths = tf.constant([8000, 5000], tf.int32)
    x, x_len = model.featurize(audio, lengths)
    want, want_len = log_mel(audio, lengths, **model.cfg["features"])
    np.testing.assert_array_equal(x_len.numpy(), want_len.numpy())
    np.testing.assert_allclose(x.numpy(), want.numpy(), rtol=0, atol=1e-5)
    raw, raw_len = model.raw_features(audio, lengths)
    stats = model.feature_stats(raw, raw_len)
    assert (stats is None) == (not normalize)
    np.testing.assert_array_equal(model.normalize_features(raw, raw_len, stats).numpy(), x.numpy())
    if normalize:  # the statistics of the second utterance are its own: normalised valid frames have mean 0
        t = int(raw_len[1])
        np.testing.assert_allclose(x.numpy()[1, :t].mean(axis=0), 0.0, atol=1e-4)
        assert not np.allclose(raw.numpy()[1, :t].mean(axis=0), 0.0, atol=1e-2)
