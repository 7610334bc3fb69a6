"""The results table: one row per variant × split, from the per-split scores, decodes and the variants' knobs;
and the paired comparisons of every two variants on every split."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from lowrank_asr.errors import PipelineError
from lowrank_asr.metrics.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    EditCounts,
    aligned_decodes,
    edit_counts,
    paired_difference,
    rate_interval,
)
from lowrank_asr.metrics.decodes import read_decodes

RATES = ("greedy_wer", "greedy_cer", "beam_wer", "beam_cer")
COLUMNS = ("variant", "split", "params", "epochs", "utterances", "words", "skipped",
           *(f"{r}{s}" for r in RATES for s in ("", "_low", "_high")), "rtf")
KNOBS = ("frontend", "conv", "rank", "alpha", "kernel_size", "blocks", "decoder")
COMPARISON_COLUMNS = ("split", "decoding", "variant_a", "variant_b", "utterances", "wer_a", "wer_b", "difference",
                      "difference_low", "difference_high", "p_value", "excludes_zero")
# The model defaults the table shows for unset knobs; the TensorFlow-free copy of models.config.DEFAULT_MODEL's
# (tests/test_wer_table.py checks that they agree). ``blocks`` counts blocks, repeats included.
KNOB_DEFAULTS = {"frontend": "logmel", "conv": "separable", "alpha": 1.0, "kernel_size": 5, "blocks": 7,
                 "decoder": "rnnt"}


@dataclass(frozen=True)
class Bootstrap:
    """Settings of the bootstrap behind every interval and comparison (config ``evaluation.bootstrap``)."""

    resamples: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0

    @classmethod
    def from_config(cls, settings: Mapping | None) -> Bootstrap:
        return cls(**(settings or {}))


def knob_value(model_cfg: Mapping, knob: str):
    """A variant's setting as shown in the table (rank only means something for conv: rank)."""
    if knob == "rank":
        return model_cfg.get("rank", 1) if model_cfg.get("conv") == "rank" else ""
    if knob == "blocks" and "blocks" in model_cfg:
        blocks = model_cfg["blocks"]
        return blocks if isinstance(blocks, str) else sum(b.get("repeat", 1) for b in blocks)
    return model_cfg.get(knob, KNOB_DEFAULTS.get(knob, ""))


def skipped_count(skipped_json: str | Path) -> int:
    """How many utterances the transcripts stage left out of a split (its ``{split}.skipped.json`` list)."""
    entries = json.loads(Path(skipped_json).read_text())
    if not isinstance(entries, list):
        raise PipelineError(f"{skipped_json} must hold a JSON list of skipped utterances; rerun the transcripts rule")
    return len(entries)


@dataclass(frozen=True)
class Evaluation:
    """One variant's decodes of one split: its score file (for params, epochs, RTF) and decode TSV."""

    scores: dict
    decodes_path: Path
    rows: list[dict]

    @classmethod
    def load(cls, scores_json: str | Path, decodes_tsv: str | Path) -> Evaluation:
        return cls(json.loads(Path(scores_json).read_text()), Path(decodes_tsv), read_decodes(decodes_tsv))

    @property
    def key(self) -> tuple[str, str]:
        return self.scores["variant"], self.scores["split"]


def _counts(rows: Sequence[dict], column: str, unit: str, where: Path) -> EditCounts:
    try:
        return edit_counts([r["GROUNDTRUTH"] for r in rows], [r[column] for r in rows], unit)
    except ValueError as e:
        raise PipelineError(f"{where}: {e}; rerun the evaluate rule") from None


def table_rows(evaluations: Sequence[Evaluation], knobs: Mapping[str, Mapping],
               skipped: Mapping[str, int] | None = None, bootstrap: Bootstrap = Bootstrap()) -> list[dict]:
    """Rates from the decodes (Σ edits ÷ Σ reference words, as jiwer) with bootstrap intervals over utterances,
    and what was scored: utterances, reference words, utterances the transcripts stage skipped."""
    rows = []
    for ev in evaluations:
        variant, split = ev.key
        row = {"variant": variant, "split": split, "params": ev.scores["params"], "epochs": ev.scores["epochs"],
               "rtf": ev.scores["rtf"], "utterances": len(ev.rows), "skipped": (skipped or {}).get(split, 0)}
        for rate in RATES:
            decoding, unit = rate.split("_")
            counts = _counts(ev.rows, "GREEDY" if decoding == "greedy" else "BEAMSEARCH",
                             "word" if unit == "wer" else "char", ev.decodes_path)
            if rate == "greedy_wer":
                row["words"] = int(counts.lengths.sum())
            iv = rate_interval(counts, resamples=bootstrap.resamples, confidence=bootstrap.confidence,
                               seed=bootstrap.seed)
            row.update({rate: iv.estimate, f"{rate}_low": iv.low, f"{rate}_high": iv.high})
        row.update({k: knob_value(knobs[variant], k) for k in KNOBS})
        rows.append(row)
    return sorted(rows, key=lambda r: (r["split"], r["variant"]))


def comparison_rows(evaluations: Sequence[Evaluation], variants: Sequence[str],
                    bootstrap: Bootstrap = Bootstrap()) -> list[dict]:
    """Every two variants (in config order) on every split, greedy and beam: ``wer_b − wer_a`` with its paired
    bootstrap interval and p-value over the same utterances."""
    by_key = {ev.key: ev for ev in evaluations}
    splits = sorted({split for _, split in by_key})
    rows = []
    for split in splits:
        present = [v for v in variants if (v, split) in by_key]
        for va, vb in combinations(present, 2):
            ea, eb = by_key[va, split], by_key[vb, split]
            rows_a, rows_b = aligned_decodes(ea.rows, eb.rows, str(ea.decodes_path), str(eb.decodes_path))
            for decoding, column in (("greedy", "GREEDY"), ("beam", "BEAMSEARCH")):
                d = paired_difference(_counts(rows_a, column, "word", ea.decodes_path),
                                      _counts(rows_b, column, "word", eb.decodes_path),
                                      resamples=bootstrap.resamples, confidence=bootstrap.confidence,
                                      seed=bootstrap.seed)
                rows.append({"split": split, "decoding": decoding, "variant_a": va, "variant_b": vb,
                             "utterances": len(rows_a), "wer_a": d.rate_a, "wer_b": d.rate_b,
                             "difference": d.difference, "difference_low": d.low, "difference_high": d.high,
                             "p_value": d.p_value, "excludes_zero": d.excludes_zero})
    return rows


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _write_csv(rows: Sequence[Mapping], header: Sequence[str], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(header), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _fmt(r[k]) for k in header} for r in rows)
    os.replace(tmp, path)


def _write_text(lines: Sequence[str], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _with_interval(row: Mapping, rate: str) -> str:
    """``9.7 % [7.9, 11.6]``: the rate and its bootstrap interval, in percent."""
    return f"{_pct(row[rate])} [{100 * row[f'{rate}_low']:.1f}, {100 * row[f'{rate}_high']:.1f}]"


def write_table(rows: Sequence[Mapping], csv_path: str | Path, md_path: str | Path, *,
                confidence: float = DEFAULT_CONFIDENCE) -> None:
    """CSV with WER/CER and interval bounds as fractions, and a Markdown view with percentages for people."""
    _write_csv(rows, [*COLUMNS, *KNOBS], Path(csv_path))
    head = ("variant", "split", "conv", "rank", "kernel", "blocks", "front end", "params", "epochs", "utterances",
            "words", "skipped", "greedy WER", "greedy CER", "beam WER", "beam CER", "RTF")
    lines = [f"Error rates with {100 * confidence:g} % bootstrap intervals over utterances.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = (r["variant"], r["split"], r["conv"], r["rank"] or "–", r["kernel_size"], r["blocks"], r["frontend"],
                 f"{r['params']:,}", r["epochs"], f"{r['utterances']:,}", f"{r['words']:,}", f"{r['skipped']:,}",
                 *(_with_interval(r, rate) for rate in RATES), f"{r['rtf']:.4f}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    _write_text(lines, Path(md_path))


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def write_comparisons(rows: Sequence[Mapping], csv_path: str | Path, md_path: str | Path, *,
                      confidence: float = DEFAULT_CONFIDENCE) -> None:
    """``comparisons.csv`` (fractions) and a Markdown view marking differences whose interval excludes zero."""
    _write_csv(rows, COMPARISON_COLUMNS, Path(csv_path))
    level = f"{100 * confidence:g} %"
    lines = [f"WER of B minus WER of A on the same utterances, with its paired {level} bootstrap interval and "
             f"two-sided p-value; **bold**: the interval excludes zero.", "",
             "| split | decoding | A | B | utterances | WER A | WER B | B − A | p |", "|" + "---|" * 9]
    for r in rows:
        diff = (f"{100 * r['difference']:+.1f} pp [{100 * r['difference_low']:+.1f}, "
                f"{100 * r['difference_high']:+.1f}]")
        if r["excludes_zero"]:
            diff = f"**{diff}**"
        lines.append(f"| {r['split']} | {r['decoding']} | {r['variant_a']} | {r['variant_b']} | "
                     f"{r['utterances']:,} | {_pct(r['wer_a'])} | {_pct(r['wer_b'])} | {diff} | {_p(r['p_value'])} |")
    if not rows:
        lines.append("| (fewer than two variants: nothing to compare) |||||||||")
    _write_text(lines, Path(md_path))
