"""Memory of one RNN-T training step at the LibriSpeech recipe's shapes, with and without the chunked joint.

ContextNet-S from config/librispeech.yaml (variant ``contextnet_s``), V = 1 024 word-pieces (the size only:
no sentencepiece model is needed to build it), random 16-s audio and 60 random labels per utterance. Every
(batch, mode) runs in a fresh child process, one at a time, which builds the model, runs one training step
through ``Trainer.train_epoch`` (trace + step) and then a second, timed one, and reports its peak resident
set (``ru_maxrss``). Modes:

* ``full``: the unchunked step (``training.joint_chunk`` off);
* ``chunk<N>``: the joint and loss over sub-batches of N utterances, recomputed in the backward pass;
* ``nojoint``: the same step with the joint and loss replaced by a trivial loss on the encoder and
  prediction outputs. ``full`` − ``nojoint`` is the joint's measured share of the peak.

Goal (issue 11): at batch 8, ``full − chunk`` ≥ 0.8 × the joint's share, and chunked step time ≤ 1.15 ×
unchunked. ``analytic_joint_mb`` is B·T'·(U+1)·(J+V)·4 bytes (the tanh activations and the logits, one copy
each), for comparison. Run:  python tests/benchmarks/bench_memory.py --batches 1 2 4 8 --chunk 1
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
SECONDS = 16.0
LABELS = 60


def _child(batch_size: int, mode: str, seed: int = 1) -> dict:
    sys.path.insert(0, str(ROOT / "lib"))
    import numpy as np
    import tensorflow as tf

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.models import build_model
    from lowrank_asr.training.loop import Trainer, TrainSettings, configure_determinism
    from lowrank_asr.workflow.config import load_config, train_job_settings

    config = load_config(ROOT / "config" / "librispeech.yaml")  # complete: the schema's defaults filled in
    configure_determinism(seed)
    model = build_model(variant_model_config(config, "contextnet_s"), VOCAB)
    chunk = int(mode[len("chunk") :]) if mode.startswith("chunk") else None
    training = dict(
        train_job_settings(config),
        batch_size=batch_size,
        mixed_precision=False,
        joint_chunk=chunk,
        accumulate=1,
        max_steps_per_epoch=None,
    )
    trainer = Trainer(
        model,
        TrainSettings.from_config(training, seed=seed, max_duration=None, skip_bad_audio=False),
        tf.distribute.get_strategy(),
        d_model=model.specs[-1].channels,
    )
    if mode == "nojoint":

        def trivial_loss(x, x_len, labels, label_len, training=False, joint_chunk=None):
            enc, _ = model.encode(x, x_len, training=training)
            pred = model.pred_sequence(tf.cast(labels, tf.int32), tf.cast(label_len, tf.int32))
            return tf.reduce_mean(enc, axis=[1, 2]) + tf.reduce_mean(pred, axis=[1, 2])

        model.utterance_loss = trivial_loss
    rng = np.random.default_rng(seed)
    samples = int(SECONDS * 16000)
    batch = {
        "audio": tf.constant(rng.normal(0, 0.1, (batch_size, samples)).astype(np.float32)),
        "audio_len": tf.fill([batch_size], samples),
        "labels": tf.constant(rng.integers(1, VOCAB, (batch_size, LABELS)), tf.int32),
        "label_len": tf.fill([batch_size], LABELS),
    }
    data = (
        tf.data.Dataset.from_tensors(batch).unbatch().padded_batch(batch_size)
    )  # open shapes, as in training
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    trainer.train_epoch(data, 1, progress=False)
    first = time.perf_counter() - began
    began = time.perf_counter()
    loss, _ = trainer.train_epoch(data, 1, progress=False)
    step = time.perf_counter() - began
    x, x_len = model.featurize(batch["audio"], batch["audio_len"])
    frames = int(model.encode(x, x_len)[0].shape[1])
    j = model.cfg["joint_units"]
    return {
        "batch": batch_size,
        "mode": mode,
        "params": int(model.count_params()),
        "enc_frames": frames,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_step_mb": before / 1024,
        "first_step_s": first,
        "step_s": step,
        "loss": float(loss),
        "analytic_joint_mb": batch_size * frames * (LABELS + 1) * (j + VOCAB) * 4 / 2**20,
    }


def measure(batch_size: int, mode: str) -> dict:
    """One (batch, mode) in a fresh process (so its peak RSS is its own)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(batch_size), mode],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench_memory child {batch_size} {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(rows: list[dict], chunk: int) -> list[dict]:
    by = {(r["batch"], r["mode"]): r for r in rows}
    out = []
    for b in sorted({r["batch"] for r in rows}):
        full, part, nojoint = by.get((b, "full")), by.get((b, f"chunk{chunk}")), by.get((b, "nojoint"))
        if not (full and part and nojoint):
            continue
        share = full["peak_rss_mb"] - nojoint["peak_rss_mb"]
        saved = full["peak_rss_mb"] - part["peak_rss_mb"]
        out.append(
            {
                "batch": b,
                "full_mb": full["peak_rss_mb"],
                "chunked_mb": part["peak_rss_mb"],
                "nojoint_mb": nojoint["peak_rss_mb"],
                "joint_share_mb": share,
                "joint_share_of_peak": share / full["peak_rss_mb"],
                "saved_mb": saved,
                "saved_over_share": saved / share if share > 0 else float("nan"),
                "analytic_joint_mb": full["analytic_joint_mb"],
                "full_step_s": full["step_s"],
                "chunked_step_s": part["step_s"],
                "step_ratio": part["step_s"] / full["step_s"],
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("BATCH", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--chunk", type=int, default=1, help="utterances per joint sub-batch")
    parser.add_argument("--out", type=Path, help="write the rows and the summary here (JSON)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(int(args.child[0]), args.child[1])))
        return
    rows = []
    for b in args.batches:
        for mode in ("full", f"chunk{args.chunk}", "nojoint"):
            rows.append(measure(b, mode))
            print(json.dumps(rows[-1]), flush=True)
            if args.out:  # after every child: a long run killed at its deadline keeps what it measured
                args.out.write_text(
                    json.dumps({"rows": rows, "summary": summarise(rows, args.chunk)}, indent=1)
                )
    for row in summarise(rows, args.chunk):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
