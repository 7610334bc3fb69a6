"""Peak RSS of sharpness' Hessian-vector product against the loss and gradient it shares the budget with.

ContextNet-S (config/librispeech.yaml), V = 1 024, N = 2 random 16-s utterances with 60 random labels, one per
micro-batch (evaluation.batch_seconds 16, as ``plan_micro_batches`` splits them). Each mode runs in a fresh
process so that its peak resident set is its own: ``loss`` (forward only), ``grad`` (forward + backward),
``hvp`` (``geometry.hessian.ModelHVP``, double backprop as for RNN-T). ``base_mb`` is the peak before the first
pass (TensorFlow, the model, the features); the pass's own memory is ``peak - base``. Run:
python tests/benchmarks/bench_hvp_memory.py loss grad hvp  (minutes per mode on 2 cores; not in ``make bench``).
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
N, SECONDS, LABELS, BUDGET = 2, 16.0, 60, 16.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str) -> dict:
    import numpy as np
    import tensorflow as tf
    from contextnet_subset import contextnet_subset

    from lowrank_asr.geometry.hessian import ModelHVP
    from lowrank_asr.trained_run.parts import dense_gradient, part_sum, variable_spec

    subset = contextnet_subset(N, SECONDS, LABELS, BUDGET)
    parts, part_loss = subset.parts, subset.part_loss
    variables = list(subset.model.trainable_variables)
    base = _peak_mb()
    began = time.perf_counter()
    if mode == "loss":
        value = sum(float(part_loss(*part)) for part in parts)
    elif mode == "grad":
        gradient = part_sum(
            lambda _, *part: dense_gradient(part_loss, variables, part),
            variable_spec(variables),
            [],
            parts[0],
        )
        value = float(tf.linalg.global_norm(gradient([], parts)))
    else:
        hvp = ModelHVP(subset.model, part_loss, "double_backprop", parts=parts)
        value = float(np.linalg.norm(hvp(subset.rng.standard_normal(hvp.dim))))
    return {
        "mode": mode,
        "passes": len(subset.plan),
        "padded_s_per_pass": BUDGET,
        "value": value,
        "seconds": time.perf_counter() - began,
        "base_mb": base,
        "peak_rss_mb": _peak_mb(),
    }


def main(modes: list[str]) -> None:
    for mode in modes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode], capture_output=True, text=True, check=False
        )
        print(out.stdout.strip().splitlines()[-1] if out.returncode == 0 else out.stderr[-2000:], flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2])))
    else:
        main(sys.argv[1:] or ["loss", "grad", "hvp"])
