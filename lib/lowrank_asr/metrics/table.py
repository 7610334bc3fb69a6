"""The results table: one row per variant × split, from the per-split score files and the variants' knobs."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

COLUMNS = ("variant", "split", "params", "epochs", "greedy_wer", "greedy_cer", "beam_wer", "beam_cer", "rtf")
KNOBS = ("frontend", "conv", "rank", "alpha", "decoder")


def knob_value(model_cfg: Mapping, knob: str):
    """A variant's setting as shown in the table (rank only means something for conv: rank)."""
    if knob == "rank":
        return model_cfg.get("rank", 1) if model_cfg.get("conv") == "rank" else ""
    defaults = {"frontend": "logmel", "conv": "separable", "alpha": 1.0, "decoder": "rnnt"}
    return model_cfg.get(knob, defaults.get(knob, ""))


def table_rows(score_files: Sequence[str | Path], knobs: Mapping[str, Mapping]) -> list[dict]:
    rows = []
    for path in score_files:
        scores = json.loads(Path(path).read_text())
        row = {col: scores[col] for col in COLUMNS}
        row.update({k: knob_value(knobs[scores["variant"]], k) for k in KNOBS})
        rows.append(row)
    return sorted(rows, key=lambda r: (r["split"], r["variant"]))


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def write_table(rows: Sequence[Mapping], csv_path: str | Path, md_path: str | Path) -> None:
    """CSV with WER/CER as fractions, and a Markdown view with percentages for people."""
    header = [*COLUMNS, *KNOBS]
    csv_path, md_path = Path(csv_path), Path(md_path)
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _fmt(r[k]) for k in header} for r in rows)
    os.replace(tmp, csv_path)

    def pct(v):
        return f"{100 * v:.1f} %"

    lines = ["| variant | split | conv | rank | front end | params | epochs | greedy WER | greedy CER | beam WER "
             "| beam CER | RTF |", "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['split']} | {r['conv']} | {r['rank'] or '–'} | {r['frontend']} | "
            f"{r['params']:,} | {r['epochs']} | {pct(r['greedy_wer'])} | {pct(r['greedy_cer'])} | "
            f"{pct(r['beam_wer'])} | {pct(r['beam_cer'])} | {r['rtf']:.4f} |"
        )
    tmp = md_path.with_name(md_path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, md_path)
