"""Snakemake benchmarks (run by run_all.py; not collected by pytest).

* ``build_smoke_workspace``: ``snakemake --configfile config/smoke.yaml --directory DIR --cores N all``.
* ``noop_dry_run``: ``snakemake -n`` on a finished workspace: wall time, and that it schedules nothing.
* ``dag_build``: ``snakemake -n`` for the LibriSpeech config (6 variants × 50 epochs of per-epoch analyses)
  in an empty directory: wall time of building the whole DAG, and its job counts.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTHING_TO_DO = "Nothing to be done"


def snakemake_cmd() -> list[str]:
    """The snakemake of this interpreter's environment."""
    exe = Path(sys.executable).parent / "snakemake"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "snakemake"]


def snapshot_repo(dest: Path) -> Path:
    """Copy the checkout's files (tracked and untracked, not ignored) to ``dest``.

    A workspace built and dry-run from the copy sees one version of the code: a library edit in the live
    checkout during the build (its code hashes are rule params) would otherwise make the "no-op" dry run
    schedule jobs. The copy's Snakefile puts the copy's lib/ first on the path, for itself and its jobs."""
    listing = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listing.split("\0")):
        src = ROOT / name
        if src.is_file():  # listed files may vanish (deleted but not staged)
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def run_snakemake(
    args: list[str], log: Path | None = None, timeout: float | None = None, repo: Path = ROOT
) -> dict:
    """Run snakemake from the repository root ``repo``; wall time, exit code and the combined output."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    began = time.perf_counter()
    proc = subprocess.run(
        [*snakemake_cmd(), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - began
    output = proc.stdout + proc.stderr
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output)
    return {"wall_s": wall, "returncode": proc.returncode, "output": output}


def job_counts(output: str) -> dict[str, int]:
    """Per-rule job counts from snakemake's "Job stats" table (empty when nothing is scheduled)."""
    counts: dict[str, int] = {}
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return counts
    for line in lines[start + 1 :]:
        m = re.match(r"^(\S+)\s+(\d+)\s*$", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
            if m.group(1) == "total":
                break
        elif counts:
            break
    return counts


def _check(result: dict, what: str) -> None:
    if result["returncode"] != 0:
        tail = "\n".join(result["output"].splitlines()[-30:])
        raise RuntimeError(f"{what} failed (exit {result['returncode']}):\n{tail}")


def build_smoke_workspace(workdir: Path, cores: int, log_dir: Path, repo: Path = ROOT) -> dict:
    """Run the smoke workflow of the checkout ``repo`` to completion in ``workdir`` (minutes on 2 cores)."""
    workdir.mkdir(parents=True, exist_ok=True)
    result = run_snakemake(
        ["--configfile", "config/smoke.yaml", "--directory", str(workdir), "--cores", str(cores), "all"],
        log=log_dir / "smoke_build.log",
        repo=repo,
    )
    _check(result, f"smoke workflow in {workdir}")
    return {"wall_s": result["wall_s"], "jobs": job_counts(result["output"]).get("total")}


def noop_dry_run(
    workdir: Path, repeats: int, log_dir: Path, configfile: str = "config/smoke.yaml", repo: Path = ROOT
) -> dict:
    """Median wall time of ``snakemake -n`` on a finished workspace, and the jobs it would run (should be 0)."""
    times, scheduled = [], []
    for i in range(repeats):
        result = run_snakemake(
            ["-n", "--configfile", configfile, "--directory", str(workdir), "all"],
            log=log_dir / f"noop_dry_run_{i}.log",
            repo=repo,
        )
        _check(result, f"dry run in {workdir}")
        times.append(result["wall_s"])
        counts = job_counts(result["output"])
        nothing = NOTHING_TO_DO in result["output"]
        scheduled.append(0 if nothing and not counts else counts.get("total", -1))
    return {
        "workspace": str(workdir),
        "configfile": configfile,
        "repo": str(repo),
        "repeats": repeats,
        "wall_s": statistics.median(times),
        "times_s": times,
        "jobs_scheduled": max(scheduled),
        "nothing_to_do": all(n == 0 for n in scheduled),
    }


def librispeech_config(out: Path, variants: int = 6, epochs: int = 50) -> tuple[Path, dict]:
    """config/librispeech.yaml with exactly ``variants`` variants and ``epochs`` training epochs (analyses
    on all epochs). The file itself is used when it already says so; otherwise a derived copy is written
    to ``out`` (extra variants repeat the given ones with another rank, surplus ones are dropped)."""
    source = ROOT / "config" / "librispeech.yaml"
    config = yaml.safe_load(source.read_text())
    changes = []
    names = list(config["variants"])
    if len(names) != variants:
        chosen = {n: config["variants"][n] for n in names[:variants]}
        k = 0
        while len(chosen) < variants:
            base = copy.deepcopy(config["variants"][names[k % len(names)]] or {})
            base.update({"conv": "rank", "rank": 3 + k})
            chosen[f"extra{k}"] = base
            k += 1
        config["variants"] = chosen
        changes.append(f"variants: {len(names)} → {variants}")
    if config["training"]["epochs"] != epochs:
        changes.append(f"training.epochs: {config['training']['epochs']} → {epochs}")
        config["training"]["epochs"] = epochs
    for section in ("landscape", "attribution"):
        if config[section].get("epochs", "all") != "all":
            changes.append(f"{section}.epochs: {config[section]['epochs']!r} → 'all'")
            config[section]["epochs"] = "all"
    if not changes:
        return source, {"configfile": str(source.relative_to(ROOT)), "changes": []}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out, {"configfile": str(out), "changes": changes}


def dag_build(workdir: Path, configfile: Path, repeats: int, log_dir: Path) -> dict:
    """Median wall time of ``snakemake -n`` for ``configfile`` in an empty ``workdir``, with its job counts."""
    times, counts = [], {}
    for i in range(repeats):
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        result = run_snakemake(
            ["-n", "--configfile", str(configfile), "--directory", str(workdir), "all"],
            log=log_dir / f"dag_build_{i}.log",
        )
        _check(result, f"dry run of {configfile}")
        times.append(result["wall_s"])
        counts = job_counts(result["output"])
    return {
        "wall_s": statistics.median(times),
        "times_s": times,
        "jobs": counts.get("total"),
        "jobs_per_rule": counts,
        "repeats": repeats,
    }
