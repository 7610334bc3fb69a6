"""The compression sweep's CSV files: one per run (a row per rank fraction x split) and the joint table.
Standard library only: the table and plot rules run in the plot environment, without TensorFlow."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from lowrank_asr.errors import PipelineError

CSV_COLUMNS = (
    "variant",
    "fraction",
    "split",
    "params",
    "encoder_params",
    "truncated_params",
    "greedy_wer",
    "greedy_cer",
    "utterances",
    "recalibration_batches",
)


def write_compression_csv(rows: Sequence[dict], variant: str, path) -> None:
    """One row per fraction × split (the columns of CSV_COLUMNS), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "variant": variant})
    os.replace(tmp, path)


def read_compression_csv(path) -> list[dict]:
    """The rows of a per-variant CSV or of the gathered table, numbers as numbers."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PipelineError(f"{path} lacks the compression columns {missing}; rerun the compression rule")
        rows = list(reader)
    ints = {"params", "encoder_params", "truncated_params", "utterances", "recalibration_batches"}
    floats = {"fraction", "greedy_wer", "greedy_cer"}
    return [
        {k: int(v) if k in ints else float(v) if k in floats else v for k, v in row.items()} for row in rows
    ]


def write_compression_table(paths: Sequence, path) -> list[dict]:
    """Gather per-variant CSVs into one table (same columns), variants in the given order; returns the rows."""
    rows = [row for p in paths for row in read_compression_csv(p)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return rows
