"""Gradient accumulation (training.accumulate = k): one update of k accumulated micro-batches equals one update
on their union, and the learning-rate schedule counts updates, not micro-batches.

"Equals the union" means: the same update as a run with accumulate 1 given one batch holding the k
micro-batches' utterances. The loss of an update is the mean per-utterance NLL over its utterances, whatever the
micro-batches' sizes (batches by duration vary them) and the configured batch size. A model
with batch norm normalises each micro-batch with its own statistics, so there the union's update differs by
that; the stub model here has a per-utterance loss independent of the batch, which isolates the arithmetic.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import train_settings
from lowrank_asr.training.loop import Trainer, configure_determinism
from lowrank_asr.training.schedule import make_schedule

SCHEDULE = {"schedule": "transformer", "peak": 0.01, "warmup_steps": 4}


class StubModel(keras.Model):
    """Per-utterance loss from masked audio statistics and the label count through two dense layers."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(4, activation="tanh")
        self.out = keras.layers.Dense(1)

    def featurize(self, audio, audio_len):
        return tf.convert_to_tensor(audio, tf.float32), tf.cast(audio_len, tf.int32)

    def utterance_loss(self, x, x_len, labels, label_len, training=False, joint_chunk=None):
        mask = tf.sequence_mask(x_len, tf.shape(x)[1], tf.float32)
        n = tf.cast(x_len, tf.float32)
        label_sum = tf.reduce_sum(
            tf.cast(labels, tf.float32) * tf.sequence_mask(label_len, tf.shape(labels)[1], tf.float32), axis=1
        )
        feats = tf.stack(
            [
                tf.reduce_sum(x * mask, 1) / n,
                tf.reduce_sum(x * x * mask, 1) / n,
                tf.cast(label_len, tf.float32),
                label_sum / 10.0,
            ],
            axis=1,
        )
        return tf.square(self.out(self.hidden(feats))[:, 0] - 1.0)


def _utterances(count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        samples, labels = int(rng.integers(5, 12)), int(rng.integers(1, 5))
        out.append(
            {
                "audio": rng.normal(0, 1, samples).astype(np.float32),
                "audio_len": samples,
                "labels": rng.integers(1, 9, labels).astype(np.int32),
                "label_len": labels,
            }
        )
    return out


def _batch(utterances: list[dict]) -> dict:
    """One padded batch, as the pipeline's padded_batch makes it."""
    pad = {k: max(len(u[k]) for u in utterances) for k in ("audio", "labels")}
    return {
        "audio": np.stack([np.pad(u["audio"], (0, pad["audio"] - len(u["audio"]))) for u in utterances]),
        "audio_len": np.array([u["audio_len"] for u in utterances], np.int32),
        "labels": np.stack([np.pad(u["labels"], (0, pad["labels"] - len(u["labels"]))) for u in utterances]),
        "label_len": np.array([u["label_len"] for u in utterances], np.int32),
    }


def _dataset(batches: list[dict]) -> tf.data.Dataset:
    """Batches of different shapes, with open shapes in the element spec (as the bucketed pipeline has)."""
    data = None
    for b in batches:
        one = tf.data.Dataset.from_tensors(b)
        data = one if data is None else data.concatenate(one)
    return data


def _trainer(batch_size: int, accumulate: int, **extra) -> tuple[StubModel, Trainer]:
    configure_determinism(5)
    model = StubModel()
    model.featurize(tf.zeros([1, 4]), tf.constant([4]))
    model.out(model.hidden(tf.zeros([1, 4])))  # create the weights (same seed: same initial weights)
    # clip_norm 5 unless a test says otherwise (TrainSettings' old default, under which these tests were written)
    settings = train_settings(
        seed=5,
        **{
            "epochs": 1,
            "batch_size": batch_size,
            "clip_norm": 5.0,
            "accumulate": accumulate,
            "learning_rate": SCHEDULE,
            **extra,
        },
    )
    return model, Trainer(model, settings, tf.distribute.get_strategy(), d_model=16)


def _relative_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


# micro-batches of 2, 2 and a short last one of 1: k = 3 micro-batches of batch_size 2 vs one batch of 5
SIZES = [2, 2, 1]


def test_accumulated_gradients_equal_the_union_gradient():
    utts = _utterances(sum(SIZES))
    micro = [_batch(utts[i : i + n]) for i, n in zip(np.cumsum([0, *SIZES[:-1]]), SIZES, strict=True)]
    model, trainer = _trainer(batch_size=2, accumulate=3)
    step = trainer._make_train_step(_dataset(micro).element_spec)
    for b in micro:
        step({k: tf.constant(v) for k, v in b.items()})
    accumulated = [acc.numpy() for acc in trainer._accumulators]
    union = _batch(utts)
    with tf.GradientTape() as tape:
        x, x_len = model.featurize(union["audio"], union["audio_len"])
        loss = tf.reduce_sum(
            model.utterance_loss(x, x_len, union["labels"], union["label_len"], joint_chunk=None)
        )
    expected = tape.gradient(loss, model.trainable_variables)  # the sums hold the summed losses' gradient
    for got, want in zip(accumulated, expected, strict=True):
        assert np.max(np.abs(want)) > 0
        assert _relative_error(got, want) < 1e-5
    assert int(trainer.optimizer.iterations) == 0  # nothing applied before the k-th micro-batch


@pytest.mark.parametrize("epochs, sizes", [(1, SIZES), (2, SIZES), (2, [3, 1, 2])])
def test_one_update_of_k_micro_batches_equals_one_update_on_their_union(epochs, sizes):
    utts = _utterances(sum(sizes))
    micro = [_batch(utts[i : i + n]) for i, n in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True)]
    acc_model, acc_trainer = _trainer(batch_size=2, accumulate=3)
    union_model, union_trainer = _trainer(batch_size=6, accumulate=1)
    start = [v.numpy() for v in acc_model.trainable_variables]
    for epoch in range(1, epochs + 1):
        _, acc_updates = acc_trainer.train_epoch(_dataset(micro), epoch, progress=False)
        _, union_updates = union_trainer.train_epoch(_dataset([_batch(utts)]), epoch, progress=False)
        assert acc_updates == union_updates == 1
    assert int(acc_trainer.optimizer.iterations) == int(union_trainer.optimizer.iterations) == epochs
    for got, want, first in zip(
        acc_model.trainable_variables, union_model.trainable_variables, start, strict=True
    ):
        assert _relative_error(got.numpy() - first, want.numpy() - first) < 1e-5
    assert all(not np.any(acc.numpy()) for acc in acc_trainer._accumulators)  # restarted from zero


def test_schedule_and_history_count_updates_not_micro_batches():
    utts = _utterances(14, seed=1)
    micro = [_batch(utts[i : i + 2]) for i in range(0, 14, 2)]  # 7 micro-batches
    _, trainer = _trainer(batch_size=2, accumulate=3)
    _, updates = trainer.train_epoch(_dataset(micro), 1, progress=False)
    assert updates == 3  # 3 + 3 + the short last accumulation of 1
    assert int(trainer.optimizer.iterations) == 3
    assert trainer.learning_rate() == pytest.approx(float(make_schedule(SCHEDULE, 16)(3)))
    _, limited = _trainer(batch_size=2, accumulate=3, max_steps_per_epoch=1)
    assert limited.train_epoch(_dataset(micro), 1, progress=False)[1] == 1
    assert int(limited.optimizer.iterations) == 1


def test_accumulate_below_one_is_refused():
    with pytest.raises(ValueError, match="training.accumulate must be >= 1"):
        _trainer(batch_size=2, accumulate=0)


def _with_sgd(trainer: Trainer) -> Trainer:
    """Plain SGD at rate 1 (Adam's first steps hardly depend on the loss's scale): an update is minus the
    gradient it was given, so the tests below read the loss's normalisation off the weights."""
    trainer.optimizer = keras.optimizers.SGD(1.0)
    trainer.optimizer.build(trainer.model.trainable_variables)
    return trainer


@pytest.mark.parametrize("accumulate, sizes", [(1, [5]), (1, [1]), (3, [3, 1, 2]), (2, [4, 1])])
def test_an_update_follows_the_mean_loss_over_its_utterances(accumulate, sizes):
    """Whatever the batch sizes (duration budgets vary them) and the configured batch_size (8 here, used by
    nothing): the update's gradient is that of the mean per-utterance loss over the update's utterances."""
    utts = _utterances(sum(sizes), seed=2)
    batches = [_batch(utts[i : i + n]) for i, n in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True)]
    model, trainer = _trainer(batch_size=8, accumulate=accumulate, clip_norm=None)
    _with_sgd(trainer)
    start = [v.numpy() for v in model.trainable_variables]
    union = _batch(utts)
    with tf.GradientTape() as tape:
        x, x_len = model.featurize(union["audio"], union["audio_len"])
        loss = tf.reduce_mean(
            model.utterance_loss(x, x_len, union["labels"], union["label_len"], joint_chunk=None)
        )
    expected = tape.gradient(loss, model.trainable_variables)
    _, updates = trainer.train_epoch(_dataset(batches), 1, progress=False)
    assert updates == 1
    for var, first, grad in zip(model.trainable_variables, start, expected, strict=True):
        assert np.max(np.abs(grad)) > 0
        assert _relative_error(first - var.numpy(), grad) < 1e-5


def test_mixed_precision_accumulation_still_follows_the_mean_loss():
    """The loss-scale optimizer's scaled gradients are summed, divided by the count and unscaled at apply."""
    sizes = [3, 1]
    utts = _utterances(sum(sizes), seed=3)
    batches = [_batch(utts[:3]), _batch(utts[3:])]
    plain_model, plain = _trainer(batch_size=2, accumulate=1, clip_norm=None)
    _with_sgd(plain)
    start = [v.numpy() for v in plain_model.trainable_variables]
    plain.train_epoch(_dataset([_batch(utts)]), 1, progress=False)
    mixed_model, mixed = _trainer(batch_size=2, accumulate=2, clip_norm=None, mixed_precision=True)
    mixed.optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(1.0), initial_scale=2.0**10)
    mixed.optimizer.build(mixed_model.trainable_variables)
    mixed.train_epoch(_dataset(batches), 1, progress=False)
    assert int(mixed.optimizer.iterations) == 1
    for got, want, first in zip(
        mixed_model.trainable_variables, plain_model.trainable_variables, start, strict=True
    ):
        assert _relative_error(got.numpy() - first, want.numpy() - first) < 1e-5
