"""The training-corpus ablation's configs (config/ablation/, RESULTS.md): each step is a valid config on top of
config/config.yaml, states the training split and schedule it was measured with, and the last step is the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from lowrank_asr.config import deep_merge
from lowrank_asr.config_files import load_yaml
from lowrank_asr.workflow.config import load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "config" / "config.yaml"
STEPS = sorted((ROOT / "config" / "ablation").glob("*.yaml"))
TRAIN = "train-clean-100"
SPLIT_KEYS = (
    "speakers",
    "speaker_offset",
    "voices",
    "variants",
    "rate",
    "pitch",
    "snr_db",
    "augment",
    "lexicon",
)


def step_config(path: Path) -> dict:
    return validate_config(deep_merge(load_yaml(DEFAULT), load_yaml(path)))


def test_the_steps_are_numbered_from_zero_without_gaps():
    assert [int(p.name.split("_")[0]) for p in STEPS] == list(range(len(STEPS)))
    assert len(STEPS) >= 2


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.stem)
def test_each_step_states_its_training_split_and_schedule(path):
    """A step must not inherit the default's training split or schedule: the default moves on, the measured
    step does not."""
    overlay = load_yaml(path)
    split = overlay["corpus"]["synthetic"][TRAIN]
    for key in SPLIT_KEYS:
        assert key in split, f"{path.name} leaves {TRAIN}.{key} to the default"
    for key in ("epochs", "learning_rate"):
        assert key in overlay["training"], f"{path.name} leaves training.{key} to the default"
    step_config(path)  # valid on top of the default


def test_the_last_step_is_the_default_config():
    assert step_config(STEPS[-1]) == load_config(DEFAULT)


def test_the_first_step_is_the_embedded_default_before_the_corpus_work():
    split = step_config(STEPS[0])["corpus"]["synthetic"][TRAIN]
    before = {
        "speakers": 12,
        "speaker_offset": 0,
        "voices": None,
        "variants": None,
        "augment": None,
        "lexicon": "basic",
    }
    assert {key: split[key] for key in before} == before
