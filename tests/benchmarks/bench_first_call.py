"""First-call and steady-call seconds of the traced computations every job starts with (issue 11).

At the LibriSpeech recipe's shapes: ContextNet-S from config/librispeech.yaml (variant ``contextnet_s``),
V = 1 024 word-pieces (the size only: no sentencepiece model is needed to build it), float32, random 16-s
audio and 60 random labels per utterance. Each call runs in a fresh child process, one at a time (as every
job starts afresh), which builds the model and then times the call twice: the first time (Python tracing,
Grappler's graph optimisation, kernel instantiation, and the computation) and the second (the computation).

* ``train``: one batch through ``Trainer.train_epoch`` (forward, backward, clipped Adam update), batch 8,
  ``training.joint_chunk`` as in the recipe;
* ``evaluate``: what the trainer runs on the dev set after each epoch for one batch: ``Trainer.mean_loss``
  and the encoder + greedy RNN-T search of ``greedy_wer`` (token ids; text scoring costs nothing);
* ``grid``: one loss-grid point, the landscape's ``part_loss_fn`` (here on 8 utterances, not the
  recipe's 256: the first call's extra cost does not depend on the subset's size);
* ``ig``: one ``utterance_attribution`` call of integrated gradients with one path batch of 16 points
  (log-likelihood and its input gradient).

Goal: every first call <= 30 s. ``--quick`` (batch 2, 4-s audio, 15 labels) keeps the model, so the tracing
and optimisation costs stay those of the recipe. ``--lib DIR`` measures another checkout's library (e.g. one
before a change). Run:  python tests/benchmarks/bench_first_call.py [--quick] [--calls train evaluate ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = Path(__file__).resolve().parents[2]
VOCAB = 1024
CALLS = ("train", "evaluate", "grid", "ig")
GOAL_S = 30.0
FULL = {"batch": 8, "seconds": 16.0, "labels": 60, "ig_points": 16}
QUICK = {"batch": 2, "seconds": 4.0, "labels": 15, "ig_points": 4}


def _timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn()``: the CPU time of all the process's threads is less sensitive than the
    wall time to other processes on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _child(call: str, params: dict, lib: Path, seed: int = 1) -> dict:
    sys.path.insert(0, str(lib))
    import numpy as np
    import tensorflow as tf

    from lowrank_asr.config import variant_model_config
    from lowrank_asr.models import build_model
    from lowrank_asr.training.loop import Trainer, TrainSettings, configure_determinism
    from lowrank_asr.workflow.config import load_config, train_job_settings

    config = load_config(ROOT / "config" / "librispeech.yaml")  # complete: the schema's defaults filled in
    configure_determinism(seed)
    model = build_model(variant_model_config(config, "contextnet_s"), VOCAB)
    b, samples, labels = params["batch"], int(params["seconds"] * 16000), params["labels"]
    rng = np.random.default_rng(seed)
    batch = {
        "audio": tf.constant(rng.normal(0, 0.1, (b, samples)).astype(np.float32)),
        "audio_len": tf.fill([b], samples),
        "labels": tf.constant(rng.integers(1, VOCAB, (b, labels)), tf.int32),
        "label_len": tf.fill([b], labels),
    }
    data = tf.data.Dataset.from_tensors(batch).unbatch().padded_batch(b)  # open shapes, as in training
    training = dict(
        train_job_settings(config),
        batch_size=b,
        mixed_precision=False,
        accumulate=1,
        max_steps_per_epoch=None,
    )
    max_symbols = int(config["training"]["dev_max_symbols_per_step"])
    if call in ("train", "evaluate"):
        trainer = Trainer(
            model,
            TrainSettings.from_config(training, seed=seed, max_duration=None, skip_bad_audio=False),
            tf.distribute.get_strategy(),
            d_model=model.specs[-1].channels,
        )
    if call == "train":

        def run():
            trainer.train_epoch(data, 1, progress=False)
    elif call == "evaluate":
        from lowrank_asr.evaluation.transcribe import make_encoder_fn, search

        def run():
            trainer.mean_loss(data)
            for item in data:
                enc, enc_len = make_encoder_fn(model)(item["audio"], item["audio_len"])
                search(model, enc, enc_len, beam_width=None, max_symbols_per_step=max_symbols)
    elif call == "grid":
        from lowrank_asr.trained_run.objective import featurized_part, part_loss_fn

        part = featurized_part(model, batch)
        loss_fn = part_loss_fn(model, part, b)

        def run():
            float(loss_fn(*part))
    elif call == "ig":
        from lowrank_asr.attribution.asr import log_likelihood_fn, utterance_attribution

        log_likelihood = log_likelihood_fn(model)

        def run():
            utterance_attribution(
                model,
                batch["audio"][:1],
                samples,
                batch["labels"][0],
                baseline="silence",
                steps=params["ig_points"] - 1,
                blur_sigma=1.0,  # unused by the silence baseline
                batch_size=params["ig_points"],
                log_likelihood=log_likelihood,
                batch_seconds=None,
            )
    else:
        raise ValueError(f"unknown call {call!r}; choose from {', '.join(CALLS)}")
    first, first_cpu = _timed(run)
    steady, steady_cpu = _timed(run)
    return {
        "call": call,
        "first_s": first,
        "steady_s": steady,
        "overhead_s": first - steady,
        "first_cpu_s": first_cpu,
        "steady_cpu_s": steady_cpu,
        "goal_met": first <= GOAL_S,
        "params": params,
    }


def measure(call: str, quick: bool, lib: Path = ROOT / "lib") -> dict:
    """One call in a fresh process: its first call pays everything a new job pays."""
    cmd = [sys.executable, __file__, "--child", call, "--lib", str(lib), *(["--quick"] if quick else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench_first_call child {call} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False, calls: tuple[str, ...] = CALLS, lib: Path = ROOT / "lib") -> dict:
    """Every call, one child process after the other; ``goal_met``: all first calls <= 30 s."""
    rows = []
    for call in calls:
        rows.append(measure(call, quick, lib))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rows": rows, "goal_s": GOAL_S, "goal_met": all(r["goal_met"] for r in rows)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=CALLS, help=argparse.SUPPRESS)
    parser.add_argument("--calls", nargs="+", choices=CALLS, default=list(CALLS))
    parser.add_argument(
        "--quick", action="store_true", help="batch 2, 4-s audio: minutes, not a quarter hour"
    )
    parser.add_argument("--lib", type=Path, default=ROOT / "lib", help="the library to measure")
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    args = parser.parse_args(argv)
    params = QUICK if args.quick else FULL
    if args.child:
        print(json.dumps(_child(args.child, params, args.lib.resolve())))
        return
    result = run(args.quick, tuple(args.calls), args.lib.resolve())
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
