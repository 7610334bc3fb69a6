"""Memory-bounded RNN-T (training.joint_chunk): the joint and the loss over sub-batches of utterances,
recomputed in the backward pass, give the unchunked loss and gradients (relative 1e-5), eagerly, inside a
traced function with open shapes, and through the Trainer's step (one optimizer update)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import train_settings
from lowrank_asr.losses import chunked_rnnt_loss
from lowrank_asr.models import build_model
from lowrank_asr.training.loop import Trainer, configure_determinism, reset_seed_generators

VOCAB = 12
MODEL = {
    "blocks": [
        {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
        {"layers": 1, "channels": 16, "stride": 2, "repeat": 1},
    ],
    "embed_dim": 8,
    "pred_units": 16,
    "joint_units": 16,
    "dropout": 0.1,
    "specaugment": {"enabled": True, "freq_masks": 1, "freq_width": 4, "time_masks": 1, "time_ratio": 0.1},
}
LABEL_LEN = [6, 3, 5, 0, 2]  # uneven, one empty transcript
AUDIO_LEN = [8000, 7000, 6000, 8000, 5000]
SPEC = [
    tf.TensorSpec([None, None], tf.float32),
    tf.TensorSpec([None], tf.int32),
    tf.TensorSpec([None, None], tf.int32),
    tf.TensorSpec([None], tf.int32),
]


def _model(seed: int = 1):
    keras.utils.set_random_seed(seed)
    return build_model(MODEL, VOCAB)


def _batch(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "audio": tf.constant(rng.normal(0, 0.3, (5, max(AUDIO_LEN))).astype(np.float32)),
        "audio_len": tf.constant(AUDIO_LEN, tf.int32),
        "labels": tf.constant(rng.integers(1, VOCAB, (5, max(LABEL_LEN))), tf.int32),
        "label_len": tf.constant(LABEL_LEN, tf.int32),
    }


def _loss_and_grads(model, batch: dict, chunk: int | None, traced: bool):
    def compute(audio, audio_len, labels, label_len):
        with tf.GradientTape() as tape:
            x, x_len = model.featurize(audio, audio_len)
            per_utt = model.utterance_loss(x, x_len, labels, label_len, training=False, joint_chunk=chunk)
            # distinct weights per utterance, so that a gradient routed to the wrong utterance shows
            loss = tf.reduce_sum(per_utt * tf.range(1.0, tf.cast(tf.shape(per_utt)[0], tf.float32) + 1.0))
        grads = tape.gradient(loss, model.trainable_variables)
        return per_utt, [tf.convert_to_tensor(g) for g in grads]

    fn = tf.function(compute, input_signature=SPEC) if traced else compute
    return fn(batch["audio"], batch["audio_len"], batch["labels"], batch["label_len"])


def _relative_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize(("chunk", "traced"), [(2, False), (2, True), (3, True), (1, True), (5, True)])
def test_chunked_loss_and_gradients_equal_unchunked(chunk, traced):
    model, batch = _model(), _batch()
    ref_loss, ref_grads = _loss_and_grads(model, batch, None, traced)
    loss, grads = _loss_and_grads(model, batch, chunk, traced)
    assert _relative_error(loss, ref_loss) < 1e-5
    assert len(grads) == len(ref_grads) == len(model.trainable_variables)
    for var, g, ref in zip(model.trainable_variables, grads, ref_grads, strict=True):
        assert float(tf.reduce_max(tf.abs(ref))) > 0, var.path  # every weight gets a gradient to compare
        assert _relative_error(g, ref) < 1e-5, var.path


def test_chunked_loss_rejects_a_chunk_below_one():
    model, batch = _model(), _batch()
    x, x_len = model.featurize(batch["audio"], batch["audio_len"])
    enc, enc_len = model.encode(x, x_len)
    pred = model.pred_sequence(batch["labels"], batch["label_len"])
    with pytest.raises(ValueError, match="joint chunk must be >= 1"):
        chunked_rnnt_loss(model.joint, enc, pred, batch["labels"], enc_len, batch["label_len"], chunk=-1)


def _step_gradients(chunk: int | None) -> list[np.ndarray]:
    """The gradients of one traced Trainer step (SpecAugment and dropout on, same random streams) on the fixed
    batch, read from the accumulators of an accumulate=2 trainer (they hold the step's gradients unapplied)."""
    configure_determinism(3)
    model = build_model(MODEL, VOCAB)
    settings = train_settings(epochs=1, batch_size=5, seed=3, clip_norm=5.0, joint_chunk=chunk, accumulate=2)
    trainer = Trainer(model, settings, tf.distribute.get_strategy(), d_model=16)
    reset_seed_generators(model, 11)
    data = tf.data.Dataset.from_tensors(_batch()).unbatch().padded_batch(5)
    step = trainer._make_train_step(data.element_spec)
    total, count = step(next(iter(data)))
    assert float(count) == 5 and np.isfinite(float(total))
    return [acc.numpy() for acc in trainer._accumulators]


def test_trainer_step_with_chunked_joint_equals_unchunked():
    reference = _step_gradients(None)
    chunked = _step_gradients(2)
    for ref, got in zip(reference, chunked, strict=True):
        assert np.max(np.abs(ref)) > 0
        assert _relative_error(got, ref) < 1e-5


def test_chunked_joint_under_mixed_precision():
    """float16 activations (config/librispeech.yaml trains with mixed precision): float16 gradients flow back
    into the encoder and prediction network; equal to the unchunked ones within float16 rounding."""
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model, batch = _model(), _batch()
        ref_loss, ref_grads = _loss_and_grads(model, batch, None, traced=True)
        loss, grads = _loss_and_grads(model, batch, 2, traced=True)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert loss.dtype == tf.float32
    assert _relative_error(loss, ref_loss) < 1e-3
    for g, ref in zip(grads, ref_grads, strict=True):
        assert np.all(np.isfinite(g.numpy()))
        assert _relative_error(g, ref) < 1e-2
