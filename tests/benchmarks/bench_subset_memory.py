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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
N, SECONDS, LABELS = 8, 16.0, 60


def child(budget: str) -> dict:
    import tensorflow as tf
    from contextnet_subset import contextnet_subset

    from lowrank_asr.trained_run.parts import dense_gradient, part_sum, variable_spec

    subset = contextnet_subset(N, SECONDS, LABELS, None if budget == "none" else float(budget))
    parts, part_loss = subset.parts, subset.part_loss
    variables = list(subset.model.trainable_variables)
    gradient = part_sum(
        lambda _, *part: dense_gradient(part_loss, variables, part), variable_spec(variables), [], parts[0]
    )
    loss = sum(float(part_loss(*part)) for part in parts)
    began = time.perf_counter()
    norm = float(tf.linalg.global_norm(gradient([], parts)))
    return {
        "budget": budget,
        "passes": len(subset.plan),
        "max_padded_s": max(len(g) for g in subset.plan) * SECONDS,
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
