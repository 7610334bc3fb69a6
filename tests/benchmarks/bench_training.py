"""Training-step, matmul-peak and input-pipeline benchmarks (run by run_all.py; not collected by pytest).

* ``matmul_peak``: float32 GEMM FLOP/s of this machine (TensorFlow and NumPy), the yardstick for the model.
* ``training_steps``: one optimizer step (forward + backward + apply, through ``Trainer.train_epoch``) on a
  fixed batch of ``batch_size`` utterances of about ``seconds`` s, per variant; FLOPs from the model summary.
* ``pipeline_stall``: an epoch over the real tf.data pipeline from TFRecords (``make_dataset``) vs the same
  batches held in memory, both through ``Trainer.train_epoch``.

Times are the best of several trials (on a shared machine other processes only ever add time: a step that
has to share the 2 cores takes twice as long), medians are kept in the results too; ratios between numbers
measured in the same run are what to compare across machines.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

NUMERIC_KEYS = ("audio", "audio_len", "labels", "label_len")


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (TensorFlow's and tf.data's included)."""
    t = os.times()
    return t.user + t.system


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Shortest wall time of ``fn()`` over ``repeats`` calls (and all the times)."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times), times


# ------------------------------------------------------------------------------------------------ corpus
@dataclass
class Corpus:
    shards: list[str]
    vocab: object
    durations: list[float]
    chars: list[int]


def make_corpus(root: Path, utterances: int, seed: int = 5, shards: int = 4) -> Corpus:
    """eSpeak NG speech of about 3 s per utterance (7-9 words) through the pipeline's data stages:
    synthesis → extract → transcripts TSV → TFRecord shards → char vocabulary."""
    from lowrank_asr.corpus.extract import extract_split
    from lowrank_asr.corpus.synthesis import SplitSpec, synthesize_split_tarball
    from lowrank_asr.corpus.transcripts import read_transcripts, write_transcripts
    from lowrank_asr.data.dataset import list_shards
    from lowrank_asr.data.tfrecords import shard_paths, write_tfrecords
    from lowrank_asr.text.vocabulary import build_char_vocabulary

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    spec = SplitSpec.from_dict(
        {
            "speakers": 4,
            "utterances": utterances,
            "min_words": 7,
            "max_words": 9,
            "rate": [160.0, 190.0],
            "pitch": [40.0, 60.0],
            "snr_db": 35.0,
        }
    )
    tarball = root / "train-clean-100.tar.gz"
    synthesize_split_tarball(tarball, "train-clean-100", spec, seed=seed)
    split_dir = extract_split(tarball, "train-clean-100", root / "corpus")
    tsv = root / "train-clean-100.tsv"
    write_transcripts(split_dir, tsv, on_bad_audio="fail", skipped_json=root / "skipped.json")
    write_tfrecords(tsv, shard_paths(root / "tfrecords", shards))
    rows = read_transcripts(tsv)
    vocab = build_char_vocabulary(r.transcript for r in rows)
    return Corpus(
        list_shards(root / "tfrecords"), vocab, [r.duration for r in rows], [len(r.transcript) for r in rows]
    )


def fixed_batch(corpus: Corpus, batch_size: int, seconds: float) -> dict:
    """The ``batch_size`` utterances closest to ``seconds`` long, as one padded batch (numeric keys)."""
    import tensorflow as tf

    from lowrank_asr.data.dataset import make_dataset

    examples = []
    for batch in make_dataset(
        corpus.shards,
        corpus.vocab,
        batch_size=64,
        training=False,
        seed=0,
        max_duration=None,
        batch_seconds=None,
    ):
        for i in range(int(batch["audio"].shape[0])):
            n, u = int(batch["audio_len"][i]), int(batch["label_len"][i])
            examples.append((abs(n / 16000 - seconds), batch["audio"][i, :n], batch["labels"][i, :u]))
    examples.sort(key=lambda e: e[0])
    chosen = examples[:batch_size]
    if len(chosen) < batch_size:
        raise RuntimeError(f"corpus has {len(examples)} utterances, fewer than batch size {batch_size}")
    audio_len = [int(e[1].shape[0]) for e in chosen]
    label_len = [int(e[2].shape[0]) for e in chosen]
    audio = np.zeros([batch_size, max(audio_len)], np.float32)
    labels = np.zeros([batch_size, max(label_len)], np.int32)
    for i, (_, a, lab) in enumerate(chosen):
        audio[i, : a.shape[0]] = a.numpy()
        labels[i, : lab.shape[0]] = lab.numpy()
    return {
        "audio": tf.constant(audio),
        "audio_len": tf.constant(audio_len, tf.int32),
        "labels": tf.constant(labels),
        "label_len": tf.constant(label_len, tf.int32),
    }


# ---------------------------------------------------------------------------------------------- matmul
def matmul_peak(n: int = 1024, repeats: int = 20, trials: int = 3) -> dict:
    """float32 GEMM throughput (FLOP/s, 2·n³ per product) with tf.linalg.matmul and numpy.matmul."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    a, b = tf.constant(a_np), tf.constant(b_np)
    flops = 2.0 * n**3 * repeats

    def tf_run():
        for _ in range(repeats):
            c = tf.linalg.matmul(a, b)
        c.numpy()  # eager CPU ops are synchronous; this also checks the result exists

    def np_run():
        for _ in range(repeats):
            np.matmul(a_np, b_np)

    tf_run(), np_run()  # warm-up (thread pools, first-call costs)
    tf_time, _ = best_time(tf_run, trials)
    np_time, _ = best_time(np_run, trials)
    return {"n": n, "repeats": repeats, "tf_flops": flops / tf_time, "numpy_flops": flops / np_time}


# --------------------------------------------------------------------------------------------- training
def _variant_cfg(config: dict, variant: str) -> dict:
    from lowrank_asr.config import variant_model_config
    from lowrank_asr.models import merge_model_config

    return merge_model_config(variant_model_config(config, variant))


def _trainer(config: dict, model_cfg: dict, vocab_size: int, batch_size: int, seed: int = 1):
    import tensorflow as tf

    from lowrank_asr.models import build_model
    from lowrank_asr.training.loop import Trainer, TrainSettings, configure_determinism

    configure_determinism(seed)
    model = build_model(model_cfg, vocab_size)
    from lowrank_asr.workflow.config import train_job_settings

    training = dict(
        train_job_settings(config), batch_size=batch_size, mixed_precision=False, max_steps_per_epoch=None
    )
    settings = TrainSettings.from_config(training, seed=seed, max_duration=None, skip_bad_audio=False)
    trainer = Trainer(model, settings, tf.distribute.get_strategy(), d_model=model.specs[-1].channels)
    return model, trainer


def _as_dynamic(ds, batch_size: int):
    """The same batches with unknown batch/time/label sizes in the element spec, as the bucketed pipeline
    has them (the trainer's step is traced for that spec)."""
    return ds.unbatch().padded_batch(batch_size)


def step_macs(model, batch: dict) -> dict:
    """Analytic multiply-adds of one forward pass over ``batch`` (padded shape), from the model summary:
    front end and encoder rows (MACs per second of audio) × padded seconds × B; the RNN-T joint over the
    whole T'×(U+1) lattice (training evaluates every node, the summary's joint row is per frame); the
    prediction network per label position."""
    b, samples = (int(d) for d in batch["audio"].shape)
    u1 = int(batch["labels"].shape[1]) + 1
    x, x_len = model.featurize(batch["audio"], batch["audio_len"])
    enc, _ = model.encode(x, x_len, training=False)
    t_enc, d = int(enc.shape[1]), int(enc.shape[2])
    seconds = samples / model.cfg["features"]["sample_rate"]
    rows = {r["name"]: r for r in model.summary_table()}
    frontend = next(r for r in rows.values() if r["name"] in ("logmel", "wave_frontend"))
    out = {
        "frontend": frontend["macs"] * seconds * b,
        "encoder": sum(r["macs"] for r in rows.values() if r["name"].startswith("C")) * seconds * b,
    }
    cfg, v = model.cfg, model.vocab_size
    if cfg["decoder"] == "rnnt":
        j = cfg["joint_units"]
        out["prediction"] = rows["prediction"]["macs"] * u1 * b  # LSTM(s) + pred projection, per position
        out["joint"] = b * t_enc * d * j + b * t_enc * u1 * (j * v + j)
    else:
        out["ctc_head"] = b * t_enc * d * v
    out["total"] = sum(out.values())
    out["encoder_frames"] = t_enc
    return out


def training_steps(
    config: dict,
    variants: list[str],
    batch: dict,
    vocab_size: int,
    steps: int,
    trials: int,
    matmul_flops: float,
) -> list[dict]:
    """Median step time (train_epoch over ``steps`` copies of ``batch``) and achieved FLOP/s per variant.

    All variants are built and traced first, then timed in turn within each trial (A B A B ...), so a change
    of background load hits every variant alike. ``step_s`` is the best trial ÷ steps, ``step_median_s`` the
    median; ``step_over_first`` the best time ÷ the first variant's best, ``step_over_first_median`` the
    median over trials of the same-trial ratio.
    Training FLOPs = 2 × MACs × 3 for the trained part (backward ≈ 2 × forward) + 2 × MACs for the front end
    (no gradient flows into a fixed log-mel; the wave front end has weights and counts × 3)."""
    import tensorflow as tf

    b = int(batch["audio"].shape[0])
    audio_seconds = float(tf.reduce_sum(batch["audio_len"])) / 16000
    data = _as_dynamic(tf.data.Dataset.from_tensors(batch).repeat(steps), b)
    warm = _as_dynamic(tf.data.Dataset.from_tensors(batch).repeat(2), b)
    runs = []
    for variant in variants:
        model_cfg = _variant_cfg(config, variant)
        model, trainer = _trainer(config, model_cfg, vocab_size, batch_size=b)
        began = time.perf_counter()
        trainer.train_epoch(warm, 0, progress=False)  # traces the step
        # "first" = trace + first two steps
        runs.append(
            {
                "variant": variant,
                "cfg": model_cfg,
                "model": model,
                "trainer": trainer,
                "first": time.perf_counter() - began,
                "times": [],
                "cpu": [],
            }
        )
    # one untimed round after all are built: seeding the next model (tf.random.set_seed) makes the first
    # call of every function traced before it slow again (re-instantiated, not retraced)
    for run in runs:
        run["trainer"].train_epoch(warm, 0, progress=False)
    for _ in range(trials):
        for run in runs:
            began, cpu = time.perf_counter(), cpu_seconds()
            run["trainer"].train_epoch(data, 1, progress=False)
            run["times"].append(time.perf_counter() - began)
            run["cpu"].append(cpu_seconds() - cpu)
    rows = []
    for run in runs:
        model, model_cfg = run["model"], run["cfg"]
        step = min(run["times"]) / steps
        macs = step_macs(model, batch)
        grad_factor = 3 if model_cfg["frontend"] == "wave" else 1
        flops = 2 * (3 * (macs["total"] - macs["frontend"]) + grad_factor * macs["frontend"])
        rows.append(
            {
                "variant": run["variant"],
                "params": int(model.count_params()),
                "batch": b,
                "padded_shape": [int(d) for d in batch["audio"].shape],
                "labels_shape": [int(d) for d in batch["labels"].shape],
                "audio_seconds": audio_seconds,
                "step_s": step,
                "epoch_times_s": run["times"],
                "steps": steps,
                "step_median_s": statistics.median(run["times"]) / steps,
                "step_cpu_s": statistics.median(run["cpu"]) / steps,
                "step_over_first": min(run["times"]) / min(runs[0]["times"]),
                "step_over_first_median": statistics.median(
                    t / t0 for t, t0 in zip(run["times"], runs[0]["times"], strict=True)
                ),
                "first_two_steps_s": run["first"],
                "audio_s_per_s": audio_seconds / step,
                "macs_forward": {k: float(v) for k, v in macs.items()},
                "train_flops": flops,
                "achieved_flops": flops / step,
                "fraction_of_matmul": flops / step / matmul_flops,
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------- pipeline
def pipeline_stall(
    config: dict, variant: str, corpus: Corpus, batch_size: int, trials: int, max_duration: float | None
) -> dict:
    """Epoch time over the real tf.data pipeline ÷ epoch time over the same batches pre-loaded in memory
    (best trials; ``stall_ratio_median``: median of the same-trial ratios), and the same for the CPU time the
    process spends (``cpu_ratio``, medians): less sensitive to other processes, and on 2 cores that training
    already keeps busy the pipeline's extra CPU work is about what it adds to the wall time.

    Both run ``Trainer.train_epoch`` on one trainer (one traced step). The pipeline is rebuilt for every
    epoch with the same seed, as ``run_training`` does per epoch, so it yields the same batches each time;
    its construction is inside the timed epoch."""
    import tensorflow as tf

    from lowrank_asr.data.dataset import make_dataset
    from lowrank_asr.training.loop import NUMERIC_KEYS as LOOP_KEYS

    def pipeline():
        return make_dataset(
            corpus.shards,
            corpus.vocab,
            batch_size=batch_size,
            training=True,
            seed=3,
            max_duration=max_duration,
            batch_seconds=None,
        )

    batches = [{k: b[k] for k in LOOP_KEYS} for b in pipeline()]
    memory = tf.data.Dataset.from_tensors(batches[0])
    for b in batches[1:]:
        memory = memory.concatenate(tf.data.Dataset.from_tensors(b))
    model, trainer = _trainer(config, _variant_cfg(config, variant), corpus.vocab.size, batch_size)
    trainer.train_epoch(pipeline(), 0, progress=False)  # trace (with the pipeline's relaxed shapes)
    trainer.train_epoch(memory, 0, progress=False)

    pipe_times, mem_times, pipe_cpu, mem_cpu = [], [], [], []
    for _ in range(trials):  # interleaved, so drifting background load hits both alike
        began, cpu = time.perf_counter(), cpu_seconds()
        _, n_pipe = trainer.train_epoch(pipeline(), 1, progress=False)
        pipe_times.append(time.perf_counter() - began)
        pipe_cpu.append(cpu_seconds() - cpu)
        began, cpu = time.perf_counter(), cpu_seconds()
        _, n_mem = trainer.train_epoch(memory, 1, progress=False)
        mem_times.append(time.perf_counter() - began)
        mem_cpu.append(cpu_seconds() - cpu)
    assert n_pipe == n_mem == len(batches), (n_pipe, n_mem, len(batches))

    # time to the first batch of a fresh pipeline (shuffle buffer fill + decode), without training
    def first_batch():
        next(iter(pipeline()))

    first, _ = best_time(first_batch, trials)

    def drain():
        for _ in pipeline():
            pass

    pipe_only, _ = best_time(drain, trials)
    pipe, mem = min(pipe_times), min(mem_times)
    return {
        "variant": variant,
        "batches": len(batches),
        "utterances": sum(int(b["audio"].shape[0]) for b in batches),
        "audio_seconds": float(sum(float(tf.reduce_sum(b["audio_len"])) for b in batches)) / 16000,
        "pipeline_epoch_s": pipe,
        "memory_epoch_s": mem,
        "pipeline_epoch_times_s": pipe_times,
        "memory_epoch_times_s": mem_times,
        "stall_ratio": pipe / mem,
        "stall_ratio_median": statistics.median(p / m for p, m in zip(pipe_times, mem_times, strict=True)),
        "pipeline_epoch_cpu_s": statistics.median(pipe_cpu),
        "memory_epoch_cpu_s": statistics.median(mem_cpu),
        "pipeline_epoch_cpu_times_s": pipe_cpu,
        "memory_epoch_cpu_times_s": mem_cpu,
        "cpu_ratio": statistics.median(pipe_cpu) / statistics.median(mem_cpu),
        "pipeline_only_epoch_s": pipe_only,
        "first_batch_s": first,
        "pipeline_step_s": pipe / len(batches),
        "memory_step_s": mem / len(batches),
    }
