"""Both decoders through every consumer of a model: search, transcription, training's dev WER, loss landscape
and integrated gradients, each with a tiny (untrained) model on 8 utterances of eSpeak NG speech."""

from __future__ import annotations

import csv
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import train_settings
from lowrank_asr import decoding
from lowrank_asr.data.dataset import make_dataset
from lowrank_asr.evaluation.transcribe import make_encoder_fn, search, transcribe
from lowrank_asr.models import build_model, save_weights
from lowrank_asr.text.vocabulary import load_vocabulary

MODEL = {
    "blocks": [
        {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
        {"layers": 2, "channels": 16, "stride": 2, "repeat": 1},
        {"layers": 1, "channels": 24, "stride": 2, "repeat": 1},
    ],
    "embed_dim": 8,
    "pred_units": 16,
    "joint_units": 16,
}


def _model(decoder: str, vocab_size: int, seed: int = 0):
    keras.utils.set_random_seed(seed)
    return build_model({**MODEL, "decoder": decoder}, vocab_size)


@pytest.fixture(scope="module")
def corpus(speech_corpus):
    vocab = load_vocabulary(speech_corpus.vocab_path)
    batch = next(
        iter(
            make_dataset(
                speech_corpus.shards,
                vocab,
                batch_size=8,
                training=False,
                seed=0,
                max_duration=None,
                batch_seconds=None,
            )
        )
    )
    return speech_corpus, vocab, batch


@pytest.mark.parametrize("decoder", ["rnnt", "ctc"])
def test_model_names_its_decoder(decoder):
    model = _model(decoder, 29)
    assert model.decoder_type == decoder
    assert hasattr(model, "ctc_head") == (decoder == "ctc")


def test_search_uses_ctc_searches_for_a_ctc_model(corpus):
    _, vocab, batch = corpus
    model = _model("ctc", vocab.size)
    enc, enc_len = make_encoder_fn(model)(batch["audio"], batch["audio_len"])
    logits = model.ctc_logits(enc)
    greedy = search(model, enc, enc_len, beam_width=None, max_symbols_per_step=3)
    assert greedy == decoding.ctc_greedy(logits, enc_len)
    assert search(model, enc, enc_len, beam_width=3, max_symbols_per_step=3) == decoding.ctc_beam_search(
        logits, enc_len, beam_width=3
    )
    # an untrained model still emits something, so the comparison above is not between empty lists
    assert sum(map(len, greedy)) > 0


def test_search_uses_rnnt_searches_for_an_rnnt_model(corpus):
    _, vocab, batch = corpus
    model = _model("rnnt", vocab.size)
    enc, enc_len = make_encoder_fn(model)(batch["audio"], batch["audio_len"])
    assert search(model, enc, enc_len, beam_width=None, max_symbols_per_step=2) == decoding.rnnt_greedy(
        model, enc, enc_len, max_symbols_per_step=2
    )
    assert search(model, enc, enc_len, beam_width=2, max_symbols_per_step=2) == decoding.rnnt_beam_search(
        model, enc, enc_len, beam_width=2, max_symbols_per_step=2
    )


@pytest.mark.parametrize("decoder", ["rnnt", "ctc"])
def test_transcribe_greedy_and_beam(corpus, decoder):
    speech, vocab, batch = corpus
    model = _model(decoder, vocab.size)
    rows, timing = transcribe(model, [batch], vocab, beam_width=2, max_symbols_per_step=3, progress=False)
    assert sorted(r.reference for r in rows) == sorted(speech.transcripts)
    assert all(isinstance(r.greedy, str) and isinstance(r.beam, str) for r in rows)
    assert timing.audio_seconds > 0 and timing.beam_seconds > 0


def test_ctc_training_reports_a_dev_wer(speech_corpus, tmp_path):
    from lowrank_asr.training import run_training

    settings = train_settings(
        clip_norm=5.0,
        epochs=1,
        batch_size=4,
        seed=3,
        max_steps_per_epoch=1,
        learning_rate={"schedule": "transformer", "peak": 0.002, "warmup_steps": 4},
    )
    out = tmp_path / "epoch_001.weights.h5"
    history = run_training(
        model_cfg={**MODEL, "decoder": "ctc"},
        vocab_path=speech_corpus.vocab_path,
        train_files=speech_corpus.shards,
        dev_files=speech_corpus.shards,
        settings=settings,
        state_dir=tmp_path / "state",
        epoch_outputs=[out],
        history_output=tmp_path / "history.csv",
        progress=False,
    )
    assert out.is_file() and len(history) == 1
    row = next(csv.DictReader((tmp_path / "history.csv").open()))
    assert math.isfinite(float(row["train_loss"])) and math.isfinite(float(row["dev_loss"]))
    assert float(row["dev_wer"]) >= 0.0


@pytest.fixture(scope="module")
def ctc_weights(corpus, tmp_path_factory):
    _, vocab, _ = corpus
    path = tmp_path_factory.mktemp("ctc") / "epoch_001.weights.h5"
    save_weights(_model("ctc", vocab.size, seed=4), path)
    return path


def test_ctc_loss_landscape(corpus, ctc_weights):
    from lowrank_asr.landscape.asr import epoch_landscape

    speech, vocab, batch = corpus
    result = epoch_landscape(
        model_cfg={**MODEL, "decoder": "ctc"},
        vocab_path=speech.vocab_path,
        weights_path=ctc_weights,
        data_files=speech.shards,
        grid=3,
        span=[-1.0, 1.0],
        subset=4,
        seed=1,
        wer=True,
        max_symbols_per_step=5,
        progress=False,
        batch_seconds=None,
    )
    grid = result.grid
    assert grid.loss.shape == (9,) and np.all(np.isfinite(grid.loss)) and np.all(grid.metric >= 0)
    # the centre of the grid is the trained point itself: its loss is the model's CTC loss on the subset
    centre = int(np.flatnonzero((grid.points == [1, 1]).all(axis=1))[0])
    assert grid.loss[centre] == pytest.approx(result.eval_loss, rel=1e-5)
    model = _model("ctc", vocab.size, seed=4)
    x, x_len = model.featurize(batch["audio"][:4], batch["audio_len"][:4])
    expected = tf.reduce_mean(
        model.utterance_loss(x, x_len, batch["labels"][:4], batch["label_len"][:4], joint_chunk=None)
    )
    assert result.eval_loss == pytest.approx(float(expected), rel=1e-4)
    assert len(set(np.round(grid.loss, 4))) > 1


def test_ctc_integrated_gradients(corpus, ctc_weights):
    from lowrank_asr.attribution.asr import epoch_attributions

    speech, vocab, _ = corpus
    items = epoch_attributions(
        model_cfg={**MODEL, "decoder": "ctc"},
        vocab_path=speech.vocab_path,
        weights_path=ctc_weights,
        data_files=speech.shards,
        utterances=2,
        steps=8,
        baseline="silence",
        blur_sigma=(10.0, 4.0),
        batch_size=16,
        max_symbols_per_step=5,
        batch_seconds=None,
    )
    assert len(items) == 2
    for item in items:
        assert item.attributions.shape == item.features.shape and np.all(np.isfinite(item.attributions))
        assert item.f_input < 0 and item.hypothesis is not None
        # completeness: the attributions sum to F(x) - F(baseline) up to the quadrature error
        total = float(item.attributions.sum())
        assert total == pytest.approx(item.f_input - item.f_baseline, rel=0.2, abs=1.0)
