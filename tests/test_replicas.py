"""`training.replicas`: training on several devices (MirroredStrategy), tested on two logical CPU devices.

Logical devices must be configured before TensorFlow initialises them, so the comparisons run in a fresh Python
process that prints its findings as JSON. Batch norm normalises each replica's share of a batch with that
share's own statistics, so a step on two replicas equals one on a single replica only with those statistics
out of play: the comparisons of updates freeze the batch-norm layers (inference statistics), and the run with
batch statistics is reported for the docs, not asserted equal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
import numpy as np

from lowrank_asr.config_files import section_with_defaults
from lowrank_asr.models import build_model
from lowrank_asr.text.vocabulary import load_vocabulary
from lowrank_asr.training.loop import (TrainSettings, Trainer, choose_strategy, configure_determinism,
                                       precise_bn_dataset, run_training, training_dataset)
from lowrank_asr.training.precise_bn import batchnorm_layers

shards, vocab_path, out = json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
vocab = load_vocabulary(vocab_path)
MODEL = {"blocks": [{"layers": 1, "channels": 16, "stride": 1, "repeat": 1}, {"layers": 1, "channels": 16, "stride": 2, "repeat": 1}],
         "embed_dim": 8, "pred_units": 16, "joint_units": 16, "dropout": 0.0, "specaugment": {"enabled": False}}


def settings(**kw):
    # the schema's training defaults under these keys (clip_norm 5, as this test has always run)
    base = dict(epochs=1, batch_size=3, learning_rate={"schedule": "constant", "peak": 0.01},
                precise_bn_batches=2, clip_norm=5.0)
    training = {**section_with_defaults("training", {**base, **kw}), "evaluation_batch_seconds": None,
                "skip_over_budget": False}
    return TrainSettings.from_config(training, seed=4, max_duration=None, skip_bad_audio=False)


def trained(replicas, freeze_bn, **kw):
    s = settings(**kw)
    configure_determinism(0)
    strategy = choose_strategy(replicas)
    with strategy.scope():
        model = build_model(MODEL, vocab.size)
    if freeze_bn:
        for layer in batchnorm_layers(model):
            layer.trainable = False
    trainer = Trainer(model, s, strategy, d_model=model.specs[-1].channels)
    loss, updates = trainer.train_epoch(training_dataset(shards, vocab, s, s.seed + 1), 1, progress=False)
    return {"loss": loss, "updates": updates, "replicas": strategy.num_replicas_in_sync,
            "weights": [v.numpy().tolist() for v in model.trainable_variables]}


def precise_stats(replicas):
    s = settings()
    configure_determinism(0)
    strategy = choose_strategy(replicas)
    with strategy.scope():
        model = build_model(MODEL, vocab.size)
    trainer = Trainer(model, s, strategy, d_model=model.specs[-1].channels)
    trainer.recompute_batchnorm(precise_bn_dataset(shards, vocab, s))
    return [np.concatenate([l.moving_mean.numpy(), l.moving_variance.numpy()]).tolist()
            for l in batchnorm_layers(model)]


result = {}
for name, kw in {"plain": {}, "accumulate": {"accumulate": 2}, "budget": {"batch_seconds": 9.0, "accumulate": 2}}.items():
    result[name] = [trained(r, True, **kw) for r in (1, 2)]
result["batch_statistics"] = [trained(r, False) for r in (1, 2)]
result["precise_bn"] = [precise_stats(r) for r in (1, 2)]

# a run resumes across a change of replica count
state, outputs = f"{out}/state", [f"{out}/epoch_{e}.h5" for e in (1, 2)]
common = dict(model_cfg=MODEL, vocab_path=vocab_path, train_files=shards, dev_files=shards[:1], state_dir=state,
              epoch_outputs=outputs, history_output=f"{out}/history.csv", progress=False)
run_training(settings=settings(epochs=2, replicas=1), stop_after_epoch=1, **common)
first = open(outputs[0], "rb").read()
history = run_training(settings=settings(epochs=2, replicas=2), **common)
result["resume"] = {"epochs": [int(r["epoch"]) for r in history], "epoch_1_kept": open(outputs[0], "rb").read() == first}
json.dump(result, open(f"{out}/result.json", "w"))
"""


@pytest.fixture(scope="module")
def replicated(speech_corpus, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("replicas")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(ROOT / "lib"),
            json.dumps(speech_corpus.shards),
            str(speech_corpus.vocab_path),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads((out / "result.json").read_text())


def assert_same_weights(runs: list[dict]) -> None:
    one, two = runs
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert one["updates"] == two["updates"] and one["loss"] == pytest.approx(two["loss"], rel=1e-5)
    # Adam divides by the root of the squared-gradient average, which magnifies rounding (two partial sums on
    # two replicas, one sum on one) where a gradient is near zero: every weight within 10 % of one step
    # (learning rate 0.01), 99 % of them within 1 %
    a = np.concatenate([np.ravel(w) for w in one["weights"]])
    b = np.concatenate([np.ravel(w) for w in two["weights"]])
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-3)
    assert np.mean(np.abs(b - a) <= 1e-4) >= 0.99


@pytest.mark.parametrize("case", ["plain", "accumulate", "budget"])
def test_updates_on_two_replicas_equal_one_replica_with_the_same_global_batch(replicated, case) -> None:
    # batch_size 3 on 2 replicas: shares of 2 and 1 utterances (unequal counts); "budget": duration batches
    assert_same_weights(replicated[case])


def test_precise_batch_norm_gives_the_same_statistics(replicated) -> None:
    one, two = replicated["precise_bn"]
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-5, atol=1e-6)


def test_a_run_resumes_on_another_number_of_replicas(replicated) -> None:
    assert replicated["resume"] == {"epochs": [1, 2], "epoch_1_kept": True}


def test_batch_statistics_are_per_replica(replicated) -> None:
    """Documented difference: batch norm in training mode normalises each replica's share with its own
    statistics, so the same global batch gives (slightly) different updates on two replicas."""
    one, two = replicated["batch_statistics"]
    diff = max(
        float(np.max(np.abs(np.array(a) - np.array(b))))
        for a, b in zip(one["weights"], two["weights"], strict=True)
    )
    assert diff > 1e-6
