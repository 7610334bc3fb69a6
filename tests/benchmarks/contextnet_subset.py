"""The set-up the subset-memory benchmarks share (bench_subset_memory.py, bench_hvp_memory.py): ContextNet-S of
config/librispeech.yaml at V = 1 024, ``n`` random utterances of ``seconds`` with ``labels`` random labels,
featurized and split into micro-batches under ``budget`` padded seconds exactly as the analyses split them
(``plan_micro_batches``), and the traced per-part loss (sum over the part ÷ n). Imports TensorFlow: call it in
the child process whose peak memory is measured."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lib"))  # at import, so that the benchmarks' own lowrank_asr imports find it
VOCAB = 1024


@dataclass
class Subset:
    model: Any
    parts: list[tuple]
    part_loss: Any  # tf.function(x, x_len, y, y_len) -> the part's share of the subset loss
    plan: list[list[int]]
    rng: Any  # the generator after the data's draws (seeded 1), for a benchmark's further random draws


def contextnet_subset(n: int, seconds: float, labels: int, budget: float | None) -> Subset:
    import numpy as np
    import tensorflow as tf
    import yaml

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.data.micro_batches import plan_micro_batches
    from lowrank_asr.models import build_model
    from lowrank_asr.trained_run.parts import open_signature
    from lowrank_asr.training.loop import configure_determinism

    config = yaml.safe_load((ROOT / "config" / "librispeech.yaml").read_text())
    configure_determinism(1)
    model = build_model(variant_model_config(config, "contextnet_s"), VOCAB)
    rng = np.random.default_rng(1)
    samples = int(seconds * 16000)
    audio = rng.normal(0, 0.1, (n, samples)).astype(np.float32)
    targets = rng.integers(1, VOCAB, (n, labels)).astype(np.int32)
    plan = plan_micro_batches([seconds] * n, budget)
    parts = []
    for group in plan:
        x, x_len = model.featurize(tf.constant(audio[group]), tf.fill([len(group)], samples))
        parts.append((x, x_len, tf.constant(targets[group]), tf.fill([len(group)], labels)))

    @tf.function(input_signature=open_signature(parts[0]))
    def part_loss(x, x_len, y, y_len):
        return tf.reduce_sum(model.utterance_loss(x, x_len, y, y_len, training=False, joint_chunk=None)) / n

    return Subset(model, parts, part_loss, plan, rng)
