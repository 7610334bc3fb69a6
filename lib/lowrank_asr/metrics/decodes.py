"""The decode TSV (TensorFlowASR's ``PATH DURATION GROUNDTRUTH GREEDY BEAMSEARCH``), read without TensorFlow."""

from __future__ import annotations

import csv
from pathlib import Path

from lowrank_asr.errors import PipelineError

DECODE_COLUMNS = ("PATH", "DURATION", "GROUNDTRUTH", "GREEDY", "BEAMSEARCH")


def read_decodes(path: str | Path) -> list[dict]:
    """One dict per utterance; an empty cell (an empty hypothesis) reads as ``""``."""
    with Path(path).open(newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if tuple(reader.fieldnames or ()) != DECODE_COLUMNS:
            raise PipelineError(f"{path}: expected columns {DECODE_COLUMNS}, found {reader.fieldnames}; "
                                "rerun the evaluate rule")
        rows = []
        for n, row in enumerate(reader, 2):
            if None in row or any(row[k] is None for k in DECODE_COLUMNS[:3]):
                raise PipelineError(f"{path} line {n}: expected {len(DECODE_COLUMNS)} tab-separated fields; "
                                    "rerun the evaluate rule")
            rows.append({k: (v or "") for k, v in row.items()})
        return rows
