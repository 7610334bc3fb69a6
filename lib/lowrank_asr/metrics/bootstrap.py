"""How sure is an error rate? Bootstrap intervals over utterances and paired comparisons of two systems.

Following Bisani & Ney (2004), a corpus WER is Σ edits ÷ Σ reference words over the utterances, and its sampling
distribution is estimated by resampling *utterances* with replacement and recomputing that ratio from the
resampled sums (not by averaging per-utterance rates). A paired comparison resamples the same utterances for both
systems, so that what the two have in common (hard utterances) cancels out of their difference.

With several training seeds, a system's per-utterance edits are a seeds × utterances matrix and its rate the mean
over seeds; each bootstrap resample then also resamples the seeds (with replacement), so that the interval
covers the spread between training runs as well as the choice of test utterances.

Intervals are percentile intervals. The two-sided p-value of a difference is twice the fraction of resampled
differences on the far side of zero (those ≤ 0 when the observed difference is positive, ≥ 0 when it is negative),
capped at 1: it falls below 1 − confidence when (up to ties at zero) the percentile interval excludes zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jiwer
import numpy as np

from lowrank_asr.errors import PipelineError

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
_CHUNK_CELLS = 4_000_000  # resampled indices held at once (resamples × utterances), ~32 MB


@dataclass(frozen=True)
class EditCounts:
    """Per utterance: edits (substitutions + deletions + insertions) and reference length, in words or chars.

    ``errors`` is ``[utterances]`` for one training run, or ``[seeds, utterances]`` for several (``stack_seeds``).
    """

    errors: np.ndarray
    lengths: np.ndarray

    @property
    def per_seed(self) -> np.ndarray:
        """``[seeds, utterances]`` (one row for a single run)."""
        return np.atleast_2d(self.errors)

    @property
    def seed_rates(self) -> np.ndarray:
        """The corpus rate of each seed's run."""
        return self.per_seed.sum(axis=1) / self.lengths.sum()

    @property
    def rate(self) -> float:
        """The corpus rate; with several seeds, the mean of their rates."""
        return float(self.seed_rates.mean())

    def __len__(self) -> int:
        return len(self.lengths)


def stack_seeds(counts: Sequence[EditCounts]) -> EditCounts:
    """One system's per-utterance edits of several training seeds (same utterances, same references)."""
    if not counts:
        raise ValueError("no edit counts to stack")
    lengths = counts[0].lengths
    if any(len(c) != len(lengths) or not np.array_equal(c.lengths, lengths) for c in counts):
        raise ValueError("the seeds' decodes do not hold the same utterances")
    return EditCounts(np.concatenate([c.per_seed for c in counts]), lengths)


def edit_counts(references: Sequence[str], hypotheses: Sequence[str],
                unit: Literal["word", "char"] = "word") -> EditCounts:
    """Per-utterance edit counts as jiwer aligns them, so that ``rate`` equals jiwer's corpus WER (CER)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no utterances to score")
    process = jiwer.process_words if unit == "word" else jiwer.process_characters
    out = process(list(references), list(hypotheses))
    errors = np.array([
        sum((c.hyp_end_idx - c.hyp_start_idx) if c.type == "insert" else (c.ref_end_idx - c.ref_start_idx)
            for c in chunks if c.type != "equal")
        for chunks in out.alignments
    ], dtype=np.int64)
    lengths = np.array([len(r) for r in out.references], dtype=np.int64)
    if not lengths.all():
        raise ValueError(f"reference {int(np.argmin(lengths))} is empty: WER is undefined for it")
    return EditCounts(errors, lengths)


def resampled_rates(systems: Sequence[EditCounts], *, resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0) -> list[np.ndarray]:
    """Each system's corpus rate on each of ``resamples`` bootstrap resamples of the utterances (and its seeds).

    All systems share the same resampled utterances (that is what makes a comparison paired); each system's seeds
    are resampled on their own (different runs). Seeded, and chunked so that memory stays bounded on large splits.
    """
    n = len(systems[0])
    if n == 0 or any(len(s) != n or not np.array_equal(s.lengths, systems[0].lengths) for s in systems):
        raise ValueError("the systems were not scored on the same utterances")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    rng = np.random.default_rng(seed)
    lengths = systems[0].lengths
    rates = [np.empty(resamples) for _ in systems]
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        words = lengths[idx].sum(axis=1)
        for system, out in zip(systems, rates, strict=True):
            per_seed = system.per_seed[:, idx].sum(axis=2)  # [seeds, resamples]
            k = len(per_seed)
            # a resample of the seeds, as weights (how often each is drawn ÷ k); one seed: weight 1, no draw
            weights = rng.multinomial(k, np.full(k, 1 / k), size=stop - start).T / k if k > 1 else 1.0
            out[start:stop] = (weights * per_seed).sum(axis=0) / words
    return rates


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def rate_interval(counts: EditCounts, *, resamples: int = DEFAULT_RESAMPLES,
                  confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Interval:
    """The corpus rate (mean over seeds) and its bootstrap percentile interval."""
    _check_confidence(confidence)
    (rates,) = resampled_rates([counts], resamples=resamples, seed=seed)
    tail = (1 - confidence) / 2
    low, high = np.quantile(rates, [tail, 1 - tail])
    return Interval(counts.rate, float(low), float(high))


@dataclass(frozen=True)
class Difference:
    """``rate_b − rate_a`` over the same utterances, its paired interval and two-sided p-value."""

    rate_a: float
    rate_b: float
    difference: float
    low: float
    high: float
    p_value: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_difference(a: EditCounts, b: EditCounts, *, resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Difference:
    """Paired bootstrap of ``b.rate − a.rate``: both systems are scored on the same resampled utterances."""
    _check_confidence(confidence)
    rates_a, rates_b = resampled_rates([a, b], resamples=resamples, seed=seed)
    diffs = rates_b - rates_a
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    observed = b.rate - a.rate
    far_side = np.mean(diffs <= 0) if observed > 0 else np.mean(diffs >= 0) if observed < 0 else 1.0
    return Difference(a.rate, b.rate, observed, float(low), float(high), float(min(1.0, 2 * far_side)))


def aligned_decodes(rows_a: Sequence[dict], rows_b: Sequence[dict], name_a: str,
                    name_b: str) -> tuple[list[dict], list[dict]]:
    """The two decodes' rows in one utterance order (by PATH), after checking that they hold the same utterances
    with the same references; a mismatch raises PipelineError naming both files."""
    def by_path(rows: Sequence[dict], name: str) -> dict[str, dict]:
        table = {r["PATH"]: r for r in rows}
        if len(table) != len(rows):
            raise PipelineError(f"{name} lists some utterance (PATH) more than once; rerun the evaluate rule")
        return table

    table_a, table_b = by_path(rows_a, name_a), by_path(rows_b, name_b)
    only_a, only_b = sorted(table_a.keys() - table_b.keys()), sorted(table_b.keys() - table_a.keys())
    if only_a or only_b:
        examples = ", ".join(f"{len(only)} utterance(s) only in the {which}" + (f" (e.g. {only[0]})" if only else "")
                             for only, which in ((only_a, "first"), (only_b, "second")))
        raise PipelineError(
            f"cannot pair {name_a} ({len(table_a)} utterances) with {name_b} ({len(table_b)}): {examples}; "
            "both must decode the same utterances of the split — rerun their evaluate jobs"
        )
    paths = sorted(table_a)
    differ = [p for p in paths if table_a[p]["GROUNDTRUTH"] != table_b[p]["GROUNDTRUTH"]]
    if differ:
        raise PipelineError(f"{name_a} and {name_b} hold different references for {len(differ)} utterance(s), "
                            f"e.g. {differ[0]}; rerun their evaluate jobs on the same transcripts")
    return [table_a[p] for p in paths], [table_b[p] for p in paths]
