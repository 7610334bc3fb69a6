"""How sure is an error rate? Intervals over the test set's speakers (or utterances) and the training seeds, and
paired comparisons of two systems.

Following Bisani & Ney (2004), a corpus WER is Σ edits ÷ Σ reference words, and its test-set sampling distribution
is estimated by resampling with replacement and recomputing that ratio from the resampled sums. LibriSpeech-style
test sets are clustered by speaker (a hard speaker makes all of their utterances hard), so the resampled unit is
the *speaker* (a cluster bootstrap; ``evaluation.bootstrap.unit``'s default); resampling utterances (``unit="utterance"``) covers only the
choice of utterances of a fixed set of speakers. With fewer than ``MIN_SPEAKERS`` speakers no resampling can
estimate the between-speaker spread: the speaker unit then falls back to utterances and says so (``covers``).

The target is the expected WER over training seeds and over the test population. With k seeds scored on one
shared test set, the seed-mean rate is ``T + mean(G + H)``, where ``T`` (the test set's difficulty) is common to
all seeds and ``G + H`` (a run's own luck: G overall, H on these particular utterances) is independent across
seeds given the test set. Hence

    Var(mean) = Var(T) + (σ²_G + σ²_H) / k,

which is estimated from the resampled per-seed values (``[resamples, seeds]``) and the k observed ones
(``spread``), the same way for a rate (on the log scale: a rate is positive and right-skewed with few speakers)
and for a paired difference (the same clusters are resampled for both systems and their seeds are paired by
position, so what the two share, hard speakers, cancels):

- Var(T), the test-set part (clusters − 1 df): the mean covariance between *different* seeds' resampled values,
  which share the test set but not a run's own noise;
- (σ²_G + σ²_H) / k, the seed part (k − 1 df): the per-seed sample variance ÷ k. The seed values differ by
  ``G + H`` only, so this is an exact t pivot for the seed mean's own deviation, the seed being the unit of
  inference. (An earlier split moved σ²_H, which the bootstrap measures well, into the test-set part and left
  only s² − σ²_H, floored at 0, to the 1–2 df seed part: whenever s² came out small by chance the seed part
  vanished, and 2 seeds with a 15 % seed effect covered 0.913 of rates in the calibration benchmark.)

Both intervals are Banerjee's ``estimate ± √(t²_test·test term + t²_seed·seed term)``, each term with its own
t quantile (clusters − 1 and k − 1 df), which does not lean on a df estimated from a 1-df variance; it covers
at least the nominal level, and with 2 seeds (t = 12.7) more than that where the test set's spread is as large
as the seeds'.

The bootstrap's plug-in variance is scaled by m / (m − 1) for m resampled clusters. With one seed there is no
seed term: the interval covers test-set sampling only, and with a seed-to-seed spread it cannot cover the
expected WER over seeds (``covers`` says "one seed only"). The two-sided p-value is where the interval reaches
zero (p < 1 − confidence exactly when it excludes zero); it is never exactly 0. ``holm`` adjusts the p-values of
a family of comparisons (Holm–Bonferroni). ``metrics.calibration`` and ``tests/benchmarks/bench_calibration.py``
check coverage and false positives by simulation: 0.93–0.97 wherever an interval claims to cover, except that a
2-seed rate is claimed only conservative (at least 0.93).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jiwer
import numpy as np
from scipy import optimize, special

from lowrank_asr.errors import PipelineError

UNITS = ("speaker", "utterance")
Unit = Literal["speaker", "utterance"]
# A cluster bootstrap estimates the between-speaker variance from the speakers it sees: with one speaker it sees
# none, with two a single difference (and the t quantile on 1 df is 12.7). Below this, resample utterances.
MIN_SPEAKERS = 3


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


def edit_counts(
    references: Sequence[str], hypotheses: Sequence[str], unit: Literal["word", "char"] = "word"
) -> EditCounts:
    """Per-utterance edit counts as jiwer aligns them, so that ``rate`` equals jiwer's corpus WER (CER)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no utterances to score")
    process = jiwer.process_words if unit == "word" else jiwer.process_characters
    out = process(list(references), list(hypotheses))
    errors = np.array(
        [
            sum(
                (c.hyp_end_idx - c.hyp_start_idx) if c.type == "insert" else (c.ref_end_idx - c.ref_start_idx)
                for c in chunks
                if c.type != "equal"
            )
            for chunks in out.alignments
        ],
        dtype=np.int64,
    )
    lengths = np.array([len(r) for r in out.references], dtype=np.int64)
    if not lengths.all():
        raise ValueError(f"reference {int(np.argmin(lengths))} is empty: WER is undefined for it")
    return EditCounts(errors, lengths)


@dataclass(frozen=True)
class Design:
    """How the test set is resampled: each utterance's cluster (0 … clusters − 1) and what that covers."""

    clusters: np.ndarray
    unit: Unit  # what is resampled
    speakers: int  # distinct speakers in the split (0: not known)
    fallback: bool  # speakers were asked for but are too few: utterances are resampled instead

    @property
    def size(self) -> int:
        return int(self.clusters.max()) + 1 if len(self.clusters) else 0

    @property
    def test_set(self) -> str:
        """What the test-set part of an interval covers, in words."""
        if self.unit == "speaker":
            return "speakers"
        if self.fallback:
            return f"utterances of {self.speakers} speaker{'s' if self.speakers != 1 else ''}"
        return "utterances"


def design(n: int, speakers: Sequence[str] | None, unit: Unit) -> Design:
    """The resampling of ``n`` utterances: by speaker (``speakers`` labels them) or by utterance."""
    if unit not in UNITS:
        raise ValueError(f"bootstrap unit must be one of {UNITS}, got {unit!r}")
    if speakers is not None and len(speakers) != n:
        raise ValueError(f"{len(speakers)} speaker labels for {n} utterances")
    count = len(set(speakers)) if speakers is not None else 0
    if unit == "speaker":
        if speakers is None:
            raise ValueError("a speaker bootstrap needs each utterance's speaker")
        if count >= MIN_SPEAKERS:
            return Design(np.unique(np.asarray(speakers), return_inverse=True)[1], "speaker", count, False)
    return Design(np.arange(n), "utterance", count, unit == "speaker")


def covers(seeds: int, plan: Design) -> str:
    """The interval's ``covers`` text: the test-set part and whether seed-to-seed spread is in it."""
    return f"{plan.test_set} + seeds" if seeds > 1 else f"{plan.test_set}, one seed only"


def resampled_rates(
    systems: Sequence[EditCounts],
    plan: Design | None = None,
    *,
    resamples: int,
    seed: int,
) -> list[np.ndarray]:
    """Each system's per-seed corpus rates on ``resamples`` resamples of the test set: ``[resamples, seeds]``.

    All systems share the same resampled clusters (that is what makes a comparison paired); the seeds are not
    resampled (their spread is estimated from the k per-seed rates instead). Seeded. A resample is a vector of
    how often each cluster was drawn, so that the rates are two matrix products over per-cluster sums.
    """
    n = len(systems[0])
    if n == 0 or any(len(s) != n or not np.array_equal(s.lengths, systems[0].lengths) for s in systems):
        raise ValueError("the systems were not scored on the same utterances")
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2, got {resamples}")
    plan = plan or design(n, None, "utterance")
    m = plan.size
    words = np.bincount(plan.clusters, weights=systems[0].lengths, minlength=m)
    draws = np.random.default_rng(seed).multinomial(m, np.full(m, 1 / m), size=resamples).astype(np.float64)
    total_words = draws @ words
    out = []
    for system in systems:
        edits = np.stack([np.bincount(plan.clusters, weights=row, minlength=m) for row in system.per_seed])
        out.append((draws @ edits.T) / total_words[:, None])
    return out


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


@dataclass(frozen=True)
class Spread:
    """The variance of a seed-mean statistic in two independent parts, each with its degrees of freedom."""

    test_var: float  # shared test-set sampling, Var(T) (resampled clusters)
    seed_var: float  # a run's own deviation, (σ²_G + σ²_H) ÷ k (0 with one seed)
    test_df: float = float("inf")  # clusters − 1
    seed_df: float = float("inf")  # seeds − 1

    @property
    def se(self) -> float:
        return float(np.sqrt(self.test_var + self.seed_var))


def spread(per_seed: np.ndarray, resampled: np.ndarray, clusters: int) -> Spread:
    """Var(T) + (σ²_G + σ²_H) ÷ k of a statistic observed per seed (``per_seed``, [k]) and resampled ([B, k]): a
    rate (or its log), or a paired difference.

    With one seed, the bootstrap variance of its value (test-set sampling only). With k seeds, Var(T) is the mean
    covariance between *different* seeds' resampled values (what the seeds share: the test set), floored at 0, and
    the seed part the per-seed sample variance ÷ k, which holds all of each run's own deviation G + H. The seed
    values are ``μ + T + G_i + H_i``: their sample variance does not contain T, so ``mean(G + H) ÷ √(s² / k)`` is
    an exact t pivot on k − 1 df, and the interval combines it with the test-set part (``_banerjee_interval``).
    """
    k = len(per_seed)
    if clusters < 2:
        return Spread(float("nan"), 0.0)
    inflate = clusters / (clusters - 1)
    if k == 1:
        return Spread(float(np.var(resampled[:, 0], ddof=1)) * inflate, 0.0, clusters - 1)
    cov = np.cov(resampled, rowvar=False)
    test = max(0.0, float(cov.sum() - np.trace(cov)) / (k * (k - 1))) * inflate
    return Spread(test, float(np.var(per_seed, ddof=1)) / k, clusters - 1, k - 1)


def _t_interval(estimate: float, s: Spread, confidence: float) -> tuple[float, float, float]:
    """(low, high, two-sided p-value of zero) of ``estimate ± t·SE`` on the test set's df (no seed part)."""
    if not np.isfinite(s.se):
        return float("-inf"), float("inf"), 1.0
    if s.se == 0:
        return estimate, estimate, 1.0 if estimate == 0 else 0.0
    half = float(special.stdtrit(s.test_df, 0.5 + confidence / 2)) * s.se  # the t quantile (a fast ufunc)
    p = float(2 * special.stdtr(s.test_df, -abs(estimate) / s.se))
    return estimate - half, estimate + half, min(1.0, p)


def _banerjee_interval(estimate: float, s: Spread, confidence: float) -> tuple[float, float, float]:
    """(low, high, p) of ``estimate ± √(t²_test·test_var + t²_seed·seed_var)``, each term with its own df.

    Banerjee's (1961) interval covers at least the nominal level whatever the ratio of the two variances, without
    estimating a df from them: no interval is calibrated at every ratio when one part has 1–2 df (the
    Behrens–Fisher problem), and the ones that narrow where the parts are balanced (Welch–Satterthwaite's df, or
    treating part of the seed variance as known) fall well below the nominal level where the seed part
    dominates. With 2 seeds Banerjee's is therefore conservative where the test set's spread is as large as the
    seeds' (docs: calibration). p: the level at which the interval reaches zero, so that p < 1 − confidence
    exactly when it excludes zero.
    """
    if not np.isfinite(s.se) or s.se == 0 or s.seed_var == 0:
        return _t_interval(estimate, s, confidence)

    def half(level: float) -> float:
        q = 0.5 + level / 2
        return float(
            np.sqrt(
                special.stdtrit(s.test_df, q) ** 2 * s.test_var
                + special.stdtrit(s.seed_df, q) ** 2 * s.seed_var
            )
        )

    width = half(confidence)
    if estimate == 0:
        return estimate - width, estimate + width, 1.0
    tiny = 1e-12
    p = (
        tiny
        if half(1 - tiny) < abs(estimate)
        else 1 - optimize.brentq(lambda c: half(c) - abs(estimate), 0.0, 1 - tiny)
    )
    return estimate - width, estimate + width, float(p)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    covers: str = ""
    seeds: int = 1
    fallback: bool = False  # too few speakers for the speaker bootstrap: speakers are not covered

    @property
    def supports_finding(self) -> bool:
        """Whether the interval covers what a conclusion about the variant needs: seeds and the test set's unit."""
        return self.seeds > 1 and not self.fallback


def rate_interval(
    counts: EditCounts,
    plan: Design | None = None,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> Interval:
    """The corpus rate (mean over seeds) and its interval (module docstring); ``plan`` defaults to utterances."""
    _check_confidence(confidence)
    plan = plan or design(len(counts), None, "utterance")
    (rates,) = resampled_rates([counts], plan, resamples=resamples, seed=seed)
    if counts.rate > 0 and (rates > 0).all() and (counts.seed_rates > 0).all():
        # on the log scale: a rate is positive and, with few speakers, right-skewed (a hard speaker weighs more)
        log_low, log_high, _ = _banerjee_interval(
            np.log(counts.rate),
            spread(np.log(counts.seed_rates), np.log(rates), plan.size),
            confidence,
        )
        low, high = float(np.exp(log_low)), float(np.exp(log_high))
    else:
        low, high, _ = _banerjee_interval(
            counts.rate, spread(counts.seed_rates, rates, plan.size), confidence
        )
    k = len(counts.per_seed)
    return Interval(counts.rate, low, high, covers(k, plan), k, plan.fallback)


@dataclass(frozen=True)
class Difference:
    """``rate_b − rate_a`` over the same utterances, its paired interval and two-sided p-value."""

    rate_a: float
    rate_b: float
    difference: float
    low: float
    high: float
    p_value: float
    covers: str = ""
    seeds: int = 1
    fallback: bool = False

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def supports_finding(self) -> bool:
        return self.seeds > 1 and not self.fallback


def paired_difference(
    a: EditCounts,
    b: EditCounts,
    plan: Design | None = None,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> Difference:
    """``b.rate − a.rate`` on the same resampled clusters, seeds paired by position (module docstring)."""
    _check_confidence(confidence)
    k = len(a.per_seed)
    if len(b.per_seed) != k:
        raise ValueError(
            f"cannot pair {k} seeds with {len(b.per_seed)}: compare systems trained on the same seeds"
        )
    plan = plan or design(len(a), None, "utterance")
    rates_a, rates_b = resampled_rates([a, b], plan, resamples=resamples, seed=seed)
    observed = b.rate - a.rate
    low, high, p = _banerjee_interval(
        observed, spread(b.seed_rates - a.seed_rates, rates_b - rates_a, plan.size), confidence
    )
    return Difference(a.rate, b.rate, observed, low, high, p, covers(k, plan), k, plan.fallback)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values: reject at level α where the adjusted p < α; controls the family-wise
    error over all of them (any dependence)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    out = np.empty_like(p)
    out[order] = np.minimum(1.0, scaled)
    return out.tolist()


def aligned_decodes(
    rows_a: Sequence[dict], rows_b: Sequence[dict], name_a: str, name_b: str
) -> tuple[list[dict], list[dict]]:
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
        examples = ", ".join(
            f"{len(only)} utterance(s) only in the {which}" + (f" (e.g. {only[0]})" if only else "")
            for only, which in ((only_a, "first"), (only_b, "second"))
        )
        raise PipelineError(
            f"cannot pair {name_a} ({len(table_a)} utterances) with {name_b} ({len(table_b)}): {examples}; "
            "both must decode the same utterances of the split — rerun their evaluate jobs"
        )
    paths = sorted(table_a)
    differ = [p for p in paths if table_a[p]["GROUNDTRUTH"] != table_b[p]["GROUNDTRUTH"]]
    if differ:
        raise PipelineError(
            f"{name_a} and {name_b} hold different references for {len(differ)} utterance(s), "
            f"e.g. {differ[0]}; rerun their evaluate jobs on the same transcripts"
        )
    return [table_a[p] for p in paths], [table_b[p] for p in paths]
