"""Synthesis and augmentation throughput of the embedded corpus, in audio hours per CPU-minute (issue 21).

The default training split's spec (config/config.yaml) is synthesised with ``--utterances`` utterances in four
steps of the ablation (config/ablation/): today's spec, + voices, + augmentation, + broad lexicon. CPU time is
this process's and its synthesis workers' user + system time (the workers are child processes), which other
work on a shared machine does not inflate the way it does wall time. Writes
``tests/benchmarks/results/synthesis.{json,md}``. Run:  nice python tests/benchmarks/bench_synthesis.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lib"))

from lowrank_asr.corpus.synthesis import SplitSpec, synthesize_split_tarball  # noqa: E402

SPLIT = "train-clean-100"
STEPS = ("1_voices.yaml", "2_augment.yaml", "3_text.yaml")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def specs() -> dict[str, dict]:
    """{step name: train split spec}: the default's, then each ablation step's (overlays, as Snakemake merges)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    out = {"0_today": dict(config["corpus"]["synthetic"][SPLIT])}
    for step in STEPS:
        overlay = yaml.safe_load((ROOT / "config" / "ablation" / step).read_text())
        out[Path(step).stem] = {**out["0_today"], **overlay["corpus"]["synthetic"][SPLIT]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--utterances", type=int, default=400)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "benchmarks" / "results" / "synthesis")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, d in specs().items():
            spec = SplitSpec.from_dict({**d, "utterances": args.utterances})
            cpu0, wall0 = _cpu(), time.perf_counter()
            stats = synthesize_split_tarball(
                Path(tmp) / f"{name}.tar.gz", SPLIT, spec, 1234, workers=args.workers
            )
            cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
            hours = stats["seconds"] / 3600
            rows.append(
                {
                    "step": name,
                    "utterances": stats["utterances"],
                    "audio_hours": round(hours, 4),
                    "cpu_min": round(cpu / 60, 3),
                    "wall_s": round(wall, 1),
                    "audio_hours_per_cpu_min": round(hours / (cpu / 60), 3),
                }
            )
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "| step | utterances | audio h | CPU min | wall s | audio h per CPU min |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['step']} | {r['utterances']} | {r['audio_hours']} | {r['cpu_min']} | {r['wall_s']} | "
            f"{r['audio_hours_per_cpu_min']} |"
            for r in rows
        ),
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
