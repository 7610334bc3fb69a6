"""Does an interval cover what it says? Simulated test sets and training seeds, scored by ``metrics.bootstrap``.

A simulated split has ``speakers`` × ``utterances`` utterances of 5–24 words. An utterance's expected error rate
is ``base × speaker × utterance × seed``: log-normal speaker and utterance difficulties (mean 1; log-SD
``speaker_sd`` and 0.5) that both systems share, and a per-run factor ``1 + seed_effect·z`` of its own for every
training seed of every system. Edits are Poisson given that rate. System B's base is ``base × (1 + difference)``.
The population's expected WER is then ``base`` exactly (and the true difference ``base × difference``), which is
what the intervals are judged against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lowrank_asr.metrics.bootstrap import MIN_SPEAKERS, EditCounts, design, paired_difference, rate_interval

BASE_WER = 0.10
UTTERANCE_SD = 0.5
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Scenario:
    seeds: int
    seed_effect: float  # relative SD of a run's WER around the seed-mean (0.15 = 15 %)
    speaker_sd: float  # log-SD of speaker difficulty
    difference: float  # B's relative WER change (0: the two systems are equally good)
    speakers: int
    utterances: int  # per speaker
    unit: str = "speaker"

    @property
    def claimed(self) -> str:
        """'' where the method claims to cover the population target, else why it cannot."""
        why = []
        if self.seeds == 1 and self.seed_effect > 0:
            why.append("one seed cannot cover seed-to-seed spread")
        if self.speaker_sd > 0 and (self.unit == "utterance" or self.speakers < MIN_SPEAKERS):
            why.append(f"{self.speakers} speaker(s): speaker spread not covered")
        return "; ".join(why)


def _system(rng: np.random.Generator, expected: np.ndarray, scenario: Scenario) -> np.ndarray:
    """Edits ``[seeds, utterances]`` of one system whose expected edits per utterance are ``expected``."""
    runs = np.clip(1 + scenario.seed_effect * rng.standard_normal((scenario.seeds, 1)), 0, None)
    return rng.poisson(expected[None, :] * runs)


def simulate(scenario: Scenario, trials: int, *, resamples: int = 200, seed: int = 0) -> dict:
    """Coverage of A's rate interval and of the difference's interval, rejection rate at 1 − confidence, and mean
    interval widths, over ``trials`` simulated test sets and training runs."""
    rng = np.random.default_rng(seed)
    s, u = scenario.speakers, scenario.utterances
    n = s * u
    speakers = np.repeat(np.arange(s), u)
    truth_rate, truth_diff = BASE_WER, BASE_WER * scenario.difference
    hits_rate = hits_diff = rejected = 0
    width_rate = width_diff = 0.0
    for trial in range(trials):
        words = rng.integers(5, 25, size=n)
        level = np.exp(scenario.speaker_sd * rng.standard_normal(s) - scenario.speaker_sd**2 / 2)[speakers]
        level = level * np.exp(UTTERANCE_SD * rng.standard_normal(n) - UTTERANCE_SD**2 / 2)
        a = EditCounts(_system(rng, BASE_WER * level * words, scenario), words)
        b = EditCounts(_system(rng, BASE_WER * (1 + scenario.difference) * level * words, scenario), words)
        plan = design(n, speakers, scenario.unit)
        iv = rate_interval(a, plan, resamples=resamples, confidence=CONFIDENCE, seed=trial)
        d = paired_difference(a, b, plan, resamples=resamples, confidence=CONFIDENCE, seed=trial)
        hits_rate += iv.low <= truth_rate <= iv.high
        hits_diff += d.low <= truth_diff <= d.high
        rejected += d.p_value < 1 - CONFIDENCE
        width_rate += iv.high - iv.low
        width_diff += d.high - d.low
    return {
        **asdict(scenario),
        "trials": trials,
        "resamples": resamples,
        "rate_coverage": hits_rate / trials,
        "difference_coverage": hits_diff / trials,
        "rejection_rate": rejected / trials,
        "rate_width": width_rate / trials,
        "difference_width": width_diff / trials,
        "claimed": scenario.claimed == "",
        "not_claimed_because": scenario.claimed,
    }


def wilson(successes: float, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % by default)."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(centre - half), float(centre + half)


# With 2 seeds the seed part of an interval has 1 df, and Banerjee's combination (metrics.bootstrap) covers more
# than the nominal level where the test set's spread is as large as the seeds': a rate (whose test-set part is
# large) is claimed to cover at least its target's lower end, not at most its upper end. A difference's test-set
# part mostly cancels, leaving the exact t pivot of the seed part: it keeps the two-sided target.
CONSERVATIVE_SEEDS = 2


def judge(result: dict, coverage: tuple[float, float] = (0.93, 0.97), false_positive: float = 0.06) -> str:
    """'pass' when every claimed rate's binomial interval is compatible with its target; 'FAIL: …' otherwise;
    'not claimed: …' where the method does not claim to cover the population target. A 2-seed rate interval is
    judged against the lower end only, and its verdict says 'conservative' when it covers above the upper end."""
    if not result["claimed"]:
        return f"not claimed: {result['not_claimed_because']}"
    trials, failures, notes = result["trials"], [], []
    conservative = result["seeds"] == CONSERVATIVE_SEEDS
    checks = [("rate coverage", result["rate_coverage"], conservative)]
    checks.append(("difference coverage", result["difference_coverage"], False))
    for name, value, one_sided in checks:
        low, high = wilson(value * trials, trials)
        if high < coverage[0]:
            failures.append(f"{name} {value:.3f}")
        elif low > coverage[1]:
            (notes if one_sided else failures).append(f"{name} {value:.3f}")
    if result["difference"] == 0 and wilson(result["rejection_rate"] * trials, trials)[0] > false_positive:
        failures.append(f"false positives {result['rejection_rate']:.3f}")
    if failures:
        return "FAIL: " + ", ".join(failures)
    return "pass" + (f" (conservative: {', '.join(notes)})" if notes else "")
