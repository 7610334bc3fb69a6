"""The memory and time model's arithmetic (lib/lowrank_asr/planning.py); the profiles' use of it is in
tests/test_profiles.py."""

from __future__ import annotations

import pytest

from lowrank_asr import planning

ROWS = [  # summary_table rows of a toy RNN-T model: front end, two blocks, prediction (per token), joint
    {"name": "logmel", "channels": 80, "frame_rate": 100.0, "macs": 1000.0},
    {"name": "C0", "channels": 16, "frame_rate": 50.0, "macs": 2000.0},
    {"name": "C1", "channels": 32, "frame_rate": 12.5, "macs": 3000.0},
    {"name": "prediction", "channels": 24, "frame_rate": None, "macs": 50.0, "macs_unit": "per token"},
    {"name": "joint", "channels": 8, "frame_rate": 12.5, "macs": 0.0},
]


def test_forward_macs_count_the_joint_over_the_lattice():
    macs = planning.forward_macs_per_second(ROWS, vocab=10)
    cells = 12.5 * (planning.TOKENS_PER_SECOND * planning.LATTICE_SECONDS + 1)
    assert macs["lattice"] == pytest.approx(cells * (8 * 10 + 8))
    assert macs["joint_projection"] == pytest.approx(
        12.5 * 32 * 8
    )  # D of the last block x J per encoder frame
    assert macs["encoder"] == 5000.0 and macs["frontend"] == 1000.0 and not macs["frontend_trainable"]
    assert macs["prediction"] == pytest.approx(50.0 * planning.TOKENS_PER_SECOND)
    dense = macs["encoder"] + macs["prediction"] + macs["joint_projection"]
    # the log-mel front end has no gradient; the chunked joint recomputes its forward in the backward pass
    assert planning.training_flops_per_second(macs) == pytest.approx(
        2 * (1000 + 3 * dense + 4 * macs["lattice"])
    )
    assert planning.training_flops_per_second(macs, chunked=False) == pytest.approx(
        2 * (1000 + 3 * dense + 3 * macs["lattice"])
    )


@pytest.mark.parametrize("name", sorted(planning.CARDS))
@pytest.mark.parametrize("precision", ["float32", "mixed"])
def test_largest_budget_fills_the_usable_memory(name, precision):
    card = planning.CARDS[name]
    seconds = planning.max_batch_seconds(card, 2, precision)
    assert seconds > 0
    assert planning.training_peak_mb(seconds, 2, precision) == pytest.approx(planning.usable_mb(card))
    evaluation = planning.max_evaluation_seconds(card)
    assert planning.evaluation_peak_mb(evaluation) == pytest.approx(planning.usable_mb(card))


def test_mixed_precision_and_chunking_lower_the_peak():
    assert planning.training_peak_mb(100, 4, "mixed") < planning.training_peak_mb(100, 4, "float32")
    assert planning.training_peak_mb(100, 1, "mixed") < planning.training_peak_mb(100, 4, "mixed")
    # a wider model keeps more activations per frame
    assert planning.training_peak_mb(100, 1, "mixed", width=1) < planning.training_peak_mb(
        100, 1, "mixed", width=4
    )


def test_epoch_time_falls_with_the_card_and_the_joint_chunk():
    macs = planning.forward_macs_per_second(ROWS, vocab=10)
    quadro, a100 = planning.CARDS["quadro"], planning.CARDS["a100"]
    assert planning.epoch_hours(macs, a100, "mixed", 4) < planning.epoch_hours(macs, quadro, "mixed", 4)
    assert planning.epoch_hours(macs, a100, "mixed", 16) < planning.epoch_hours(macs, a100, "mixed", 4)


def test_evaluation_budget_holds_the_joint_of_the_longest_evaluated_utterance():
    """Values worked out by hand: one 35.2-s utterance (LibriSpeech's longest dev/test) in a 35.2-s batch has
    T' = 3520 / 8 = 440 encoder frames and U + 1 = 5 x 35.2 + 1 = 177 labels, widest variant (width 4)."""
    fixed = 1500 + 107_956_112 * 16 / 2**20
    frames = 0.1470 * 4 * 3520
    joint = 0.02107 * 440 * 177
    assert planning.evaluation_peak_mb(35.2) == pytest.approx(fixed + frames + joint, rel=1e-9)
    assert planning.evaluation_peak_mb(35.2) == pytest.approx(6858, abs=1)
    # twice the batch holds two such utterances: twice the variable part
    assert planning.evaluation_peak_mb(70.4) - fixed == pytest.approx(2 * (frames + joint), rel=1e-9)


def test_hvp_factor_is_the_measured_one():
    import json
    from pathlib import Path

    measured = json.loads((Path(__file__).parent / "benchmarks" / "results" / "hvp_memory.json").read_text())
    rows = {row["mode"]: row for row in measured["rows"]}
    ratio = (rows["hvp"]["peak_rss_mb"] - rows["hvp"]["base_mb"]) / (
        rows["grad"]["peak_rss_mb"] - rows["grad"]["base_mb"]
    )
    assert abs(planning.HVP_OVER_GRADIENT - ratio) < 0.005
    assert planning.dearest_analysis(["evaluate", "sharpness", "loss_grid"]) == "sharpness"
    assert planning.dearest_analysis(["evaluate", "loss_grid"]) in ("evaluate", "loss_grid")


def test_sharpness_memory_by_hand():
    """The longest evaluated utterance (35.2 s) through Hessian-vector products: 4.26 x a gradient pass's per-batch
    memory (frames 0.1470 x 4 x 3520, joint 0.02107 x 440 x 177) above the same fixed part; on the host, Lanczos
    adds 20 float32 basis vectors and 4 float64 vectors of the 107 956 112 parameters."""
    fixed = 1500 + 107_956_112 * 16 / 2**20
    per_batch = 0.1470 * 4 * 3520 + 0.02107 * 440 * 177
    assert planning.evaluation_peak_mb(35.2, "sharpness") == pytest.approx(fixed + 4.26 * per_batch, rel=1e-9)
    assert planning.evaluation_peak_mb(35.2, "sharpness") == pytest.approx(18955, abs=1)
    lanczos = 107_956_112 * (20 * 4 + 4 * 8) / 2**20
    base = 2063 + 2500 + 1000 + 107_956_112 * 4 / 2**20
    assert planning.host_mb("sharpness", batch_seconds=0.0, iterations=20) == pytest.approx(
        base + lanczos, rel=1e-9
    )
    assert planning.host_mb("sharpness", batch_seconds=35.2, iterations=20) == pytest.approx(
        base + lanczos + 4.26 * per_batch, rel=1e-9
    )
    assert planning.host_mb("evaluate", batch_seconds=0.0, iterations=0) == pytest.approx(
        base, rel=1e-9
    )  # no Lanczos, nothing on the host
