"""Analyses benchmark: what one loss-landscape grid point and one batched integrated-gradients run cost.

1. Grid point ÷ evaluation pass: ``evaluate_grid`` over an N × N grid (weights moved in place, features computed
   once) per point, against one plain evaluation pass of the loss over the same subset. Near 1 means the grid
   adds nothing beyond the loss evaluations themselves (no model rebuilds, no feature recomputation).
2. Batched IG ÷ sequential: ``integrated_gradients`` with m steps in batches, against m separate
   forward + backward passes of one interpolated input each (what a loop over α would cost).
3. Representation analysis ÷ evaluation pass: seconds per variant × epoch of ``analyse_epoch`` (block outputs of
   the epoch's and the final epoch's model, covariance spectra, CKA, kernel SVDs; traced functions warm, as for
   every epoch of a job after its first) and per epoch of the pairwise ``analyse_variants``, against one
   evaluation pass (``transcribe``: greedy + beam search as the evaluate rule runs it) over the same subset.
   The joint's blank logit is raised so that decoding emits blanks only, as a trained model mostly does: the
   cheapest evaluation pass, so the ratio is an upper bound. The first epoch (tracing) is reported apart.
4. Training geometry: one Hessian-vector product (double backprop, as the sharpness rule runs it) ÷ one
   forward + backward pass over the same subset (issue target ≤ 3), and a trajectory-plane grid point (PCA
   directions of a synthetic 5-epoch path) ÷ a random-direction loss-grid point (target ≈ 1: the same grid code).

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

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.config_files import load_yaml, with_defaults
    from lowrank_asr.models import build_model

    cfg = with_defaults(load_yaml(ROOT / "config" / "config.yaml"))
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
    from lowrank_asr.landscape.evaluate import evaluate_grid

    n = 3 if quick else 9
    subset = 4 if quick else 8
    model, x, x_len, y, y_len = _model_and_batch(subset, 3.0, 35)

    @tf.function
    def loss_fn():
        return tf.reduce_mean(model.utterance_loss(x, x_len, y, y_len, training=False, joint_chunk=None))

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
    return {
        "grid": f"{n}x{n}",
        "subset": subset,
        "eval_pass_s": eval_pass,
        "grid_point_s": per_point,
        "first_2x2_grid_with_trace_s": trace,
        "grid_point_over_eval_pass": per_point / eval_pass,
    }


def bench_ig(quick: bool) -> dict:
    import numpy as np
    import tensorflow as tf

    from lowrank_asr.attribution.baselines import mean_baseline
    from lowrank_asr.attribution.integrated_gradients import integrated_gradients, with_input_gradient

    steps = 16 if quick else 64
    batch = 16
    model, x, x_len, y, y_len = _model_and_batch(1, 3.0, 35)

    def log_likelihood(xs):
        k = tf.shape(xs)[0]
        return -model.utterance_loss(
            xs, tf.repeat(x_len, k), tf.repeat(y, k, axis=0), tf.repeat(y_len, k), joint_chunk=None
        )

    @tf.function(reduce_retracing=True)
    def one_gradient(xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            value = tf.reduce_sum(log_likelihood(xs))
        return tape.gradient(value, xs)

    features = x[0].numpy()
    base = mean_baseline(features)  # the cost does not depend on the baseline
    value_and_gradient = tf.function(with_input_gradient(log_likelihood), reduce_retracing=True)
    integrated_gradients(value_and_gradient, features, base, steps=steps, batch_size=batch)  # trace
    batched = _median_time(
        lambda: integrated_gradients(value_and_gradient, features, base, steps=steps, batch_size=batch), 3
    )
    one = tf.constant(features[None])
    one_gradient(one)  # trace
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)

    def sequential():
        for a in alphas:
            one_gradient(one * a).numpy()

    seq = _median_time(sequential, 3)
    return {
        "steps": steps,
        "batch_size": batch,
        "batched_s": batched,
        "sequential_s": seq,
        "batched_ig_over_sequential": batched / seq,
    }


def bench_representations(quick: bool) -> dict:
    import numpy as np
    import tensorflow as tf

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.config_files import load_yaml, with_defaults
    from lowrank_asr.evaluation.transcribe import transcribe
    from lowrank_asr.models import build_model
    from lowrank_asr.representations.analysis import analyse_epoch, analyse_variants
    from lowrank_asr.text.vocabulary import CharVocabulary

    cfg = with_defaults(load_yaml(ROOT / "config" / "config.yaml"))
    rep = cfg["representations"]
    subset, batch_size = (16, 8) if quick else (rep["subset"], rep["batch_size"])
    vocab = CharVocabulary(["<blank>", " ", "'", *"abcdefghijklmnopqrstuvwxyz"])
    models = {}
    for name in ("contextnet", "lowrank"):
        models[name] = build_model(variant_model_config(cfg, name), vocab.size)
        out = models[name].joint_net.out
        bias = out.bias.numpy()
        bias[0] = 50.0  # blank wins every step: decoding cost as for a model that has learnt to emit blanks
        out.bias.assign(bias)
    final = build_model(variant_model_config(cfg, "contextnet"), vocab.size)
    rng = np.random.default_rng(0)
    batches = []
    for start in range(0, subset, batch_size):
        n = min(batch_size, subset - start)
        lengths = rng.integers(int(1.5 * 16000), 3 * 16000, n)
        audio = rng.normal(size=(n, int(lengths.max()))).astype(np.float32) * 0.1
        audio *= np.arange(audio.shape[1])[None] < lengths[:, None]
        batches.append(
            {
                "audio": tf.constant(audio),
                "audio_len": tf.constant(lengths, tf.int32),
                "duration": tf.constant(lengths / 16000.0),
                "utt_id": tf.constant([f"u{i}" for i in range(n)]),
                "path": tf.constant(["-"] * n),
                "transcript": tf.constant(["a"] * n),
            }
        )
    model = models["contextnet"]
    repeats = 1 if quick else 3
    beam = cfg["evaluation"]["beam_width"]
    max_symbols = cfg["evaluation"]["max_symbols_per_step"]

    def evaluation():
        transcribe(model, batches, vocab, beam_width=beam, max_symbols_per_step=max_symbols, progress=False)

    start = time.perf_counter()
    analyse_epoch(model, final, batches)
    first_epoch = time.perf_counter() - start
    evaluation()  # trace
    eval_pass = _median_time(evaluation, repeats)
    per_epoch = _median_time(lambda: analyse_epoch(model, final, batches), repeats)
    final_epoch = _median_time(lambda: analyse_epoch(final, final, batches), repeats)
    start = time.perf_counter()
    analyse_variants(models, batches)
    first_pair = time.perf_counter() - start
    per_pair_epoch = _median_time(lambda: analyse_variants(models, batches), repeats)
    return {
        "subset": subset,
        "batch_size": batch_size,
        "eval_pass_s": eval_pass,
        "first_epoch_with_trace_s": first_epoch,
        "epoch_s": per_epoch,
        "final_epoch_s": final_epoch,
        "epoch_over_eval_pass": per_epoch / eval_pass,
        "first_similarity_epoch_with_trace_s": first_pair,
        "similarity_epoch_s": per_pair_epoch,
        "similarity_epoch_over_eval_pass": per_pair_epoch / eval_pass,
    }


def bench_geometry(quick: bool) -> dict:
    import numpy as np
    import tensorflow as tf

    from lowrank_asr.geometry.hessian import ModelHVP
    from lowrank_asr.geometry.trajectory import trajectory_plane
    from lowrank_asr.landscape.directions import model_directions, model_filter_axes, model_weights
    from lowrank_asr.landscape.evaluate import evaluate_grid

    subset = 4 if quick else 8
    repeats = 3 if quick else 5
    model, x, x_len, y, y_len = _model_and_batch(subset, 3.0, 35)
    variables = model.trainable_variables

    @tf.function
    def loss_fn():
        return tf.reduce_mean(model.utterance_loss(x, x_len, y, y_len, training=False, joint_chunk=None))

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    forward_backward()  # trace
    fb = _median_time(lambda: [tf.convert_to_tensor(g).numpy() for g in forward_backward()], repeats)
    hvp = ModelHVP(model, loss_fn, "double_backprop")
    v = np.random.default_rng(0).standard_normal(hvp.dim)
    start = time.perf_counter()
    hvp(v)  # trace
    hvp_trace = time.perf_counter() - start
    hvp_s = _median_time(lambda: hvp(v), repeats)

    # a synthetic 5-epoch path around the current weights, its PCA plane vs the random plane, same grid code
    rng = np.random.default_rng(1)
    centre = model_weights(model)
    path = [
        [w + 0.01 * k * rng.standard_normal(w.shape).astype(w.dtype) for w in centre] for k in range(4, 0, -1)
    ]
    plane = trajectory_plane([*path, centre], model_filter_axes(model))
    d1, d2 = model_directions(model, seed=7)
    n = 3 if quick else 5
    axis = np.linspace(-1.0, 1.0, n)
    evaluate_grid(model, loss_fn, d1, d2, axis[:2], axis[:2], progress=False)  # traces the weight update
    per_point = {"random": float("inf"), "trajectory": float("inf")}
    for _ in range(2):  # alternate the two, best of two each: other processes only add time
        for name, (a, b) in {"random": (d1, d2), "trajectory": (plane.d1, plane.d2)}.items():
            start = time.perf_counter()
            evaluate_grid(model, loss_fn, a, b, axis, axis, progress=False)
            per_point[name] = min(per_point[name], (time.perf_counter() - start) / (n * n))
    return {
        "subset": subset,
        "forward_backward_s": fb,
        "hvp_s": hvp_s,
        "hvp_first_call_with_trace_s": hvp_trace,
        "hvp_over_forward_backward": hvp_s / fb,
        "loss_grid_point_s": per_point["random"],
        "trajectory_grid_point_s": per_point["trajectory"],
        "trajectory_over_loss_grid_point": per_point["trajectory"] / per_point["random"],
    }


def run(quick: bool = False) -> dict:
    results = {
        "grid": bench_grid(quick),
        "integrated_gradients": bench_ig(quick),
        "representations": bench_representations(quick),
        "geometry": bench_geometry(quick),
    }
    print(json.dumps(results, indent=2))
    return {
        "grid_point_over_eval_pass": results["grid"]["grid_point_over_eval_pass"],
        "batched_ig_over_sequential": results["integrated_gradients"]["batched_ig_over_sequential"],
        "representation_epoch_over_eval_pass": results["representations"]["epoch_over_eval_pass"],
        "hvp_over_forward_backward": results["geometry"]["hvp_over_forward_backward"],
        "trajectory_over_loss_grid_point": results["geometry"]["trajectory_over_loss_grid_point"],
        "details": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
