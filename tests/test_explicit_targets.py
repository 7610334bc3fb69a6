"""A config change that adds outputs to a finished job reruns it whichever of its outputs is asked for.

Snakemake compares a job's params only when every output it declares has a metadata record, and the outputs that
more epochs add have none: before the output lists (rules/output_lists.smk), `snakemake -n history.csv` answered
"Nothing to be done" after `training.epochs` grew, while `snakemake -n all` retrained. One small workspace (the
smoke config, one variant, two training epochs, one landscape job) stands for a finished one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HISTORY = "results/models/ctc/history.csv"
GRID = "results/landscape/ctc/epoch_001.h5"
FINISHED = {"training": {"epochs": 2}, "landscape": {"epochs": [1], "shards": 1}}

pytestmark = pytest.mark.slow


def snakemake(workspace: Path, overrides: dict, *args: str) -> str:
    extra = workspace.parent / f"extra-{abs(hash(repr(overrides)))}.yaml"
    extra.write_text(yaml.safe_dump(overrides))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *args,
            "--configfile",
            str(ROOT / "config" / "smoke.yaml"),
            str(extra),
            "--directory",
            str(workspace),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-5000:]
    return text


def scheduled(text: str) -> set[str]:
    """The rules of a dry run's job table."""
    if "Nothing to be done" in text:
        return set()
    table = text.split("Job stats:")[1].split("total")[0]
    return {line.split()[0] for line in table.splitlines()[3:] if line.strip()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("explicit") / "ws"
    snakemake(ws, FINISHED, GRID, "--cores", "2")
    assert scheduled(snakemake(ws, FINISHED, HISTORY, GRID, "-n")) == set()
    return ws


def test_more_epochs_retrain_for_a_training_output_and_an_analysis_output(workspace: Path) -> None:
    more = {**FINISHED, "training": {"epochs": 3}}
    assert {"train", "output_list"} <= scheduled(snakemake(workspace, more, HISTORY, "-n"))
    # the grid of epoch 1 reads only epoch 1's weights, which the longer run publishes again
    assert {"train", "output_list", "loss_grid"} <= scheduled(snakemake(workspace, more, GRID, "-n"))


def test_more_analysed_epochs_rerun_the_analysis_for_an_old_output(workspace: Path) -> None:
    # epoch 2 joins the landscape, and the grid changes: the job's params changed, for epoch 1's grid too
    more = {**FINISHED, "landscape": {"epochs": [1, 2], "shards": 1, "grid": 5}}
    jobs = scheduled(snakemake(workspace, more, GRID, "-n"))
    assert {"loss_grid", "output_list"} <= jobs and "train" not in jobs
    assert scheduled(snakemake(workspace, FINISHED, GRID, HISTORY, "-n")) == set()  # nothing was run
