"""The WER table's columns and values are recomputed from the decode TSVs, not copied blindly."""

import csv
import dataclasses
import json

import jiwer
import numpy as np
import pytest

from lowrank_asr.config_files import section_with_defaults
from lowrank_asr.errors import PipelineError
from lowrank_asr.evaluation.transcribe import Decoded, read_decodes, score_decodes, write_decodes, write_json
from lowrank_asr.metrics import bootstrap, error_rates
from lowrank_asr.metrics.bootstrap import (
    EditCounts,
    aligned_decodes,
    edit_counts,
    paired_difference,
    rate_interval,
)
from lowrank_asr.metrics.table import (
    COLUMNS,
    KNOBS,
    Bootstrap,
    Evaluation,
    comparison_rows,
    knob_value,
    skipped_count,
    table_rows,
    write_comparisons,
    write_table,
)

# the bootstrap settings a config that sets none gets (the schema's evaluation.bootstrap defaults)
BOOTSTRAP = Bootstrap.from_config(section_with_defaults("evaluation", {})["bootstrap"])
SETTINGS = {"resamples": BOOTSTRAP.resamples, "confidence": BOOTSTRAP.confidence, "seed": BOOTSTRAP.seed}


def interval(counts, plan=None, **settings):
    return rate_interval(counts, plan, **{**SETTINGS, **settings})


def difference(a, b, plan=None, **settings):
    return paired_difference(a, b, plan, **{**SETTINGS, **settings})


ROWS = [
    Decoded("1-1-0001", "a/1-1-0001.flac", 1.5, "the cat sat", "the cat sat", "the cat sat"),
    Decoded("1-1-0002", "a/1-1-0002.flac", 2.0, "on the mat", "on a mat", "on the mat"),
    Decoded("1-1-0003", "a/1-1-0003.flac", 1.0, "hello", "", "hallo"),
]


def test_decode_tsv_round_trip_and_scores(tmp_path):
    path = tmp_path / "test.tsv"
    write_decodes(ROWS, path)
    header = path.read_text().splitlines()[0].split("\t")
    assert header == ["PATH", "DURATION", "GROUNDTRUTH", "GREEDY", "BEAMSEARCH"]
    rows = read_decodes(path)
    assert [r["GREEDY"] for r in rows] == ["the cat sat", "on a mat", ""]
    scores = score_decodes(rows)
    refs = [r.reference for r in ROWS]
    # 1 substitution + 1 deletion over 7 reference words
    assert scores["greedy_wer"] == pytest.approx(2 / 7)
    assert scores["greedy_wer"] == pytest.approx(jiwer.wer(refs, [r.greedy for r in ROWS]))
    assert scores["beam_wer"] == pytest.approx(1 / 7)
    assert scores["beam_cer"] == pytest.approx(jiwer.cer(refs, [r.beam for r in ROWS]))


def test_error_rates_reject_empty_reference():
    with pytest.raises(ValueError, match="reference 0 is empty"):
        error_rates([""], ["x"])


def _evaluation(tmp_path, variant, rows, split="test-clean"):
    stem = variant.replace("/", "_")
    decodes = tmp_path / f"{stem}.{split}.tsv"
    write_decodes(rows, decodes)
    scores = score_decodes(read_decodes(decodes))
    scores.update(variant=variant, split=split, epochs=3, params=1234, params_all=1300, rtf=0.01)
    out = tmp_path / f"{stem}.{split}.json"
    write_json(scores, out)
    return out, decodes


def test_table_columns_and_values_from_decodes(tmp_path):
    knobs = {
        "contextnet": {"conv": "separable", "alpha": 0.5},
        "rank2": {
            "conv": "rank",
            "rank": 2,
            "alpha": 0.5,
            "frontend": "logmel",
            "kernel_size": 3,
            "blocks": [
                {"layers": 1, "channels": 8, "stride": 1, "repeat": 1},
                {"layers": 2, "channels": 8, "stride": 1, "repeat": 3},
            ],
        },
    }
    evaluations = [Evaluation.load(*_evaluation(tmp_path, v, ROWS)) for v in knobs]
    rows = table_rows(evaluations, knobs, {"test-clean": 2}, BOOTSTRAP)
    write_table(rows, tmp_path / "t.csv", tmp_path / "t.md", confidence=BOOTSTRAP.confidence)
    with (tmp_path / "t.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == [*COLUMNS, *KNOBS]
    by_variant = {r["variant"]: r for r in table}
    recomputed = score_decodes(read_decodes(tmp_path / "contextnet.test-clean.tsv"))
    assert float(by_variant["contextnet"]["greedy_wer"]) == pytest.approx(recomputed["greedy_wer"], abs=1e-4)
    assert float(by_variant["rank2"]["beam_cer"]) == pytest.approx(recomputed["beam_cer"], abs=1e-4)
    for rate in ("greedy_wer", "greedy_cer", "beam_wer", "beam_cer"):
        row = by_variant["rank2"]
        assert float(row[f"{rate}_low"]) <= float(row[rate]) <= float(row[f"{rate}_high"])
    # what was scored: 3 utterances, 7 reference words, and the 2 utterances the transcripts stage skipped
    assert (
        by_variant["rank2"]["utterances"],
        by_variant["rank2"]["words"],
        by_variant["rank2"]["skipped"],
    ) == ("3", "7", "2")
    assert by_variant["rank2"]["rank"] == "2" and by_variant["contextnet"]["rank"] == ""
    assert (by_variant["rank2"]["params"], by_variant["rank2"]["params_all"]) == ("1234", "1300")
    assert (by_variant["rank2"]["kernel_size"], by_variant["rank2"]["blocks"]) == ("3", "4")
    assert (by_variant["contextnet"]["kernel_size"], by_variant["contextnet"]["blocks"]) == ("5", "7")
    assert by_variant["contextnet"]["frontend"] == "logmel"
    md = (tmp_path / "t.md").read_text()
    low, high = float(by_variant["rank2"]["greedy_wer_low"]), float(by_variant["rank2"]["greedy_wer_high"])
    # one speaker, one seed: the interval covers utterances only, and says so next to the number (†, covers)
    assert (
        f"| rank2 | test-clean | rank | 2 | 3 | 4 | logmel | 1,234 | 3 | 1 | 3 | 7 | 2 | "
        f"28.6 % [{100 * low:.1f}, {100 * high:.1f}] † |"
    ) in md
    assert (
        "| utterances of 1 speaker, one seed only |" in md
        and "one seed it covers test-set sampling only" in md
    )
    assert by_variant["rank2"]["interval_covers"] == "utterances of 1 speaker, one seed only"
    assert json.loads((tmp_path / "rank2.test-clean.json").read_text())["greedy_wer"] < 1


def test_unset_knobs_show_the_schema_model_defaults(tmp_path):
    model = section_with_defaults("model", {})
    evaluations = [Evaluation.load(*_evaluation(tmp_path, "plain", ROWS))]
    [row] = table_rows(evaluations, {"plain": {}}, {}, BOOTSTRAP)
    for knob in KNOBS:
        assert row[knob] == knob_value(model, knob), knob
    assert row["blocks"] == sum(b["repeat"] for b in model["blocks"]) and row["rank"] == ""
    assert knob_value({**model, "blocks": "paper"}, "blocks") == "paper"
    assert knob_value({**model, "conv": "rank", "rank": 3}, "rank") == 3


def test_skipped_count_reads_the_skip_list(tmp_path):
    path = tmp_path / "test-clean.skipped.json"
    path.write_text(json.dumps([{"path": "a.flac", "utt_id": "1-1-0001", "reason": "no audio samples"}]))
    assert skipped_count(path) == 1
    path.write_text("{}")
    with pytest.raises(PipelineError, match="test-clean.skipped.json must hold a JSON list"):
        skipped_count(path)


def _random_sentences(rng, n, vocab=("a", "b", "cat", "sat", "on", "the", "mat", "x")):
    def sentence(lo):
        return " ".join(rng.choice(vocab, size=rng.integers(lo, 8)))

    return [sentence(1) for _ in range(n)], [sentence(0) for _ in range(n)]


def test_summed_edit_rates_equal_jiwer_corpus_rates():
    rng = np.random.default_rng(3)
    refs, hyps = _random_sentences(rng, 200)
    assert any(not h for h in hyps)  # empty hypotheses (all deletions) are among them
    words, chars = edit_counts(refs, hyps, "word"), edit_counts(refs, hyps, "char")
    assert words.rate == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
    assert chars.rate == pytest.approx(jiwer.cer(refs, hyps), abs=1e-12)
    assert words.lengths.sum() == sum(len(r.split()) for r in refs)
    # per utterance too: each utterance's edits are its own WER times its length
    for i in range(0, 200, 37):
        assert words.errors[i] == pytest.approx(jiwer.wer(refs[i], hyps[i]) * words.lengths[i])


def test_bootstrap_interval_of_a_binomial_case_matches_the_analytic_one():
    # 400 one-word utterances, each wrong with probability 0.2: WER is a binomial proportion
    n, rng = 400, np.random.default_rng(11)
    errors = (rng.random(n) < 0.2).astype(np.int64)
    counts = EditCounts(errors, np.ones(n, dtype=np.int64))
    p = errors.mean()
    half = 1.959964 * np.sqrt(p * (1 - p) / n)  # Wald interval, accurate at this n and p
    iv = interval(counts, resamples=5000, seed=1)
    assert iv.estimate == pytest.approx(p)
    assert iv.low == pytest.approx(p - half, abs=0.006) and iv.high == pytest.approx(p + half, abs=0.006)
    assert iv.low < p < iv.high
    assert interval(counts, resamples=5000, seed=1) == iv  # seeded
    narrower = interval(counts, resamples=5000, confidence=0.5, seed=1)
    assert iv.low < narrower.low < narrower.high < iv.high


def test_speaker_bootstrap_resamples_whole_speakers():
    # 3 speakers × 4 ten-word utterances with 0, 1 and 5 edits each: a resample draws 3 speakers with replacement
    lengths, errors = np.full(12, 10), np.repeat([0, 1, 5], 4)
    plan = bootstrap.design(12, np.repeat(["s1", "s2", "s3"], 4).tolist(), "speaker")
    assert (plan.unit, plan.speakers, plan.size, plan.fallback) == ("speaker", 3, 3, False)
    (rates,) = bootstrap.resampled_rates([EditCounts(errors, lengths)], plan, resamples=500, seed=1)
    possible = {
        round((c0 * 0 + c1 * 1 + c2 * 5) / 30, 12)
        for c0 in range(4)
        for c1 in range(4)
        for c2 in range(4)
        if c0 + c1 + c2 == 3
    }
    seen = set(np.round(rates[:, 0], 12))
    assert seen <= possible and len(seen) > 3
    by_utterance = bootstrap.design(12, None, "utterance")
    (rates_u,) = bootstrap.resampled_rates([EditCounts(errors, lengths)], by_utterance, resamples=500, seed=1)
    assert not set(np.round(rates_u[:, 0], 12)) <= possible  # utterances mix within a speaker


def test_too_few_speakers_fall_back_to_utterances_and_say_so():
    plan = bootstrap.design(4, ["a", "a", "b", "b"], "speaker")
    assert (plan.unit, plan.fallback, plan.speakers) == ("utterance", True, 2)
    counts = EditCounts(np.array([1, 0, 2, 1]), np.full(4, 5))
    iv = interval(counts, plan)
    assert iv.covers == "utterances of 2 speakers, one seed only" and not iv.supports_finding
    with pytest.raises(ValueError, match="unit must be one of"):
        bootstrap.design(4, None, "chapter")
    with pytest.raises(ValueError, match="needs each utterance's speaker"):
        bootstrap.design(4, None, "speaker")


def test_speaker_of_librispeech_ids_and_other_files():
    from lowrank_asr.metrics.decodes import speaker_of

    assert speaker_of("resources/LibriSpeech/test-clean/1089/134686/1089-134686-0000.flac") == "1089"
    assert speaker_of("a/1-1-0001.flac") == "1"
    assert speaker_of("resources/real/alice/take-3.wav") == "resources/real/alice"


def _shared_plus_own(rng, shared_var: float, own_var: float, k: int, resamples: int = 20000) -> np.ndarray:
    """Resampled per-seed statistics: a part shared by all seeds (the test set) plus each seed's own noise."""
    return np.sqrt(shared_var) * rng.standard_normal((resamples, 1)) + np.sqrt(own_var) * rng.standard_normal(
        (resamples, k)
    )


def test_spread_takes_the_test_set_part_from_the_covariance_between_seeds():
    resampled = _shared_plus_own(np.random.default_rng(2), 4.0, 1.0, 3)
    per_seed = np.array([0.1, 0.4, 0.7])
    s = bootstrap.spread(per_seed, resampled, clusters=10)
    assert s.test_var == pytest.approx(4 * 10 / 9, rel=0.05)  # the own noise is left to the seed term
    assert s.seed_var == pytest.approx(np.var(per_seed, ddof=1) / 3)
    assert (s.test_df, s.seed_df) == (9, 2)
    one = bootstrap.spread(per_seed[:1], resampled[:, :1], clusters=10)
    assert one.seed_var == 0 and one.test_var == pytest.approx(5 * 10 / 9, rel=0.05) and one.test_df == 9


def test_seed_part_keeps_the_runs_own_noise():
    # own noise variance 1 per seed, seeds no further apart than it explains: the seed part is still their whole
    # sample variance ÷ k (1 df of it is all the data say about a run's deviation), not floored to 0
    resampled = _shared_plus_own(np.random.default_rng(3), 4.0, 1.0, 3)
    s = bootstrap.spread(np.array([1.0, 1.5, 2.0]), resampled, clusters=10)
    assert s.seed_var == pytest.approx(0.25 / 3)
    assert s.test_var == pytest.approx(4 * 10 / 9, rel=0.05)


def test_seeds_are_the_unit_of_inference():
    # two training runs of one system, 10 % and 30 % WER on the same 400 ten-word utterances
    n, rng = 400, np.random.default_rng(8)
    lengths = np.full(n, 10)
    runs = [EditCounts(rng.binomial(lengths, p), lengths) for p in (0.1, 0.3)]
    both = bootstrap.stack_seeds(runs)
    assert both.per_seed.shape == (2, n)
    assert both.rate == pytest.approx((runs[0].rate + runs[1].rate) / 2)
    assert both.seed_rates == pytest.approx([runs[0].rate, runs[1].rate])
    iv = interval(both, seed=1)
    # two seeds 20 points apart, one degree of freedom (t = 12.7): the interval is far wider than both
    assert iv.low < runs[0].rate and iv.high > runs[1].rate
    assert iv.covers == "utterances + seeds" and iv.supports_finding
    single = interval(runs[0], seed=1)
    assert single.high - single.low < (iv.high - iv.low) / 10 and single.covers == "utterances, one seed only"
    with pytest.raises(ValueError, match="same utterances"):
        bootstrap.stack_seeds([runs[0], EditCounts(runs[1].errors[:-1], lengths[:-1])])
    with pytest.raises(ValueError, match="cannot pair 2 seeds with 1"):
        difference(both, runs[0])


def test_holm_adjusts_by_hand():
    # sorted 0.01, 0.02, 0.04, 0.5 × 4, 3, 2, 1 = 0.04, 0.06, 0.08, 0.5 (each at least the one before)
    assert bootstrap.holm([0.04, 0.5, 0.01, 0.02]) == pytest.approx([0.08, 0.5, 0.04, 0.06])
    assert bootstrap.holm([0.3, 0.9]) == pytest.approx([0.6, 0.9])
    assert bootstrap.holm([]) == []


def test_paired_test_of_identical_decodes_gives_zero_and_p_one():
    rng = np.random.default_rng(5)
    refs, hyps = _random_sentences(rng, 60)
    a = edit_counts(refs, hyps)
    d = difference(a, edit_counts(refs, list(hyps)))
    assert (d.difference, d.low, d.high, d.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert not d.excludes_zero


def test_paired_test_finds_a_real_difference_and_its_sign():
    rng = np.random.default_rng(6)
    n = 300
    lengths = rng.integers(3, 12, size=n)
    a = EditCounts(rng.binomial(lengths, 0.10), lengths)
    b = EditCounts(rng.binomial(lengths, 0.20), lengths)
    d = difference(a, b, seed=2)
    assert d.difference == pytest.approx(b.rate - a.rate) and d.difference > 0
    assert d.low > 0 and d.excludes_zero and d.p_value < 0.01
    reverse = difference(b, a, seed=2)
    assert reverse.high < 0 and reverse.difference == pytest.approx(-d.difference)
    # a tiny difference on a few utterances is not significant
    c = EditCounts(a.errors.copy(), lengths)
    c.errors[0] += 1
    small = difference(a, c, seed=2)
    assert small.difference > 0 and small.low <= 0 and small.p_value > 0.05


def test_aligned_decodes_align_by_path_and_reject_other_utterances(tmp_path):
    rows = read_decodes(_evaluation(tmp_path, "a", ROWS)[1])
    shuffled = [rows[2], rows[0], rows[1]]
    left, right = aligned_decodes(rows, shuffled, "a.tsv", "b.tsv")
    assert [r["PATH"] for r in left] == [r["PATH"] for r in right]
    with pytest.raises(
        PipelineError,
        match=r"cannot pair results/decodes/a/test-clean.tsv .*"
        r"results/decodes/b/test-clean.tsv",
    ):
        aligned_decodes(
            rows, rows[:2], "results/decodes/a/test-clean.tsv", "results/decodes/b/test-clean.tsv"
        )
    other = [dict(rows[0], GROUNDTRUTH="something else"), *rows[1:]]
    with pytest.raises(PipelineError, match="a.tsv and b.tsv hold different references"):
        aligned_decodes(rows, other, "a.tsv", "b.tsv")


def test_comparisons_of_every_pair_on_every_split(tmp_path):
    worse = [Decoded(r.utt_id, r.path, r.duration, r.reference, "", "") for r in ROWS]
    evaluations = [
        Evaluation.load(*_evaluation(tmp_path, v, rows, split))
        for v, rows in (("a", ROWS), ("b", worse), ("c", ROWS))
        for split in ("test-clean", "test-other")
    ]
    pairs = comparison_rows(evaluations, ["a", "b", "c"], dataclasses.replace(BOOTSTRAP, seed=3))
    assert len(pairs) == 2 * 3 * 2  # splits × pairs × (greedy, beam)
    ab = next(
        p
        for p in pairs
        if (p["split"], p["decoding"], p["variant_a"], p["variant_b"]) == ("test-clean", "greedy", "a", "b")
    )
    assert ab["wer_a"] == pytest.approx(2 / 7) and ab["wer_b"] == 1.0
    assert ab["difference"] == pytest.approx(5 / 7)
    ac = next(p for p in pairs if (p["decoding"], p["variant_a"], p["variant_b"]) == ("beam", "a", "c"))
    assert (ac["difference"], ac["p_value"], ac["excludes_zero"]) == (0.0, 1.0, False)
    write_comparisons(pairs, tmp_path / "c.csv", tmp_path / "c.md", confidence=BOOTSTRAP.confidence)
    with (tmp_path / "c.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(pairs)
    md = (tmp_path / "c.md").read_text()
    assert (
        "| test-clean | greedy | a | c | 1/1 | 3 | 28.6 % | 28.6 % | +0.0 pp [+0.0, +0.0] † | 1 | 1 | "
        "utterances of 1 speaker, one seed only |"
    ) in md
    assert not any(p["finding"] for p in pairs) and "| **" not in md  # one seed: never a finding
    assert f"over all {len(pairs)} comparisons of this table" in md


def test_comparisons_name_both_files_when_utterances_differ(tmp_path):
    a = Evaluation.load(*_evaluation(tmp_path, "a", ROWS))
    b = Evaluation.load(*_evaluation(tmp_path, "b", ROWS[:2]))
    with pytest.raises(
        PipelineError,
        match=r"a\.test-clean\.tsv .*/b\.test-clean\.tsv \(2\): 1 utterance\(s\) only in the first",
    ):
        comparison_rows([a, b], ["a", "b"], BOOTSTRAP)


def test_table_and_comparisons_over_several_seeds(tmp_path):
    other = [Decoded(r.utt_id, r.path, r.duration, r.reference, r.reference, "") for r in ROWS]  # 0 % greedy
    runs = {"a/seed_1": "a", "a/seed_2": "a", "b/seed_1": "b", "b/seed_2": "b"}
    decodes = {"a/seed_1": ROWS, "a/seed_2": other, "b/seed_1": ROWS, "b/seed_2": ROWS}
    evaluations = []
    for run, rows in decodes.items():
        evaluations.append(Evaluation.load(*_evaluation(tmp_path, run, rows)))
    knobs = {"a": {}, "b": {}}
    table = {r["variant"]: r for r in table_rows(evaluations, knobs, {}, BOOTSTRAP, runs)}
    assert set(table) == {"a", "b"} and table["a"]["seeds"] == 2
    assert table["a"]["greedy_wer"] == pytest.approx((2 / 7 + 0) / 2)
    assert table["a"]["greedy_wer_seed_sd"] == pytest.approx(np.std([2 / 7, 0], ddof=1))
    assert table["b"]["greedy_wer_seed_sd"] == 0.0
    write_table(list(table.values()), tmp_path / "t.csv", tmp_path / "t.md", confidence=BOOTSTRAP.confidence)
    assert (
        f"14.3 % [{100 * table['a']['greedy_wer_low']:.1f}, {100 * table['a']['greedy_wer_high']:.1f}] ± 20.2"
        in (tmp_path / "t.md").read_text()
    )
    pairs = comparison_rows(evaluations, ["a", "b"], BOOTSTRAP, runs)
    greedy = next(p for p in pairs if p["decoding"] == "greedy")
    assert greedy["seeds"] == "2/2" and greedy["difference"] == pytest.approx(2 / 7 - 1 / 7)
    # a seed whose decodes hold other utterances is named, with the run it is paired with
    evaluations[1] = Evaluation.load(*_evaluation(tmp_path, "a/seed_2", ROWS[:2]))
    with pytest.raises(PipelineError, match=r"a_seed_1.test-clean.tsv .* with .*a_seed_2.test-clean.tsv"):
        table_rows(evaluations, knobs, {}, BOOTSTRAP, runs)


def test_skipped_counts_the_utterances_over_the_evaluation_budget(tmp_path):
    scores, decodes = _evaluation(tmp_path, "contextnet", ROWS)
    data = json.loads(scores.read_text())
    data["over_budget"] = [
        {"utt_id": "u1", "path": "a/u1.flac", "duration": 36.0},
        {"utt_id": "u2", "path": "a/u2.flac", "duration": 40.0},
    ]
    write_json(data, scores)
    rows = table_rows([Evaluation.load(scores, decodes)], {"contextnet": {}}, {"test-clean": 1}, BOOTSTRAP)
    assert rows[0]["skipped"] == 3  # one from the transcripts stage, two over the budget


def _speaker_rows(drop: int) -> list[Decoded]:
    """12 utterances of 4 LibriSpeech speakers; the hypothesis drops the word at index ``drop`` (None: none)."""
    rows = []
    for i in range(12):
        ref = " ".join(["the", "cat", "sat", "on", "a", "mat", "today"][: 3 + i % 5])
        words = ref.split()
        hyp = " ".join(words[:drop] + words[drop + 1 :]) if drop is not None else ref
        rows.append(Decoded(f"{i % 4}-1-{i}", f"a/{i % 4}-1-{i:04d}.flac", 1.0, ref, hyp, hyp))
    return rows


def test_only_several_seed_differences_that_survive_holm_are_bold(tmp_path):
    runs = {f"{v}/seed_{k}": v for v in ("a", "b") for k in (1, 2)}
    decodes = {
        "a/seed_1": _speaker_rows(None),
        "a/seed_2": _speaker_rows(None),
        "b/seed_1": _speaker_rows(0),
        "b/seed_2": _speaker_rows(1),
    }
    evaluations = [Evaluation.load(*_evaluation(tmp_path, run, rows)) for run, rows in decodes.items()]
    pairs = comparison_rows(evaluations, ["a", "b"], BOOTSTRAP, runs)
    assert all(p["interval_covers"] == "speakers + seeds" and p["finding"] for p in pairs)
    assert all(p["p_holm"] == pytest.approx(min(1, 2 * p["p_value"])) for p in pairs)  # a family of two
    write_comparisons(pairs, tmp_path / "c.csv", tmp_path / "c.md", confidence=BOOTSTRAP.confidence)
    assert (tmp_path / "c.md").read_text().count("| **") == len(pairs)
    # the same decodes from one seed each: as small a p, but not a finding
    one = comparison_rows(evaluations[::2], ["a", "b"], BOOTSTRAP, runs)
    assert all(p["p_value"] < 0.05 and not p["finding"] for p in one)
    assert one[0]["interval_covers"] == "speakers, one seed only"
    # a p-value is never printed as 0, and never with more digits than it has
    from lowrank_asr.metrics.table import _p

    assert (_p(0.0), _p(0.04567), _p(1.0)) == ("< 0.001", "0.046", "1")


def test_the_schema_bootstrap_units_are_the_librarys():
    from lowrank_asr.schema import load_schema

    unit = load_schema()["properties"]["evaluation"]["properties"]["bootstrap"]["properties"]["unit"]
    assert set(unit["enum"]) == set(bootstrap.UNITS)
    with pytest.raises(TypeError):  # the settings come from the config: no defaults of the library's own
        Bootstrap()


def test_the_table_imports_without_tensorflow():
    """wer_table runs in the plot environment (envs/plot.yaml: no TensorFlow): the knobs' model defaults come
    from the schema, not from lowrank_asr.models."""
    import subprocess
    import sys
    from pathlib import Path

    lib = Path(__file__).resolve().parents[1] / "lib"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import lowrank_asr.metrics.table;"
        "bad = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); print(bad); sys.exit(bool(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(lib)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
