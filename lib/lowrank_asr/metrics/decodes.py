"""The decode TSV (TensorFlowASR's ``PATH DURATION GROUNDTRUTH GREEDY BEAMSEARCH``), read without TensorFlow."""

from __future__ import annotations

import csv
import re
from pathlib import Path, PurePosixPath

from lowrank_asr.errors import PipelineError

DECODE_COLUMNS = ("PATH", "DURATION", "GROUNDTRUTH", "GREEDY", "BEAMSEARCH")


def read_decodes(path: str | Path) -> list[dict]:
    """One dict per utterance; an empty cell (an empty hypothesis) reads as ``""``."""
    with Path(path).open(newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if tuple(reader.fieldnames or ()) != DECODE_COLUMNS:
            raise PipelineError(
                f"{path}: expected columns {DECODE_COLUMNS}, found {reader.fieldnames}; "
                "rerun the evaluate rule"
            )
        rows = []
        for n, row in enumerate(reader, 2):
            if None in row or any(row[k] is None for k in DECODE_COLUMNS[:3]):
                raise PipelineError(
                    f"{path} line {n}: expected {len(DECODE_COLUMNS)} tab-separated fields; "
                    "rerun the evaluate rule"
                )
            rows.append({k: (v or "") for k, v in row.items()})
        return rows


_LIBRISPEECH_ID = re.compile(r"^(\d+)-\d+-\d+$")


def speaker_of(path: str) -> str:
    """The speaker of a decoded utterance: the first field of a LibriSpeech id (``<speaker>-<chapter>-<utt>``,
    the file's stem); for other names, the folder that holds the file (one folder per speaker)."""
    p = PurePosixPath(path)
    match = _LIBRISPEECH_ID.match(p.stem)
    return match.group(1) if match else str(p.parent)
