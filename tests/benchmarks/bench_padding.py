"""Padding of training batches: count-based batches (batch 8 in ``default_bucket_boundaries``) against duration
budgets (``training.batch_seconds``).

Padding fraction = padded frames / all frames of the batches (each batch padded to its longest utterance).
Durations: the real TFRecords of a config's training splits when given (``--config``, shards under
``resources/tfrecords/{split}/`` of ``--workdir``), else a seeded LibriSpeech-shaped list (1-17 s, mean ~12 s,
skewed long as train-960's). Batches: ``budget.simulate_batches`` over a seeded shuffled order, which makes the
batches tf.data's ``bucket_by_sequence_length`` makes of that order (tests/test_dataset.py checks it against
``make_dataset``), including the part-filled buckets an epoch ends with. Goal (issue 11): <= 10 % with a budget.
Run:  python tests/benchmarks/bench_padding.py [--config config/librispeech.yaml --workdir .]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lib"))

BUDGETS = (60.0, 120.0, 240.0)
COUNT_BATCH = 8


def synthetic_durations(n: int = 20000, seed: int = 0) -> list[float]:
    """LibriSpeech-shaped durations: 1-17 s, mean ~12 s."""
    return (1.0 + 16.0 * np.random.default_rng(seed).beta(3.2, 1.5, n)).tolist()


def config_durations(config_path: str | Path, workdir: str | Path) -> tuple[list[float], float | None, str]:
    """The durations of a config's training splits (within its data.max_duration), its max_duration, and where
    they came from."""
    from lowrank_asr.config_files import load_yaml
    from lowrank_asr.data.dataset import list_shards, scan_durations

    config = load_yaml(config_path)
    max_duration = config["data"].get("max_duration")
    shards = [
        s
        for split in config["data"]["train_splits"]
        for s in list_shards(Path(workdir) / "resources" / "tfrecords" / split)
    ]
    durations = [
        u.duration for u in scan_durations(shards) if max_duration is None or u.duration <= max_duration
    ]
    return durations, max_duration, f"{len(shards)} shards of {', '.join(config['data']['train_splits'])}"


def _row(name: str, batches: list[list[float]], budget: float | None) -> dict:
    from lowrank_asr.data.budget import padding_fraction

    padded = [len(b) * max(b) for b in batches]
    return {
        "batching": name,
        "batches": len(batches),
        "padding": padding_fraction(batches),
        "mean_batch": float(np.mean([len(b) for b in batches])),
        "mean_padded_s": float(np.mean(padded)),
        "max_padded_s": float(max(padded)),
        "budget_use": float(np.mean(padded)) / budget if budget else None,
    }


def padding(
    durations: Sequence[float],
    max_duration: float | None = 17.0,
    budgets: Sequence[float] = BUDGETS,
    batch_size: int = COUNT_BATCH,
    seed: int = 0,
) -> dict:
    """Padding of one epoch's batches, count-based and under each budget, over a seeded shuffled order."""
    from lowrank_asr.data.budget import plan_buckets, simulate_batches
    from lowrank_asr.data.dataset import default_bucket_boundaries

    order = [durations[i] for i in np.random.default_rng(seed).permutation(len(durations))]
    bounds = default_bucket_boundaries(batch_size, max_duration, max_duration=None)
    rows = [
        _row(
            f"count {batch_size} ({len(bounds) + 1} buckets)",
            simulate_batches(order, bounds, [batch_size] * (len(bounds) + 1)),
            None,
        )
    ]
    for budget in budgets:
        plan = plan_buckets(budget, max(durations), min(durations))
        rows.append(
            _row(
                f"{budget:g} s ({len(plan.batch_sizes)} buckets)",
                simulate_batches(order, plan.boundaries, plan.batch_sizes),
                budget,
            )
        )
    return {
        "utterances": len(durations),
        "mean_s": float(np.mean(durations)),
        "min_s": float(min(durations)),
        "max_s": float(max(durations)),
        "rows": rows,
        "goal_met": all(r["padding"] <= 0.10 for r in rows[1:]),
    }


def run(config: str | None = None, workdir: str | Path = ".") -> dict:
    if config:
        durations, max_duration, source = config_durations(config, workdir)
    else:
        durations, max_duration, source = (
            synthetic_durations(),
            17.0,
            "synthetic (seeded, LibriSpeech-shaped)",
        )
    return {"source": source, **padding(durations, max_duration)}


def render(result: dict) -> list[str]:
    out = [
        f"Durations: {result['source']}, {result['utterances']:,} utterances of {result['min_s']:.1f}-"
        f"{result['max_s']:.1f} s (mean {result['mean_s']:.1f} s), one epoch in a seeded shuffled order.",
        "",
        "| batches | padding | batches / epoch | mean batch size | mean padded s per batch | max padded s "
        "| mean ÷ budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        use = f"{r['budget_use']:.0%}" if r["budget_use"] is not None else ""
        out.append(
            f"| {r['batching']} | **{r['padding']:.1%}** | {r['batches']:,} | {r['mean_batch']:.1f} "
            f"| {r['mean_padded_s']:.0f} | {r['max_padded_s']:.0f} | {use} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="use this config's training TFRecords (else synthetic durations)")
    parser.add_argument("--workdir", default=".", help="the workspace holding resources/tfrecords")
    args = parser.parse_args()
    result = run(args.config, args.workdir)
    print("\n".join(render(result)))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
