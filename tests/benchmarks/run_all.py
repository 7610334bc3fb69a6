"""The on-demand benchmark suite: ``python tests/benchmarks/run_all.py`` (``make bench``).

Measures, in one run, and writes a markdown report (``--out``) and the raw numbers (``--json``, default: the
report's path with ``.json``; by default ``tests/benchmarks/results/report.md`` and ``report.json``, committed):

1. the training step (forward + backward + apply) of the default config's variants on 16 × ~3 s utterances,
   its achieved FLOP/s against this machine's float32 matmul FLOP/s (TensorFlow and NumPy);
2. the input-pipeline stall: an epoch through the real tf.data pipeline from TFRecords ÷ the same batches
   pre-loaded in memory;
3. ``snakemake -n`` on a finished smoke workspace (``--workspace DIR``, else one is built first: minutes);
4. building the DAG of the LibriSpeech config (6 variants × 50 epochs of landscapes and attributions);
5. the analyses benchmark of ``bench_analyses.py`` (landscape grid-point cost, batched integrated gradients,
   representation analysis per variant × epoch) when that file is present;
6. the padding of training batches (``bench_padding.py``): count-based batches against duration budgets, on
   a config's training TFRecords (``--padding-config``) or seeded LibriSpeech-shaped durations.
7. the data stages ``transcripts`` and ``tfrecords`` on a LibriSpeech-shaped synthetic split (``bench_data.py``):
   audio hours per CPU-minute.
8. ``first_call`` (``bench_first_call.py``): first-call and steady-call seconds of the training step, the
   evaluation of a batch, a loss-grid point and an integrated-gradients call at the LibriSpeech recipe's shapes,
   each in a fresh process (goal: first call <= 30 s).

These machines are shared: compare ratios measured in one run rather than absolute times across runs.
``--quick`` shrinks every part for development (and skips 3. unless ``--workspace`` is given).
Not collected by pytest (no ``test_*`` files here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stdout
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "lib"))

import bench_workflow  # noqa: E402

SECTIONS = ("training", "pipeline", "noop", "dag", "analyses", "padding", "data", "first_call")

FULL = {
    "utterances": 160,
    "matmul_repeats": 20,
    "trials": 5,
    "steps": 5,
    "noop_repeats": 3,
    "dag_repeats": 3,
    "dag_epochs": 50,
    "data_utterances": 1000,
}
QUICK = {
    "utterances": 40,
    "matmul_repeats": 5,
    "trials": 1,
    "steps": 2,
    "noop_repeats": 1,
    "dag_repeats": 1,
    "dag_epochs": 5,
    "data_utterances": 40,
}


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ machine info
def machine_info() -> dict:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(module: str) -> str | None:
        try:
            return importlib.import_module(module).__version__
        except Exception:  # noqa: BLE001 - informational only
            return None

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": version("tensorflow"),
        "numpy": version("numpy"),
        "snakemake": version("snakemake"),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "loadavg_start": list(os.getloadavg()),
    }


# ------------------------------------------------------------------------------------------------ sections
def run_training(params: dict, tmp: Path, results: dict, sections: set[str]) -> None:
    import bench_training as bt

    from lowrank_asr.workflow.config import load_config

    config = load_config(ROOT / "config" / "config.yaml")  # complete: the schema's defaults filled in
    variants = list(config["variants"])
    log(f"synthesising a {params['utterances']}-utterance corpus → TFRecords")
    began = time.perf_counter()
    corpus = bt.make_corpus(tmp / "corpus", params["utterances"])
    results["corpus"] = {
        "utterances": len(corpus.durations),
        "seconds": sum(corpus.durations),
        "build_s": time.perf_counter() - began,
        "vocab_size": corpus.vocab.size,
    }
    log("matmul peak")
    results["matmul"] = bt.matmul_peak(repeats=params["matmul_repeats"], trials=params["trials"])
    if "training" in sections:
        batch = bt.fixed_batch(corpus, batch_size=16, seconds=3.0)
        log(f"training steps of {variants} on a {list(batch['audio'].shape)} batch")
        results["training"] = bt.training_steps(
            config,
            variants,
            batch,
            corpus.vocab.size,
            params["steps"],
            params["trials"],
            results["matmul"]["tf_flops"],
        )
        for row in results["training"]:
            row["fraction_of_numpy_matmul"] = row["achieved_flops"] / results["matmul"]["numpy_flops"]
    if "pipeline" in sections:
        log("input pipeline vs in-memory batches")
        results["pipeline"] = bt.pipeline_stall(
            config,
            variants[0],
            corpus,
            batch_size=16,
            trials=params["trials"],
            max_duration=config["data"].get("max_duration"),
        )


def run_noop(args, params: dict, tmp: Path, results: dict, log_dir: Path) -> None:
    if args.workspace:
        workspace, repo, configfile = (
            Path(args.workspace).resolve(),
            bench_workflow.ROOT,
            args.workspace_config,
        )
        results["noop"] = {"built": False}
    elif args.quick:
        results["noop"] = {"skipped": "quick mode without --workspace (building one takes minutes)"}
        return
    else:
        # built and dry-run from a copy of the checkout, so that edits made meanwhile don't count as changes
        repo = bench_workflow.snapshot_repo(tmp / "checkout")
        workspace, configfile = tmp / "smoke", "config/smoke.yaml"
        log(f"building a smoke workspace in {workspace} from a copy of the checkout (several minutes)")
        results["smoke_build"] = bench_workflow.build_smoke_workspace(
            workspace, args.cores, log_dir, repo=repo
        )
        results["noop"] = {"built": True}
    log(f"no-op dry run × {params['noop_repeats']} in {workspace}")
    results["noop"].update(
        bench_workflow.noop_dry_run(
            workspace, params["noop_repeats"], log_dir, configfile=configfile, repo=repo
        )
    )
    if not results["noop"]["nothing_to_do"]:
        raise RuntimeError(
            f"{workspace} is not a finished workspace: the dry run schedules "
            f"{results['noop']['jobs_scheduled']} jobs (see {log_dir}/noop_dry_run_*.log)"
        )


def run_dag(params: dict, tmp: Path, results: dict, log_dir: Path) -> None:
    configfile, info = bench_workflow.librispeech_config(
        tmp / "librispeech_bench.yaml", 6, params["dag_epochs"]
    )
    log(f"DAG build of {configfile} × {params['dag_repeats']} ({', '.join(info['changes']) or 'as is'})")
    results["dag"] = {
        **info,
        **bench_workflow.dag_build(tmp / "dag", configfile, params["dag_repeats"], log_dir),
    }


def run_analyses(quick: bool, results: dict) -> None:
    """bench_analyses.py (landscape grid-point cost, batched IG): its ``run(quick=...)`` results, else its
    output as a script."""
    path = HERE / "bench_analyses.py"
    if not path.is_file():
        results["analyses"] = {"missing": f"{path.relative_to(ROOT)} does not exist"}
        return
    module = importlib.import_module("bench_analyses")
    runner = getattr(module, "run", None)
    if callable(runner):
        log("bench_analyses.run")
        captured = io.StringIO()
        with redirect_stdout(captured):
            out = runner(quick=quick)
        results["analyses"] = {"results": out, "stdout": captured.getvalue()}
        return
    log("bench_analyses.py as a script")
    cmd = [sys.executable, str(path), *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    results["analyses"] = {
        "command": " ".join(cmd[1:]),
        "returncode": proc.returncode,
        "stdout": proc.stdout,
        "stderr_tail": proc.stderr[-2000:],
    }


def run_padding(args, results: dict) -> None:
    import bench_padding

    log("padding of count-based and duration-budget batches")
    results["padding"] = bench_padding.run(args.padding_config, args.padding_workdir)


def run_data(params: dict, tmp: Path, results: dict) -> None:
    import bench_data

    log(f"data stages on a {params['data_utterances']}-utterance LibriSpeech-shaped split")
    results["data"] = bench_data.run(params["data_utterances"], tmp / "data")


def run_first_call(quick: bool, results: dict) -> None:
    import bench_first_call

    log("bench_first_call: one fresh process per call")
    results["first_call"] = bench_first_call.run(quick=quick)


# ------------------------------------------------------------------------------------------------ report
def _g(x: float) -> str:
    return f"{x / 1e9:.1f}"


def _ms(x: float) -> str:
    return f"{x * 1e3:.0f} ms" if x < 10 else f"{x:.1f} s"


def render(meta: dict, results: dict, errors: dict) -> str:
    out = [f"# lowrank-asr benchmarks ({'quick' if meta['quick'] else 'full'} run)", ""]
    out += [
        f"- date: {meta['date']}; host `{meta['host']}`; git {meta['git_commit']}"
        f"{' (uncommitted changes)' if meta['git_dirty'] else ''}",
        f"- CPU: {meta['cpu_model'] or 'unknown'}; cpu count {meta['cpu_count']} ({meta['cpus_usable']} usable)",
        f"- Python {meta['python']}, TensorFlow {meta['tensorflow']}, NumPy {meta['numpy']}, "
        f"Snakemake {meta['snakemake']}",
        f"- load average (1/5/15 min) at start {'/'.join(f'{x:.1f}' for x in meta['loadavg_start'])}, at end "
        f"{'/'.join(f'{x:.1f}' for x in meta['loadavg_end'])}; total wall time {meta['wall_s'] / 60:.1f} min",
        "- shared, noisy machine: compare the ratios (measured in the same run) rather than absolute times.",
        "",
    ]

    summary = []
    mm = results.get("matmul")
    train = results.get("training") or []
    for row in train:
        summary.append(
            (
                f"training step, {row['variant']} (16 × {row['audio_seconds'] / row['batch']:.1f} s)",
                f"{_ms(row['step_s'])} ({row['audio_s_per_s']:.0f} s audio/s)",
            )
        )
    if len(train) >= 2:
        base = train[0]
        for row in train[1:]:
            summary.append(
                (
                    f"step time {row['variant']} ÷ {base['variant']}",
                    f"{row['step_over_first']:.2f} (median of same-trial ratios "
                    f"{row['step_over_first_median']:.2f})",
                )
            )
            summary.append(
                (
                    f"CPU time per step {row['variant']} ÷ {base['variant']}",
                    f"{row['step_cpu_s'] / base['step_cpu_s']:.2f}",
                )
            )
    for row in train:
        summary.append(
            (f"achieved FLOP/s ÷ TF matmul FLOP/s, {row['variant']}", f"{row['fraction_of_matmul']:.1%}")
        )
    pipe = results.get("pipeline")
    if pipe:
        summary.append(
            (
                "input-pipeline stall: tf.data epoch ÷ in-memory epoch (wall time)",
                f"{pipe['stall_ratio']:.2f} (median of same-trial ratios {pipe['stall_ratio_median']:.2f})",
            )
        )
        summary.append(
            ("input pipeline: CPU time of a tf.data epoch ÷ an in-memory epoch", f"{pipe['cpu_ratio']:.2f}")
        )
    noop = results.get("noop")
    if noop and "wall_s" in noop:
        summary.append(
            (
                "no-op `snakemake -n` on the smoke workspace (median)",
                f"{noop['wall_s']:.1f} s, {noop['jobs_scheduled']} jobs scheduled",
            )
        )
    dag = results.get("dag")
    if dag:
        summary.append(
            (
                f"DAG build, LibriSpeech config ({dag['jobs']} jobs)",
                f"{dag['wall_s']:.1f} s ({dag['wall_s'] / dag['jobs'] * 1e3:.1f} ms/job)",
            )
        )
    for row in (results.get("first_call") or {}).get("rows", []):
        summary.append(
            (
                f"first call ({row['call']}): first / steady",
                f"{row['first_s']:.1f} s / "
                f"{row['steady_s']:.1f} s{'' if row['goal_met'] else ' (goal 30 s missed)'}",
            )
        )
    analyses_ratios = _analyses_ratios(results.get("analyses"))
    summary += analyses_ratios
    padding = results.get("padding")
    for row in (padding or {}).get("rows", []):
        summary.append((f"padding of training batches, {row['batching']}", f"{row['padding']:.1%}"))
    data = results.get("data")
    if data:
        for name in ("transcripts_1_thread", "transcripts_pool", "tfrecords"):
            summary.append(
                (
                    f"data stage {name}: audio hours per CPU-minute (per wall-minute)",
                    f"{data[name]['hours_per_cpu_min']:.0f} ({data[name]['hours_per_wall_min']:.0f})",
                )
            )
    out += ["## Summary", "", "| measure | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in summary] + [""]

    if mm or train:
        out += ["## 1. Training step", ""]
        if mm:
            out += [
                f"float32 matmul {mm['n']}² ({mm['repeats']} products, best of trials): TensorFlow "
                f"**{_g(mm['tf_flops'])} GFLOP/s**, NumPy **{_g(mm['numpy_flops'])} GFLOP/s**.",
                "",
            ]
        if train:
            out += [
                "| variant | params | batch (padded samples, labels) | step (median) | CPU s / step | audio s / s | GFLOP / step "
                "| achieved GFLOP/s | ÷ TF matmul | ÷ NumPy matmul | first 2 steps (trace) |",
                "|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in train:
                out.append(
                    f"| {r['variant']} | {r['params']:,} | {r['padded_shape']}, {r['labels_shape'][1]} "
                    f"| {_ms(r['step_s'])} ({_ms(r['step_median_s'])}) | {r['step_cpu_s']:.2f} "
                    f"| {r['audio_s_per_s']:.0f} | {_g(r['train_flops'])} "
                    f"| {_g(r['achieved_flops'])} | {r['fraction_of_matmul']:.1%} "
                    f"| {r['fraction_of_numpy_matmul']:.1%} | {r['first_two_steps_s']:.1f} s |"
                )
            macs = train[0]["macs_forward"]
            parts = ", ".join(
                f"{k} {v / 1e6:.0f} M" for k, v in macs.items() if k not in ("total", "encoder_frames")
            )
            out += [
                "",
                f"Step = `Trainer.train_epoch` over {train[0]['steps']} copies of one batch (Adam, clip "
                f"norm, per-step loss check): best of {len(train[0]['epoch_times_s'])} trials ÷ steps, the "
                "variants timed in turn within each trial (other processes on a shared machine only add "
                "time: a step that has to share the 2 cores takes twice as long). FLOPs = 2 × multiply-adds from the "
                "model summary at the padded shape, × 3 for forward + backward (× 1 for the log-mel front "
                "end, which gets no gradient); the RNN-T joint counted over the whole T′ × (U+1) lattice. "
                f"Forward MACs of {train[0]['variant']}: {parts}.",
                "",
            ]
    if pipe:
        out += [
            "## 2. Input pipeline",
            "",
            "| batches (utterances, audio) | tf.data epoch | in-memory epoch | stall ratio | per step: tf.data "
            "/ memory | CPU s per epoch: tf.data / memory (ratio) | pipeline alone (no training) "
            "| first batch of a fresh pipeline |",
            "|---|---|---|---|---|---|---|---|",
            f"| {pipe['batches']} ({pipe['utterances']}, {pipe['audio_seconds']:.0f} s) "
            f"| {pipe['pipeline_epoch_s']:.2f} s | {pipe['memory_epoch_s']:.2f} s | **{pipe['stall_ratio']:.2f}** "
            f"| {_ms(pipe['pipeline_step_s'])} / {_ms(pipe['memory_step_s'])} "
            f"| {pipe['pipeline_epoch_cpu_s']:.1f} / {pipe['memory_epoch_cpu_s']:.1f} ({pipe['cpu_ratio']:.2f}) "
            f"| {pipe['pipeline_only_epoch_s']:.2f} s "
            f"| {_ms(pipe['first_batch_s'])} |",
            "",
            f"Wall times: best of {len(pipe['pipeline_epoch_times_s'])} trials each, interleaved; CPU times "
            "(user + system of the process, medians) are less sensitive to other processes. "
            f"Variant {pipe['variant']}, batch 16, `make_dataset(training=True)` (seeded shuffle, length "
            "buckets, FLAC decoding) rebuilt per epoch as training does; the in-memory run feeds the same "
            "batches from a `Dataset.from_tensors` chain through the same traced step.",
            "",
        ]
    if noop:
        out += ["## 3. No-op dry run", ""]
        if "skipped" in noop:
            out += [f"Skipped: {noop['skipped']}.", ""]
        else:
            built = results.get("smoke_build")
            out += [
                f"`snakemake -n --configfile {noop['configfile']} --directory {noop['workspace']} all`, "
                f"{noop['repeats']} runs: median **{noop['wall_s']:.2f} s** "
                f"({', '.join(f'{t:.2f}' for t in noop['times_s'])}); jobs scheduled: "
                f"**{noop['jobs_scheduled']}**{'' if noop['nothing_to_do'] else ' — NOT a finished workspace'}."
            ]
            if built:
                out += [
                    "",
                    f"The workspace was built by this run, from a copy of the checkout (which the dry runs "
                    f"use too): `snakemake --cores {meta['cores']} all` on config/smoke.yaml took "
                    f"{built['wall_s'] / 60:.1f} min ({built['jobs']} jobs).",
                ]
            out += [""]
    if dag:
        per_rule = ", ".join(f"{k} {v}" for k, v in dag["jobs_per_rule"].items() if k != "total")
        out += [
            "## 4. DAG build",
            "",
            f"`snakemake -n --configfile {dag['configfile']} --directory <empty dir> all`"
            f"{' (derived: ' + '; '.join(dag['changes']) + ')' if dag['changes'] else ''}: "
            f"median **{dag['wall_s']:.1f} s** over {dag['repeats']} "
            f"({', '.join(f'{t:.1f}' for t in dag['times_s'])}), **{dag['jobs']} jobs**: {per_rule}.",
            "",
        ]
    an = results.get("analyses")
    if an:
        out += ["## 5. Analyses (bench_analyses.py)", ""]
        if "missing" in an:
            out += [f"Not measured: {an['missing']}.", ""]
        else:
            rows = analyses_ratios + _analyses_ratios(an, details=True)
            if rows:
                out += ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
                out += [
                    "Grid point ÷ evaluation pass: one point of `evaluate_grid` (weights moved in place) against "
                    "one plain loss evaluation over the same subset (≈ 1: the grid adds nothing). Batched IG ÷ "
                    "sequential: `integrated_gradients` in batches against one forward + backward pass per "
                    "α step. Representation epoch ÷ evaluation pass: one variant × epoch of the spectra and CKA "
                    "analysis against one greedy + beam decoding pass over the same subset (goal ≤ 3). "
                    "Details: tests/benchmarks/bench_analyses.py.",
                    "",
                ]
            text = an.get("stdout", "").strip()
            if text and not rows:
                out += ["```", text, "```", ""]
            if an.get("returncode"):
                out += [f"Exit code {an['returncode']}:", "```", an.get("stderr_tail", ""), "```", ""]
    if padding:
        import bench_padding

        out += [
            "## 6. Padding of training batches (bench_padding.py)",
            "",
            *bench_padding.render(padding),
            "",
            "Padding = padded frames ÷ all frames of the batches. Count-based: batches of 8 in "
            "`default_bucket_boundaries`; budgets: `training.batch_seconds` (batch size × longest ≤ budget). "
            f"Goal ≤ 10 % with a budget: {'met' if padding['goal_met'] else 'NOT met'}.",
            "",
        ]
    if data:
        c = data["corpus"]
        out += [
            "## 7. Data stages (bench_data.py)",
            "",
            f"Synthetic split: {c['utterances']} utterances, {c['hours']:.2f} h, {c['min_s']:.1f}-{c['max_s']:.1f} s "
            f"(mean {c['mean_s']:.1f} s), FLAC {c['flac_kbit_per_s']:.0f} kbit/s.",
            "",
            "| stage | wall s | CPU s | audio h / CPU-min | audio h / wall-min |",
            "|---|---|---|---|---|",
        ]
        for name in ("transcripts_1_thread", "transcripts_pool", "tfrecords"):
            r = data[name]
            out.append(
                f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['hours_per_cpu_min']:.0f} "
                f"| {r['hours_per_wall_min']:.0f} |"
            )
        out += [""]
    first = results.get("first_call")
    if first:
        params = first["rows"][0]["params"] if first["rows"] else {}
        out += [
            "## 8. First call (bench_first_call.py)",
            "",
            "| call | first call | steady call | first − steady | CPU s first / steady | first <= 30 s |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| {r['call']} | {r['first_s']:.1f} s | {r['steady_s']:.1f} s | {r['overhead_s']:.1f} s "
            f"| {r['first_cpu_s']:.1f} / {r['steady_cpu_s']:.1f} | {'yes' if r['goal_met'] else 'no'} |"
            for r in first["rows"]
        ]
        out += [
            "",
            f"ContextNet-S of config/librispeech.yaml, V = 1 024, float32, batch {params.get('batch')} of "
            f"{params.get('seconds')}-s random audio with {params.get('labels')} labels; each call in a fresh "
            "process, timed twice (the first time includes tracing, Grappler and kernel set-up). "
            "Details: tests/benchmarks/bench_first_call.py.",
            "",
        ]
    if errors:
        out += ["## Errors", ""]
        for name, tb in errors.items():
            out += [f"### {name}", "```", tb.strip()[-3000:], "```", ""]
    return "\n".join(out)


def _analyses_ratios(an: dict | None, details: bool = False) -> list[tuple[str, str]]:
    """Rows (measure, value) of what bench_analyses.run returned: its top-level numbers (the ratios), or with
    ``details`` every number of its nested results."""
    if not an or not isinstance(an.get("results"), dict):
        return []
    results = an["results"]
    if details:
        items = _flatten({k: v for k, v in results.items() if isinstance(v, dict)}).items()
    else:
        items = ((k, v) for k, v in results.items() if not isinstance(v, dict))
    return [
        (
            f"analyses: {k}" if not details else k.removeprefix("details."),
            f"{v:.3g}" if isinstance(v, float) else str(v),
        )
        for k, v in items
        if isinstance(v, int | float | str) and not isinstance(v, bool)
    ]


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, name + "."))
        else:
            flat[name] = v
    return flat


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", default=str(HERE / "results" / "report.md"), help="markdown report (default %(default)s)"
    )
    parser.add_argument("--json", help="raw results (default: --out with .json)")
    parser.add_argument("--workspace", help="a finished smoke workspace (else one is built in a temp dir)")
    parser.add_argument(
        "--workspace-config",
        default="config/smoke.yaml",
        help="the config the workspace was built with (default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: for development")
    parser.add_argument("--cores", type=int, default=2, help="cores for building the smoke workspace")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--padding-config", help="padding: this config's training TFRecords (else synthetic)")
    parser.add_argument("--padding-workdir", default=".", help="padding: the workspace of --padding-config")
    parser.add_argument("--tmp", help="folder for the corpus and workspaces (default: a new temp folder)")
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.workspace and not (Path(args.workspace) / ".snakemake").is_dir():
        parser.error(f"--workspace {args.workspace} holds no .snakemake folder: not a (finished) workspace")

    out = Path(args.out)
    json_path = Path(args.json) if args.json else out.with_suffix(".json")
    log_dir = out.parent / "logs"
    params = QUICK if args.quick else FULL
    meta = machine_info() | {
        "quick": args.quick,
        "params": params,
        "cores": args.cores,
        "sections": sorted(sections),
    }
    began = time.perf_counter()
    results: dict = {}
    errors: dict[str, str] = {}
    tmp_ctx = tempfile.TemporaryDirectory(prefix="lowrank-bench-") if not args.tmp else None
    tmp = Path(args.tmp) if args.tmp else Path(tmp_ctx.name)
    tmp.mkdir(parents=True, exist_ok=True)

    def guarded(name: str, fn, *fn_args) -> None:
        try:
            fn(*fn_args)
        except Exception:  # noqa: BLE001 - one failing part must not lose the others' numbers
            errors[name] = traceback.format_exc()
            log(f"{name} failed:\n{errors[name]}")

    try:
        # Snakemake first: building the smoke workspace loads both cores for minutes, and must not overlap
        # the TensorFlow timings.
        if "noop" in sections:
            guarded("noop", run_noop, args, params, tmp, results, log_dir)
        if "dag" in sections:
            guarded("dag", run_dag, params, tmp, results, log_dir)
        if sections & {"training", "pipeline"}:
            guarded("training", run_training, params, tmp, results, sections)
        if "analyses" in sections:
            guarded("analyses", run_analyses, args.quick, results)
        if "padding" in sections:
            guarded("padding", run_padding, args, results)
        if "data" in sections:
            guarded("data", run_data, params, tmp, results)
        if "first_call" in sections:
            guarded("first_call", run_first_call, args.quick, results)
    finally:
        meta["wall_s"] = time.perf_counter() - began
        meta["loadavg_end"] = list(os.getloadavg())
        out.parent.mkdir(parents=True, exist_ok=True)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(
            json.dumps({"meta": meta, "results": results, "errors": errors}, indent=2, default=str)
        )
        out.write_text(render(meta, results, errors) + "\n")
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    log(f"wrote {out} and {json_path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
