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
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[2]
N, SECONDS, LABELS, VOCAB, BUDGET = 2, 16.0, 60, 1024, 16.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str) -> dict:
    sys.path.insert(0, str(ROOT / "lib"))
    import numpy as np
    import tensorflow as tf
    import yaml

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.data.micro_batches import plan_micro_batches
    from lowrank_asr.geometry.hessian import ModelHVP
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
    plan = plan_micro_batches([SECONDS] * N, BUDGET)
    parts = []
    for group in plan:
        x, x_len = model.featurize(tf.constant(audio[group]), tf.fill([len(group)], samples))
        parts.append((x, x_len, tf.constant(labels[group]), tf.fill([len(group)], LABELS)))

    @tf.function(input_signature=open_signature(parts[0]))
    def part_loss(x, x_len, y, y_len):
        return tf.reduce_sum(model.utterance_loss(x, x_len, y, y_len, training=False, joint_chunk=None)) / N

    variables = list(model.trainable_variables)
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
        hvp = ModelHVP(model, part_loss, "double_backprop", parts=parts)
        value = float(np.linalg.norm(hvp(rng.standard_normal(hvp.dim))))
    return {
        "mode": mode,
        "passes": len(plan),
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
