"""Analyses benchmark: what one loss-landscape grid point and one batched integrated-gradients run cost.

1. Grid point ÷ evaluation pass: ``evaluate_grid`` over an N × N grid (weights moved in place, features computed
   once) per point, against one plain evaluation pass of the loss over the same subset. Near 1 means the grid
   adds nothing beyond the loss evaluations themselves (no model rebuilds, no feature recomputation).
2. Batched IG ÷ sequential: ``integrated_gradients`` with m steps in batches, against m separate
   forward + backward passes of one interpolated input each (what a loop over α would cost).

The default config's model (random weights: the cost does not depend on training) on random 3 s inputs.
``python tests/benchmarks/bench_analyses.py [--quick]``; ``run_all.py`` calls ``run()``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lib"))


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _model_and_batch(subset: int, seconds: float, labels: int):
    import tensorflow as tf

    from lowrank_asr.config import load_yaml, variant_model_config
    from lowrank_asr.models import build_model

    cfg = load_yaml(ROOT / "config" / "config.yaml")
    model = build_model(variant_model_config(cfg, "contextnet"), 29)
    rng = tf.random.Generator.from_seed(0)
    samples = int(16000 * seconds)
    audio = rng.normal([subset, samples]) * 0.1
    x, x_len = model.featurize(audio, tf.fill([subset], samples))
    y = rng.uniform([subset, labels], 1, 29, tf.int32)
    y_len = tf.fill([subset], labels)
    return model, x, x_len, y, y_len


def bench_grid(quick: bool) -> dict:
    import tensorflow as tf

    from lowrank_asr.landscape.directions import model_directions
    from lowrank_asr.landscape.grid import evaluate_grid

    n = 3 if quick else 9
    subset = 4 if quick else 8
    model, x, x_len, y, y_len = _model_and_batch(subset, 3.0, 35)

    @tf.function
    def loss_fn():
        return tf.reduce_mean(model.utterance_loss(x, x_len, y, y_len, training=False))

    loss_fn()  # trace
    eval_pass = _median_time(lambda: float(loss_fn()), 3 if quick else 7)
    d1, d2 = model_directions(model, seed=7)
    axis = [-1.0 + 2.0 * i / (n - 1) for i in range(n)]
    start = time.perf_counter()
    evaluate_grid(model, loss_fn, d1, d2, axis[:2], axis[:2], progress=False)  # traces the weight update
    trace = time.perf_counter() - start
    start = time.perf_counter()
    evaluate_grid(model, loss_fn, d1, d2, axis, axis, progress=False)
    per_point = (time.perf_counter() - start) / (n * n)
    return {"grid": f"{n}x{n}", "subset": subset, "eval_pass_s": eval_pass, "grid_point_s": per_point,
            "first_2x2_grid_with_trace_s": trace, "grid_point_over_eval_pass": per_point / eval_pass}


def bench_ig(quick: bool) -> dict:
    import numpy as np
    import tensorflow as tf

    from lowrank_asr.attribution import integrated_gradients, mean_baseline

    steps = 16 if quick else 64
    batch = 16
    model, x, x_len, y, y_len = _model_and_batch(1, 3.0, 35)

    @tf.function(reduce_retracing=True)
    def log_likelihood(xs):
        k = tf.shape(xs)[0]
        return -model.utterance_loss(xs, tf.repeat(x_len, k), tf.repeat(y, k, axis=0), tf.repeat(y_len, k))

    @tf.function(reduce_retracing=True)
    def one_gradient(xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            value = tf.reduce_sum(log_likelihood(xs))
        return tape.gradient(value, xs)

    features = x[0].numpy()
    base = mean_baseline(features)  # the cost does not depend on the baseline
    integrated_gradients(log_likelihood, features, base, steps=steps, batch_size=batch)  # trace
    batched = _median_time(
        lambda: integrated_gradients(log_likelihood, features, base, steps=steps, batch_size=batch), 3)
    one = tf.constant(features[None])
    one_gradient(one)  # trace
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)

    def sequential():
        for a in alphas:
            one_gradient(one * a).numpy()

    seq = _median_time(sequential, 3)
    return {"steps": steps, "batch_size": batch, "batched_s": batched, "sequential_s": seq,
            "batched_ig_over_sequential": batched / seq}


def run(quick: bool = False) -> dict:
    results = {"grid": bench_grid(quick), "integrated_gradients": bench_ig(quick)}
    print(json.dumps(results, indent=2))
    return {"grid_point_over_eval_pass": results["grid"]["grid_point_over_eval_pass"],
            "batched_ig_over_sequential": results["integrated_gradients"]["batched_ig_over_sequential"],
            "details": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
