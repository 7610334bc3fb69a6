"""A tiny RNN-T ContextNet over-fits 8 synthetic utterances to greedy WER 0 in a few hundred CPU steps.

This checks that the parts fit together: TFRecords → features → encoder → prediction and joint networks → RNN-T
loss → gradients, and that greedy decoding reads out what the loss taught (label ids, blank, vocabulary).
"""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from lowrank_asr.data.dataset import make_dataset
from lowrank_asr.evaluation.transcribe import transcribe
from lowrank_asr.metrics import error_rates
from lowrank_asr.models import build_model
from lowrank_asr.text.vocabulary import load_vocabulary
from lowrank_asr.training.loop import configure_determinism

MODEL = {
    "blocks": [
        {"layers": 1, "channels": 32, "stride": 1, "repeat": 1},
        {"layers": 2, "channels": 32, "stride": 2, "repeat": 1},
        {"layers": 1, "channels": 48, "stride": 2, "repeat": 1},
    ],
    "embed_dim": 16,
    "pred_units": 32,
    "joint_units": 32,
}
MAX_STEPS = 300
CHECK_EVERY = 50


def calibrate_batch_norm(model: keras.Model, batch: dict) -> None:
    """Set every BatchNormalization's moving statistics to those of `batch` (one forward pass in training
    mode with momentum 0; no weight changes). After a few hundred steps the moving averages (momentum 0.99)
    still lag the fast-changing model, and inference would use them."""
    layers = [
        layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert layers
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    x, x_len = model.featurize(batch["audio"], batch["audio_len"])
    model.encode(x, x_len, training=True)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum


def greedy(model: keras.Model, batch: dict, vocab) -> tuple[float, list[tuple[str, str]]]:
    """Corpus WER of the library's greedy RNN-T decoding, and the (reference, hypothesis) pairs."""
    rows, _ = transcribe(model, [batch], vocab, beam_width=None, max_symbols_per_step=5, progress=False)
    pairs = [(r.reference, r.greedy) for r in rows]
    return error_rates([r for r, _ in pairs], [h for _, h in pairs]).wer, pairs


@pytest.mark.slow
def test_tiny_model_overfits_eight_utterances(speech_corpus) -> None:
    configure_determinism(0)
    vocab = load_vocabulary(speech_corpus.vocab_path)
    batches = list(
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
    assert len(batches) == 1
    batch = batches[0]
    references = sorted(s.decode() for s in batch["transcript"].numpy())
    assert references == sorted(speech_corpus.transcripts) and len(references) == 8
    assert all(2 <= len(r.split()) <= 3 for r in references)

    model = build_model(MODEL, vocab.size)
    wer, _ = greedy(model, batch, vocab)
    assert wer >= 0.9  # the untrained model knows nothing

    optimizer = keras.optimizers.Adam(3e-3, beta_1=0.9, beta_2=0.98, epsilon=1e-9, global_clipnorm=5.0)

    @tf.function
    def train_step(audio, audio_len, labels, label_len):
        with tf.GradientTape() as tape:
            x, x_len = model.featurize(audio, audio_len)
            loss = tf.reduce_mean(
                model.utterance_loss(x, x_len, labels, label_len, training=True, joint_chunk=None)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    losses, checks = [], []
    for step in range(1, MAX_STEPS + 1):
        losses.append(
            float(train_step(batch["audio"], batch["audio_len"], batch["labels"], batch["label_len"]))
        )
        if step % CHECK_EVERY == 0:
            calibrate_batch_norm(model, batch)
            wer, pairs = greedy(model, batch, vocab)
            checks.append((step, round(losses[-1], 3), wer))
            if wer == 0.0:
                break
    assert wer == 0.0, f"(step, loss, WER) at each check: {checks}; last decodes: {pairs}"
    assert all(ref == hyp for ref, hyp in pairs)
    assert losses[-1] < 0.05 * losses[0]
