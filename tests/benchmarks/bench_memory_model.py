"""Fit the memory model of one RNN-T training step at the LibriSpeech recipe's sizes (issue 11, item 5).

ContextNet-S (config/librispeech.yaml ``contextnet_s``), V = 1 024, unchunked joint (``joint_chunk`` off, so the
joint's tensors cover the whole batch and its coefficient is measured with the largest signal). Model::

    peak_MB = fixed + a · (B · F) + b · (B · T' · (U+1))

F = padded 10-ms input frames per utterance (100 per second of audio), T' = encoder frames, U = labels. Each child
process builds the model and trainer once, traces the step on a tiny batch (open shapes: one trace for every
size), then runs one training step per (B, seconds, U) in ascending order of the memory it will need and reads
the process's peak RSS (``ru_maxrss``) after each. ``ru_maxrss`` never decreases, so a point is kept only when
its peak rose above the previous one (a point that did not is reported as ``censored`` and left out of the fit).
The fit (least squares on the kept points) is checked on a held-out 16-s point run in its own fresh child.

A third child runs three points under keras ``mixed_float16``: on CPU its steps were 12-34x slower and its peaks
higher than float32's (CPU float16 kernels work on float32 copies), so lowrank_asr.planning derives the mixed
coefficients instead; the child is kept to show it. The coefficients of the last run are in lowrank_asr.planning
and its rows in tests/benchmarks/results/memory_model.json. One child at a time (3-6 GB each; ~15 min on 2 shared cores):
nice python tests/benchmarks/bench_memory_model.py --out tests/benchmarks/results/memory_model.json
"""

from __future__ import annotations

import argparse
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
VOCAB = 1024
# (batch, seconds, labels): B·F and B·T'·(U+1) vary independently (U at fixed B·F separates the joint)
# (listed in ascending order of the peak they need: ru_maxrss only rises)
FIT_POINTS = [
    (2, 4.0, 10),
    (2, 4.0, 60),
    (4, 6.0, 10),
    (4, 6.0, 40),
    (8, 6.0, 20),
    (4, 8.0, 80),
    (8, 8.0, 40),
    (8, 8.0, 80),
]
CHECK_POINTS = [(4, 16.0, 60)]
MIXED_POINTS = [(2, 4.0, 10), (2, 4.0, 60), (4, 6.0, 40)]


def _child(points: list[tuple[int, float, int]], precision: str, seed: int = 1) -> list[dict]:
    sys.path.insert(0, str(ROOT / "lib"))
    import keras
    import numpy as np
    import tensorflow as tf

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.models import build_model
    from lowrank_asr.training.loop import Trainer, TrainSettings, configure_determinism
    from lowrank_asr.workflow.config import load_config, train_job_settings

    config = load_config(ROOT / "config" / "librispeech.yaml")  # complete: the schema's defaults filled in
    configure_determinism(seed)
    mixed = precision == "mixed"
    keras.mixed_precision.set_dtype_policy("mixed_float16" if mixed else "float32")
    model = build_model(variant_model_config(config, "contextnet_s"), VOCAB)
    training = dict(
        train_job_settings(config),
        batch_size=max(p[0] for p in points),
        mixed_precision=mixed,
        joint_chunk=None,
        accumulate=1,
        max_steps_per_epoch=None,
    )
    trainer = Trainer(
        model,
        TrainSettings.from_config(training, seed=seed, max_duration=None, skip_bad_audio=False),
        tf.distribute.get_strategy(),
        d_model=model.specs[-1].channels,
    )
    rng = np.random.default_rng(seed)

    def batch(size: int, seconds: float, labels: int) -> tf.data.Dataset:
        samples = int(seconds * 16000)
        rows = [
            {
                "audio": rng.normal(0, 0.1, samples).astype(np.float32),
                "audio_len": np.int32(samples),
                "labels": rng.integers(1, VOCAB, labels).astype(np.int32),
                "label_len": np.int32(labels),
            }
            for _ in range(size)
        ]
        # open time and label sizes, as in training: the step traced on the first batch takes every later one
        spec = {
            "audio": tf.TensorSpec([None], tf.float32),
            "audio_len": tf.TensorSpec([], tf.int32),
            "labels": tf.TensorSpec([None], tf.int32),
            "label_len": tf.TensorSpec([], tf.int32),
        }
        return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=spec).padded_batch(size)

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    began = time.perf_counter()
    trainer.train_epoch(batch(1, 1.0, 5), 0, progress=False)  # the trace, on a batch smaller than any point
    rows = [{"point": "trace", "peak_rss_mb": peak_mb(), "seconds_taken": time.perf_counter() - began}]
    for size, seconds, labels in points:
        before = peak_mb()
        began = time.perf_counter()
        loss, _ = trainer.train_epoch(batch(size, seconds, labels), 1, progress=False)
        taken = time.perf_counter() - began
        after = peak_mb()
        rows.append(
            {
                "batch": size,
                "seconds": seconds,
                "labels": labels,
                "peak_rss_mb": after,
                "censored": after <= before,
                "step_s": taken,
                "loss": float(loss),
                "precision": precision,
            }
        )
    # encoder frames per duration, after the measured steps (so this forward pass is in no point's peak)
    for row in rows[1:]:
        samples = int(row["seconds"] * 16000)
        x, x_len = model.featurize(tf.zeros([1, samples]), tf.constant([samples]))
        row["input_frames"] = int(x.shape[1])
        row["enc_frames"] = int(model.encode(x, x_len)[0].shape[1])
    rows[0]["params"] = int(model.count_params())
    return rows


def run_child(
    points: list[tuple[int, float, int]], precision: str, timeout: float | None = None
) -> list[dict]:
    """One fresh process (its peak RSS is its own)."""
    cmd = [sys.executable, __file__, "--child", json.dumps(points), precision]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"bench_memory_model child {points} {precision} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(rows: list[dict]) -> dict:
    """Least squares peak = fixed + a·B·F + b·B·T'·(U+1) over the uncensored points."""
    import numpy as np

    kept = [r for r in rows if "batch" in r and not r["censored"]]
    design = np.array(
        [
            [1.0, r["batch"] * r["input_frames"], r["batch"] * r["enc_frames"] * (r["labels"] + 1)]
            for r in kept
        ]
    )
    peaks = np.array([r["peak_rss_mb"] for r in kept])
    coef, *_ = np.linalg.lstsq(design, peaks, rcond=None)
    residual = peaks - design @ coef
    return {
        "fixed_mb": float(coef[0]),
        "mb_per_input_frame": float(coef[1]),
        "mb_per_joint_cell": float(coef[2]),
        "points": len(kept),
        "rms_residual_mb": float(np.sqrt(np.mean(residual**2))),
        "max_abs_residual_mb": float(abs(residual).max()),
        "r2": float(1 - (residual**2).sum() / ((peaks - peaks.mean()) ** 2).sum()),
    }


def predict(model: dict, row: dict) -> float:
    return (
        model["fixed_mb"]
        + model["mb_per_input_frame"] * row["batch"] * row["input_frames"]
        + model["mb_per_joint_cell"] * row["batch"] * row["enc_frames"] * (row["labels"] + 1)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("POINTS", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="write rows, fit and check here (JSON)")
    parser.add_argument(
        "--mixed-timeout", type=float, default=1500, help="seconds for the mixed-precision child"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["fit", "check", "mixed"])
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child([tuple(p) for p in json.loads(args.child[0])], args.child[1])))
        return
    report: dict = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}

    def save() -> None:  # after every child: a run killed at its deadline keeps what it measured
        if args.out:
            args.out.write_text(json.dumps(report, indent=1))

    if "fit" not in args.skip:
        report["fit_rows"] = run_child(FIT_POINTS, "float32")
        save()
    report["fit"] = fit(report["fit_rows"])
    print(json.dumps(report["fit"]), flush=True)
    save()
    if "check" not in args.skip:
        report["check_rows"] = run_child(CHECK_POINTS, "float32")
        save()
    if "check_rows" in report:
        for row in report["check_rows"][1:]:
            row["predicted_mb"] = predict(report["fit"], row)
            row["error"] = (row["predicted_mb"] - row["peak_rss_mb"]) / row["peak_rss_mb"]
            print(json.dumps(row), flush=True)
        save()
    if "mixed" not in args.skip:
        try:
            report["mixed_rows"] = run_child(MIXED_POINTS, "mixed", timeout=args.mixed_timeout)
        except subprocess.TimeoutExpired:
            report["mixed_rows"] = f"timed out after {args.mixed_timeout:.0f} s"
        save()
        print(json.dumps(report["mixed_rows"]), flush=True)


if __name__ == "__main__":
    main()
