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

import numpy as np

from lowrank_asr.corpus.skip_list import skipped_utterances
from lowrank_asr.errors import PipelineError
from lowrank_asr.metrics.bootstrap import (
    MIN_SPEAKERS,
    Design,
    EditCounts,
    aligned_decodes,
    design,
    edit_counts,
    holm,
    paired_difference,
    rate_interval,
    stack_seeds,
)
from lowrank_asr.metrics.decodes import read_decodes, speaker_of
from lowrank_asr.schema import section_with_defaults

RATES = ("greedy_wer", "greedy_cer", "beam_wer", "beam_cer")
COLUMNS = (
    "variant",
    "split",
    "params",
    "epochs",
    "seeds",
    "utterances",
    "words",
    "skipped",
    *(f"{r}{s}" for r in RATES for s in ("", "_low", "_high", "_seed_sd")),
    "rtf",
    "params_all",
    "interval_covers",
)
KNOBS = ("frontend", "conv", "rank", "alpha", "kernel_size", "blocks", "decoder")
COMPARISON_COLUMNS = (
    "split",
    "decoding",
    "variant_a",
    "variant_b",
    "seeds",
    "utterances",
    "wer_a",
    "wer_b",
    "difference",
    "difference_low",
    "difference_high",
    "p_value",
    "excludes_zero",
    "p_holm",
    "interval_covers",
    "finding",
)


@dataclass(frozen=True)
class Bootstrap:
    """Settings of the bootstrap behind every interval and comparison (config ``evaluation.bootstrap``)."""

    resamples: int
    confidence: float
    seed: int
    unit: str

    @classmethod
    def from_config(cls, settings: Mapping) -> Bootstrap:
        """From the complete ``evaluation.bootstrap`` section (config/schema.yaml's defaults filled in)."""
        return cls(**settings)


def knob_value(model_cfg: Mapping, knob: str):
    """A variant's setting as shown in the table, from its complete model config (unset keys are the schema's
    defaults: ``section_with_defaults("model", ...)``); rank only means something for conv: rank, and
    ``blocks`` counts blocks, repeats included."""
    if knob == "rank":
        return model_cfg["rank"] if model_cfg["conv"] == "rank" else ""
    if knob == "blocks":
        blocks = model_cfg["blocks"]
        return blocks if isinstance(blocks, str) else sum(b["repeat"] for b in blocks)
    return model_cfg[knob]


def skipped_count(skipped_json: str | Path) -> int:
    """How many utterances the transcripts stage left out of a split (its ``{split}.skipped.json`` list)."""
    entries = json.loads(Path(skipped_json).read_text())
    if not isinstance(entries, list):
        raise PipelineError(
            f"{skipped_json} must hold a JSON list of skipped utterances; rerun the transcripts rule"
        )
    return skipped_utterances(entries)  # utterances, not problems: one utterance may have several


@dataclass(frozen=True)
class Evaluation:
    """One run's decodes of one split: its score file (for params, epochs, RTF) and decode TSV."""

    scores: dict
    decodes_path: Path
    rows: list[dict]

    @classmethod
    def load(cls, scores_json: str | Path, decodes_tsv: str | Path) -> Evaluation:
        return cls(json.loads(Path(scores_json).read_text()), Path(decodes_tsv), read_decodes(decodes_tsv))

    @property
    def run(self) -> str:
        """The training run (the variant's name, or ``{variant}/seed_{seed}`` with several seeds)."""
        return self.scores["variant"]

    @property
    def split(self) -> str:
        return self.scores["split"]


@dataclass(frozen=True)
class Seeds:
    """One variant's evaluations of one split, one per training seed, their rows in one utterance order."""

    evaluations: list[Evaluation]
    rows: list[list[dict]]

    @classmethod
    def of(cls, evaluations: Sequence[Evaluation]) -> Seeds:
        first = evaluations[0]
        aligned = [
            aligned_decodes(first.rows, ev.rows, str(first.decodes_path), str(ev.decodes_path))[1]
            for ev in evaluations
        ]
        return cls(list(evaluations), aligned)

    def design(self, unit: str) -> Design:
        """How this split's utterances are resampled: by speaker (from each PATH) or by utterance."""
        return design(len(self.rows[0]), [speaker_of(r["PATH"]) for r in self.rows[0]], unit)

    def counts(self, column: str, unit: str) -> EditCounts:
        return stack_seeds(
            [
                _counts(rows, column, unit, ev.decodes_path)
                for rows, ev in zip(self.rows, self.evaluations, strict=True)
            ]
        )


def _counts(rows: Sequence[dict], column: str, unit: str, where: Path) -> EditCounts:
    try:
        return edit_counts([r["GROUNDTRUTH"] for r in rows], [r[column] for r in rows], unit)
    except ValueError as e:
        raise PipelineError(f"{where}: {e}; rerun the evaluate rule") from None


def _by_variant(
    evaluations: Sequence[Evaluation], runs: Mapping[str, str] | None
) -> dict[tuple[str, str], Seeds]:
    """(variant, split) → its seeds' evaluations; ``runs`` maps a run's name to its variant (default: itself)."""
    groups: dict[tuple[str, str], list[Evaluation]] = {}
    for ev in evaluations:
        groups.setdefault(((runs or {}).get(ev.run, ev.run), ev.split), []).append(ev)
    return {key: Seeds.of(group) for key, group in groups.items()}


def _column(rate: str) -> tuple[str, str]:
    decoding, unit = rate.split("_")
    return ("GREEDY" if decoding == "greedy" else "BEAMSEARCH"), ("word" if unit == "wer" else "char")


def table_rows(
    evaluations: Sequence[Evaluation],
    knobs: Mapping[str, Mapping],
    skipped: Mapping[str, int] | None,
    bootstrap: Bootstrap,
    runs: Mapping[str, str] | None = None,
) -> list[dict]:
    """One row per variant × split: rates from the decodes (Σ edits ÷ Σ reference words, as jiwer; the mean over
    training seeds) with intervals over the test set's speakers (or utterances) and the seeds (``interval_covers``
    says which; ``metrics.bootstrap``), the spread across seeds (standard deviation; empty with one seed), and
    what was scored: utterances, reference words, utterances the transcripts stage skipped, plus those the
    evaluation left out for being longer than its duration budget (``over_budget`` in the scores, under
    ``data.on_bad_audio: skip``). ``params`` counts trainable parameters, ``params_all`` all of them (batch-norm
    statistics included; empty for scores written before it existed)."""
    rows = []
    for (variant, split), seeds in _by_variant(evaluations, runs).items():
        scores = [ev.scores for ev in seeds.evaluations]
        row = {
            "variant": variant,
            "split": split,
            "params": scores[0]["params"],
            "epochs": scores[0]["epochs"],
            "seeds": len(scores),
            "rtf": float(np.mean([s["rtf"] for s in scores])),
            "utterances": len(seeds.rows[0]),
            "skipped": (skipped or {}).get(split, 0) + len(scores[0].get("over_budget", [])),
            "params_all": scores[0].get("params_all", ""),
        }
        plan = seeds.design(bootstrap.unit)
        for rate in RATES:
            counts = seeds.counts(*_column(rate))
            if rate == "greedy_wer":
                row["words"] = int(counts.lengths.sum())
            iv = rate_interval(
                counts,
                plan,
                resamples=bootstrap.resamples,
                confidence=bootstrap.confidence,
                seed=bootstrap.seed,
            )
            row["interval_covers"] = iv.covers
            spread = float(np.std(counts.seed_rates, ddof=1)) if len(scores) > 1 else ""
            row.update(
                {rate: iv.estimate, f"{rate}_low": iv.low, f"{rate}_high": iv.high, f"{rate}_seed_sd": spread}
            )
        # TensorFlow-free: the schema's model defaults, not lowrank_asr.models (the plot environment runs this)
        model_cfg = section_with_defaults("model", knobs[variant])
        row.update({k: knob_value(model_cfg, k) for k in KNOBS})
        rows.append(row)
    return sorted(rows, key=lambda r: (r["split"], r["variant"]))


def comparison_rows(
    evaluations: Sequence[Evaluation],
    variants: Sequence[str],
    bootstrap: Bootstrap,
    runs: Mapping[str, str] | None = None,
) -> list[dict]:
    """Every two variants (in config order) on every split, greedy and beam: ``wer_b − wer_a`` (means over
    seeds) with its paired interval and p-value over the same resampled speakers (or utterances), seeds paired by
    position; ``p_holm`` adjusts p over all the rows (Holm–Bonferroni: the family is this table), and ``finding``
    marks a difference that survives it and whose interval covers seeds and speakers (never with one seed)."""
    groups = _by_variant(evaluations, runs)
    rows = []
    for split in sorted({split for _, split in groups}):
        present = [v for v in variants if (v, split) in groups]
        for va, vb in combinations(present, 2):
            a, b = groups[va, split], groups[vb, split]
            ea, eb = a.evaluations[0], b.evaluations[0]
            aligned_decodes(ea.rows, eb.rows, str(ea.decodes_path), str(eb.decodes_path))  # same utterances?
            plan = a.design(bootstrap.unit)
            for decoding, column in (("greedy", "GREEDY"), ("beam", "BEAMSEARCH")):
                d = paired_difference(
                    a.counts(column, "word"),
                    b.counts(column, "word"),
                    plan,
                    resamples=bootstrap.resamples,
                    confidence=bootstrap.confidence,
                    seed=bootstrap.seed,
                )
                rows.append(
                    {
                        "split": split,
                        "decoding": decoding,
                        "variant_a": va,
                        "variant_b": vb,
                        "seeds": f"{len(a.evaluations)}/{len(b.evaluations)}",
                        "utterances": len(a.rows[0]),
                        "wer_a": d.rate_a,
                        "wer_b": d.rate_b,
                        "difference": d.difference,
                        "difference_low": d.low,
                        "difference_high": d.high,
                        "p_value": d.p_value,
                        "excludes_zero": d.excludes_zero,
                        "interval_covers": d.covers,
                        "supports_finding": d.supports_finding,
                    }
                )
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = adjusted
        row["finding"] = row.pop("supports_finding") and adjusted < 1 - bootstrap.confidence
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


def _population(covers: str) -> bool:
    """Whether an interval's ``covers`` reaches the population target (seeds and speakers, or utterances chosen)."""
    return covers.endswith("+ seeds") and " of " not in covers


def _with_interval(row: Mapping, rate: str) -> str:
    """``9.7 % [7.9, 11.6]``: the rate and its interval, in percent; ``± 0.8`` adds the standard deviation across
    training seeds when there are several; ``†`` marks an interval that leaves seeds or speakers out."""
    text = f"{_pct(row[rate])} [{100 * row[f'{rate}_low']:.1f}, {100 * row[f'{rate}_high']:.1f}]"
    spread = row.get(f"{rate}_seed_sd", "")
    text = text if spread == "" else f"{text} ± {100 * spread:.1f}"
    return text if _population(row["interval_covers"]) else f"{text} †"


_COVERS_NOTE = (
    f"†: the interval leaves something out (see *interval covers*): with one seed it covers test-set "
    f"sampling only, not the spread between training runs, which can be larger (and can flip the sign "
    f"of a difference); with fewer than {MIN_SPEAKERS} speakers it resamples utterances and does not "
    f"cover the spread between speakers. With two seeds the seed part of an interval rests on one degree of "
    f"freedom (t = 12.7): the interval is wide and, where the test set's spread is as large as the seeds', "
    f"covers more than its level; three seeds (t = 4.3) are far narrower."
)


def write_table(
    rows: Sequence[Mapping],
    csv_path: str | Path,
    md_path: str | Path,
    *,
    confidence: float,
) -> None:
    """CSV with WER/CER and interval bounds as fractions, and a Markdown view with percentages for people."""
    _write_csv(rows, [*COLUMNS, *KNOBS], Path(csv_path))
    head = (
        "variant",
        "split",
        "conv",
        "rank",
        "kernel",
        "blocks",
        "front end",
        "params",
        "epochs",
        "seeds",
        "utterances",
        "words",
        "skipped",
        "greedy WER",
        "greedy CER",
        "beam WER",
        "beam CER",
        "interval covers",
        "RTF",
    )
    lines = [
        f"Error rates with {100 * confidence:g} % intervals of the expected rate over training seeds and "
        "speakers (the seeds are the unit of inference, with t quantiles on k − 1 df; the test set's part from a speaker "
        "bootstrap); with several seeds, the mean over seeds ± their standard deviation. params: trainable "
        "parameters.",
        "",
        _COVERS_NOTE,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = (
            r["variant"],
            r["split"],
            r["conv"],
            r["rank"] or "–",
            r["kernel_size"],
            r["blocks"],
            r["frontend"],
            f"{r['params']:,}",
            r["epochs"],
            r["seeds"],
            f"{r['utterances']:,}",
            f"{r['words']:,}",
            f"{r['skipped']:,}",
            *(_with_interval(r, rate) for rate in RATES),
            r["interval_covers"],
            f"{r['rtf']:.4f}",
        )
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    _write_text(lines, Path(md_path))


def _p(value: float) -> str:
    """Two significant digits, nothing below 0.001: the p-value's standard error comes from the bootstrap, whose
    Monte-Carlo error (≈ 1/√(2B) relative on the variance) leaves no meaning in more digits or a smaller p."""
    return "< 0.001" if value < 0.001 else f"{value:.2g}"


def write_comparisons(
    rows: Sequence[Mapping],
    csv_path: str | Path,
    md_path: str | Path,
    *,
    confidence: float,
) -> None:
    """``comparisons.csv`` (fractions) and a Markdown view in which only findings (``finding``) are bold."""
    _write_csv(rows, COMPARISON_COLUMNS, Path(csv_path))
    level, alpha = f"{100 * confidence:g} %", f"{1 - confidence:.2g}"
    lines = [
        f"WER of B minus WER of A on the same utterances, with its paired {level} interval (the "
        "seeds, paired by position, are the unit of inference; the test set's part from a speaker bootstrap) "
        f"and two-sided p-value. p (Holm): adjusted by Holm–Bonferroni over all {len(rows)} comparisons of "
        f"this table (every pair × split × decoding). **Bold**: a finding, Holm p < {alpha} with two or more "
        "seeds and the speakers covered. A one-seed difference is never bold, however small its p: its "
        "interval covers test-set sampling only, and a different training seed can flip its sign.",
        "",
        _COVERS_NOTE,
        "",
        "| split | decoding | A | B | seeds | utterances | WER A | WER B | B − A | p | p (Holm) | "
        "interval covers |",
        "|" + "---|" * 12,
    ]
    for r in rows:
        diff = (
            f"{100 * r['difference']:+.1f} pp [{100 * r['difference_low']:+.1f}, "
            f"{100 * r['difference_high']:+.1f}]"
        )
        diff = f"**{diff}**" if r["finding"] else diff if _population(r["interval_covers"]) else f"{diff} †"
        lines.append(
            f"| {r['split']} | {r['decoding']} | {r['variant_a']} | {r['variant_b']} | {r['seeds']} | "
            f"{r['utterances']:,} | {_pct(r['wer_a'])} | {_pct(r['wer_b'])} | {diff} | {_p(r['p_value'])} "
            f"| {_p(r['p_holm'])} | {r['interval_covers']} |"
        )
    if not rows:
        lines.append("| (fewer than two variants: nothing to compare) ||||||||||||")
    _write_text(lines, Path(md_path))
