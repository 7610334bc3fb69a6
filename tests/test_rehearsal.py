"""The LibriSpeech-shaped rehearsal: `all` of config/rehearsal.yaml end to end, then checks that what ran had the
real recipe's shapes (1024 word-pieces, ContextNet-S of ~11.7 M parameters, LibriSpeech-like utterance lengths).

One run of ~10 min on 2 cores (docs/testing.md, "Rehearsal"); every test below reads its finished workspace.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "rehearsal.yaml"
# ContextNet-S of config/librispeech.yaml with 1024 word-pieces and the 640-unit RNN-T decoder: 11.71 M trainable
# parameters (11.76 M with the batch norms' moving statistics; the paper's 10.8 M counts its own decoder); the
# low-rank variant has almost the same count (docs/models.md)
CONTEXTNET_S_PARAMS = 11.71e6

pytestmark = pytest.mark.slow


def rehearsal_config() -> dict:
    from lowrank_asr.config_files import load_yaml

    return load_yaml(CONFIG)


def snakemake(workspace: Path, *args: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *args,
            "--configfile",
            str(CONFIG),
            "--directory",
            str(workspace),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result.stdout


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("rehearsal")
    snakemake(ws, "all", "--cores", "2")
    return ws


def test_every_output_of_all_exists_and_is_not_empty(workspace: Path) -> None:
    lines = snakemake(workspace, "--summary", "--nolock").strip().splitlines()
    header, rows = (
        lines[0].split("\t"),
        [dict(zip(lines[0].split("\t"), line.split("\t"), strict=True)) for line in lines[1:]],
    )
    assert header[:3] == ["output_file", "date", "rule"] and len(rows) > 50
    stale = [
        (r["output_file"], r["status"], r["plan"])
        for r in rows
        if (r["status"], r["plan"]) != ("ok", "no update")
    ]
    assert not stale
    empty = [r["output_file"] for r in rows if (workspace / r["output_file"]).stat().st_size == 0]
    assert not empty
    rules = {r["rule"] for r in rows}
    # the stages of `all`, each with a log and a benchmark of its jobs
    assert {
        "synthesize_corpus",
        "vocabulary",
        "train",
        "evaluate",
        "wer_table",
        "loss_grid",
        "plot_landscape",
        "landscape_video",
        "integrated_gradients",
        "attribution_video",
        "trajectory_plane",
        "interpolation",
        "sharpness",
        "plot_geometry",
        "representations",
        "representation_similarity",
        "compression",
        "plot_compression",
        "representation_video",
        "training_curves",
    } <= rules
    assert rules <= {p.name for p in (workspace / "benchmarks").iterdir()}
    assert rules <= {p.name for p in (workspace / "logs").iterdir()}


def test_vocabulary_has_the_recipes_1024_word_pieces(workspace: Path) -> None:
    from lowrank_asr.corpus.transcripts import read_transcripts
    from lowrank_asr.text.vocabulary import SentencePieceVocabulary, load_vocabulary

    vocab = load_vocabulary(workspace / "resources" / "vocab" / "vocab.json")
    assert (
        isinstance(vocab, SentencePieceVocabulary)
        and vocab.size == rehearsal_config()["vocabulary"]["size"] == 1024
    )
    rows = read_transcripts(workspace / "resources" / "transcripts" / "train-clean-100.tsv")
    words = sum(len(r.transcript.split()) for r in rows)
    ids = [i for r in rows for i in vocab.encode(r.transcript)]  # raises if a transcript needs <unk>
    # word-pieces, not characters (~6 a word with its boundary), and the training text uses nearly every piece
    assert words <= len(ids) < 3 * words
    assert len(set(ids)) > 0.9 * (vocab.size - 1)


def test_corpus_has_librispeech_utterance_lengths(workspace: Path) -> None:
    from lowrank_asr.corpus.transcripts import read_transcripts

    cfg = rehearsal_config()
    seconds, words = {}, {}
    for split in cfg["corpus"]["synthetic"]:
        rows = read_transcripts(workspace / "resources" / "transcripts" / f"{split}.tsv")
        assert len(rows) == cfg["corpus"]["synthetic"][split]["utterances"]
        seconds[split] = np.array([r.duration for r in rows])
        words[split] = np.array([len(r.transcript.split()) for r in rows])
    every = np.concatenate(list(seconds.values()))
    assert every.min() >= 1.0 and every.max() <= cfg["data"]["max_duration"] == 17.0
    train = seconds["train-clean-100"]
    assert 10.0 <= train.mean() <= 14.0
    assert np.median(train) > train.mean()  # piled up towards the longest, as LibriSpeech's segments are
    rate = np.concatenate(list(words.values())).sum() / every.sum()
    assert 2.4 <= rate <= 3.0


def test_models_have_the_recipes_shapes_and_both_variants_are_scored(workspace: Path) -> None:
    cfg = rehearsal_config()
    with open(workspace / "results" / "wer_table.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    variants, splits = list(cfg["variants"]), cfg["evaluation"]["splits"]
    assert variants == ["contextnet_s", "lowrank"]
    assert {(r["variant"], r["split"]) for r in rows} == {(v, s) for v in variants for s in splits}
    params = {r["variant"]: int(r["params"]) for r in rows}
    assert params["contextnet_s"] == pytest.approx(CONTEXTNET_S_PARAMS, rel=0.01)
    assert params["lowrank"] == pytest.approx(params["contextnet_s"], rel=0.01)
    assert all(np.isfinite(float(r["greedy_wer"])) and float(r["beam_wer"]) >= 0 for r in rows)
    steps = cfg["training"]["max_steps_per_epoch"]
    for variant in variants:
        history = list(csv.DictReader((workspace / "results" / "models" / variant / "history.csv").open()))
        assert [int(r["epoch"]) for r in history] == list(range(1, cfg["training"]["epochs"] + 1))
        assert all(int(r["steps"]) == steps for r in history)


def test_no_loss_grid_holds_nan(workspace: Path) -> None:
    """At the recipe's shapes the corners of the ±1 grid overflowed float32 (NaN before): every point is now a
    number, or +inf marked in `loss_status`, never NaN."""
    import h5py

    grids = sorted((workspace / "results" / "landscape").glob("*/epoch_*.h5"))
    assert grids, "the rehearsal wrote no loss grid"
    for path in grids:
        with h5py.File(path, "r") as f:
            loss = f["loss"][()]
            assert not np.isnan(loss).any(), path
            # a point that is not finite in float32 is recomputed in float64 or stored as +inf, and marked
            status = f["loss_status"][()] if "loss_status" in f else np.zeros(loss.shape, np.int8)
            assert (np.isfinite(loss) | (status > 0)).all(), path
