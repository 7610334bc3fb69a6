"""A reduced calibration benchmark (tests/benchmarks/bench_calibration.py has the full one): the intervals cover
where they claim to, and the two failures the issue measured (utterance bootstrap on speaker-clustered data,
one seed with a seed effect) are still visible, so the table's caveats are not decoration.

Tolerance: 300 trials of a 95 % interval give a coverage with binomial SD √(0.95·0.05/300) = 0.0126; the test
fails below 0.95 − 3.1 SD = 0.91 (a one-sided 0.1 % false alarm if the method is calibrated; the trials are
seeded, so the outcome is fixed). The "cannot cover" scenarios measured 0.69 (issue) and ~0.72 (benchmark):
asserting < 0.85 leaves 10 SD of room.

Two seeds whose spread dominates the test set's (15 % seed effect, no speaker effect) are where the rate interval
once under-covered (0.913 of 1 000 in the benchmark): 600 trials give SD √(0.95·0.05/600) = 0.0089, and the floor
0.93 sits 2.2 SD below the nominal level (4.4 SD below the 0.969 the benchmark measures now); a method covering
0.913 passes it with probability ≈ 3 %."""

import pytest

from lowrank_asr.metrics.calibration import Scenario, judge, simulate, wilson

TRIALS, FLOOR = 300, 0.91


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(seeds=3, seed_effect=0.15, speaker_sd=0.5, difference=0.0, speakers=12, utterances=10),
        Scenario(seeds=2, seed_effect=0.15, speaker_sd=0.5, difference=0.2, speakers=4, utterances=10),
        Scenario(seeds=1, seed_effect=0.0, speaker_sd=0.5, difference=0.0, speakers=4, utterances=10),
    ],
)
def test_intervals_cover_where_they_claim_to(scenario):
    result = simulate(scenario, TRIALS, resamples=100, seed=1)
    assert result["claimed"]
    assert result["rate_coverage"] >= FLOOR and result["difference_coverage"] >= FLOOR
    if scenario.difference == 0:
        assert result["rejection_rate"] <= 1 - FLOOR


@pytest.mark.parametrize(
    "scenario, why",
    [
        (
            Scenario(seeds=1, seed_effect=0.15, speaker_sd=0.0, difference=0.0, speakers=12, utterances=10),
            "one seed cannot cover seed-to-seed spread",
        ),
        (
            Scenario(
                seeds=1,
                seed_effect=0.0,
                speaker_sd=0.5,
                difference=0.0,
                speakers=12,
                utterances=10,
                unit="utterance",
            ),
            "speaker spread not covered",
        ),
    ],
)
def test_what_cannot_be_covered_is_not_claimed_and_is_not_covered(scenario, why):
    result = simulate(scenario, TRIALS, resamples=100, seed=1)
    assert not result["claimed"] and why in judge(result)
    assert min(result["rate_coverage"], result["difference_coverage"]) < 0.85


def test_two_seeds_cover_rates_when_the_seed_spread_dominates():
    scenario = Scenario(seeds=2, seed_effect=0.15, speaker_sd=0.0, difference=0.0, speakers=12, utterances=10)
    result = simulate(scenario, 600, resamples=100, seed=2)
    assert result["claimed"] and result["rate_coverage"] >= 0.93 and result["difference_coverage"] >= 0.93


def test_two_seed_rates_are_judged_one_sided():
    result = {"claimed": True, "trials": 1000, "seeds": 2, "difference": 0.2, "rejection_rate": 0.3}
    assert judge({**result, "rate_coverage": 0.99, "difference_coverage": 0.95}) == (
        "pass (conservative: rate coverage 0.990)"
    )
    assert judge({**result, "rate_coverage": 0.95, "difference_coverage": 0.99}).startswith("FAIL")
    assert judge({**result, "rate_coverage": 0.90, "difference_coverage": 0.95}).startswith("FAIL")
    assert judge({**result, "seeds": 3, "rate_coverage": 0.99, "difference_coverage": 0.95}).startswith(
        "FAIL"
    )


def test_wilson_interval_by_hand():
    # 950 of 1000, z² = 3.8415: centre (0.95 + 0.00192) / 1.00384 = 0.9483, half-width 0.0136 (Wilson 1927)
    low, high = wilson(950, 1000)
    assert low == pytest.approx(0.9347, abs=2e-4) and high == pytest.approx(0.9619, abs=2e-4)
