"""Peak RSS of the subset loss and its gradient at ContextNet-S shapes: one padded batch vs micro-batches.

ContextNet-S (config/librispeech.yaml), V = 1 024, N = 8 random 16-s utterances with 60 random labels; the subset
is split by evaluation.batch_seconds (each argument; "none": one batch) exactly as the analyses split it
(``plan_micro_batches``, ``part_sum``), its loss and gradient are computed, and each budget runs in a fresh
process so that its peak resident set is its own. Run: python tests/benchmarks/bench_subset_memory.py none 16 32 64
(about 1-3 min per budget on 2 cores; not part of ``make bench``).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[2]
N, SECONDS, LABELS, VOCAB = 8, 16.0, 60, 1024


def child(budget: str) -> dict:
    sys.path.insert(0, str(ROOT / "lib"))
    import numpy as np
    import tensorflow as tf
    import yaml

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.data.micro_batches import plan_micro_batches
    from lowrank_asr.models import build_model
    from lowrank_asr.trained_run.parts import dense_gradient, open_signature, part_sum, variable_spec
    from lowrank_asr.training.loop import configure_determinism

    config = yaml.safe_load((ROOT / "config" / "librispeech.yaml").read_text())
    configure_determinism(1)
    model = build_model(variant_model_config(config, "contextnet_s"), VOCAB)
    rng = np.random.default_rng(1)
    samples = int(SECONDS * 16000)
    audio = rng.normal(0, 0.1, (N, samples)).astype(np.float32)
    labels = rng.integers(1, VOCAB, (N, LABELS)).astype(np.int32)
    plan = plan_micro_batches([SECONDS] * N, None if budget == "none" else float(budget))
    parts = []
    for group in plan:
        x, x_len = model.featurize(tf.constant(audio[group]), tf.fill([len(group)], samples))
        parts.append((x, x_len, tf.constant(labels[group]), tf.fill([len(group)], LABELS)))

    @tf.function(input_signature=open_signature(parts[0]))
    def part_loss(x, x_len, y, y_len):
        return tf.reduce_sum(model.utterance_loss(x, x_len, y, y_len, training=False, joint_chunk=None)) / N

    variables = list(model.trainable_variables)
    gradient = part_sum(
        lambda _, *part: dense_gradient(part_loss, variables, part), variable_spec(variables), [], parts[0]
    )
    loss = sum(float(part_loss(*part)) for part in parts)
    began = time.perf_counter()
    norm = float(tf.linalg.global_norm(gradient([], parts)))
    return {
        "budget": budget,
        "passes": len(plan),
        "max_padded_s": max(len(g) for g in plan) * SECONDS,
        "loss": loss,
        "grad_norm": norm,
        "grad_s": time.perf_counter() - began,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(budgets: list[str]) -> None:
    for budget in budgets:
        out = subprocess.run(
            [sys.executable, __file__, "--child", budget], capture_output=True, text=True, check=False
        )
        print(out.stdout.strip().splitlines()[-1] if out.returncode == 0 else out.stderr[-2000:], flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2])))
    else:
        main(sys.argv[1:] or ["none", "16", "32", "64"])
