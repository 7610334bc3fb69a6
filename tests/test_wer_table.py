"""The WER table's columns and values are recomputed from the decode TSVs, not copied blindly."""

import csv
import json

import jiwer
import pytest

from lowrank_asr.evaluation.transcribe import Decoded, read_decodes, score_decodes, write_decodes, write_json
from lowrank_asr.metrics import error_rates
from lowrank_asr.metrics.table import COLUMNS, KNOBS, table_rows, write_table

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


def test_table_columns_and_values_from_decodes(tmp_path):
    knobs = {"contextnet": {"conv": "separable", "alpha": 0.5},
             "rank2": {"conv": "rank", "rank": 2, "alpha": 0.5, "frontend": "logmel"}}
    score_files = []
    for variant in knobs:
        decodes = tmp_path / f"{variant}.tsv"
        write_decodes(ROWS, decodes)
        scores = score_decodes(read_decodes(decodes))
        scores.update(variant=variant, split="test-clean", epochs=3, params=1234, rtf=0.01)
        out = tmp_path / f"{variant}.json"
        write_json(scores, out)
        score_files.append(out)
    rows = table_rows(score_files, knobs)
    write_table(rows, tmp_path / "t.csv", tmp_path / "t.md")
    with (tmp_path / "t.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == [*COLUMNS, *KNOBS]
    by_variant = {r["variant"]: r for r in table}
    recomputed = score_decodes(read_decodes(tmp_path / "contextnet.tsv"))
    assert float(by_variant["contextnet"]["greedy_wer"]) == pytest.approx(recomputed["greedy_wer"], abs=1e-4)
    assert float(by_variant["rank2"]["beam_cer"]) == pytest.approx(recomputed["beam_cer"], abs=1e-4)
    assert by_variant["rank2"]["rank"] == "2" and by_variant["contextnet"]["rank"] == ""
    assert by_variant["contextnet"]["frontend"] == "logmel"
    md = (tmp_path / "t.md").read_text()
    assert "| rank2 | test-clean | rank | 2 | logmel | 1,234 | 3 | 28.6 %" in md
    assert json.loads((tmp_path / "rank2.json").read_text())["greedy_wer"] < 1
