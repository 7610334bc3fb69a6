"""What a rule's params carry decides what a config change reruns: each rule gets only what its output depends on.

The end-to-end consequences are in tests/test_workflow_e2e.py; these are the pieces it is built from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lowrank_asr.config import stable_hash
from lowrank_asr.config_files import load_yaml
from lowrank_asr.training.loop import TrainSettings
from lowrank_asr.workflow.bad_audio import bad_audio_rerun_key, known_bad_audio
from lowrank_asr.workflow.config import (
    evaluation_decoding_settings,
    load_config,
    train_job_settings,
    training_resume_settings,
    validate_config,
)

ROOT = Path(__file__).resolve().parents[1]


def skip_list(tmp_path: Path, problems: list[dict] | None, text: str | None = None) -> Path:
    path = tmp_path / "test-other.skipped.json"
    if problems is not None:
        path.write_text(json.dumps(problems))
    elif text is not None:
        path.write_text(text)
    return path


BAD = [{"path": "a.flac", "utt_id": "a", "reason": "audio file holds no samples"}]


@pytest.mark.parametrize("problems", [None, []], ids=["not-run-yet", "clean"])
def test_the_policy_does_not_key_a_split_without_known_bad_audio(
    tmp_path: Path, problems: list | None
) -> None:
    path = skip_list(tmp_path, problems)
    assert not known_bad_audio(path)
    assert bad_audio_rerun_key("fail", path) == bad_audio_rerun_key("skip", path)


def test_switching_to_fail_reruns_a_split_with_known_bad_audio(tmp_path: Path) -> None:
    path = skip_list(tmp_path, BAD)
    assert known_bad_audio(path)
    assert bad_audio_rerun_key("fail", path) != bad_audio_rerun_key("skip", path)
    # a skip run's key stays what it was before the run found the bad audio: no rerun after a successful run
    assert bad_audio_rerun_key("skip", path) == bad_audio_rerun_key("skip", tmp_path / "missing.json")
    assert bad_audio_rerun_key("fail", tmp_path / "missing.json") == bad_audio_rerun_key("skip", path)


def test_an_unreadable_skip_list_counts_as_bad_audio(tmp_path: Path) -> None:
    assert known_bad_audio(skip_list(tmp_path, None, text="[{not json"))


SMOKE = ROOT / "config" / "smoke.yaml"


def train_settings(config: dict) -> TrainSettings:
    return TrainSettings.from_config(
        train_job_settings(config), seed=0, max_duration=config["data"]["max_duration"], skip_bad_audio=False
    )


def test_training_reads_its_own_dev_decoding_knob() -> None:
    config = load_config(SMOKE)
    config["training"]["dev_max_symbols_per_step"] = 7
    config["evaluation"]["max_symbols_per_step"] = 2
    assert train_settings(config).dev_max_symbols_per_step == 7
    assert "dev_max_symbols_per_step" not in evaluation_decoding_settings(config)


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "librispeech.yaml", "rehearsal.yaml"])
def test_every_config_sets_the_dev_decoding_knob_under_training(name: str) -> None:
    config = load_yaml(ROOT / "config" / name)
    validate_config(config, ROOT / "config" / "schema.yaml")
    assert config["training"]["dev_max_symbols_per_step"] >= 1


def test_the_joint_chunk_keeps_the_resume_state_and_accumulation_changes_it() -> None:
    base = load_config(SMOKE)["training"]
    key = stable_hash(training_resume_settings(base))
    # a memory knob (same maths): a run that ran out of memory resumes with a smaller chunk
    assert stable_hash(training_resume_settings({**base, "joint_chunk": 2})) == key
    assert stable_hash(training_resume_settings({**base, "seeds": [1, 2]})) == key  # adding a seed
    assert stable_hash(training_resume_settings({**base, "accumulate": 4})) != key  # other updates
    assert stable_hash(training_resume_settings({**base, "batch_size": 4})) != key


def test_training_reads_the_chunk_and_accumulation_knobs() -> None:
    config = load_config(SMOKE)
    config["training"].update(joint_chunk=3, accumulate=4)
    settings = train_settings(config)
    assert (settings.joint_chunk, settings.accumulate) == (3, 4)


def _budget_config(train=None, dev=None, policy="fail") -> dict:
    config = load_yaml(SMOKE)
    config["training"]["batch_seconds"] = train
    config["evaluation"]["batch_seconds"] = dev
    config["data"]["on_bad_audio"] = policy
    return validate_config(config, ROOT / "config" / "schema.yaml")


def test_budgets_reach_the_train_and_evaluate_jobs_with_the_skip_policy() -> None:
    plain = train_settings(_budget_config(policy="skip"))
    # no budget, nothing to skip whatever the bad-audio policy
    assert (plain.batch_seconds, plain.evaluation_batch_seconds, plain.skip_over_budget) == (
        None,
        None,
        False,
    )
    assert not evaluation_decoding_settings(_budget_config(policy="skip"))["skip_over_budget"]
    both = _budget_config(train=120.0, dev=300.0, policy="skip")
    settings = train_settings(both)
    assert (settings.batch_seconds, settings.evaluation_batch_seconds, settings.skip_over_budget) == (
        120.0,
        300.0,
        True,
    )
    decoding = evaluation_decoding_settings(both)
    assert (decoding["batch_seconds"], decoding["skip_over_budget"]) == (300.0, True)
    failing = train_settings(_budget_config(train=120.0))
    assert (failing.batch_seconds, failing.evaluation_batch_seconds, failing.skip_over_budget) == (
        120.0,
        None,
        False,
    )
    # the budget shapes the batches, hence the run: a new resume state
    base = _budget_config()["training"]
    key = stable_hash(training_resume_settings(base))
    assert stable_hash(training_resume_settings({**base, "batch_seconds": 120.0})) != key


@pytest.mark.parametrize("value, ok", [(120.0, True), (None, True), (0, False), (-1, False), ("x", False)])
def test_the_schema_takes_positive_budgets_or_null(value, ok) -> None:
    config = load_yaml(ROOT / "config" / "smoke.yaml")
    config["training"]["batch_seconds"] = value
    config["evaluation"]["batch_seconds"] = value
    if ok:
        validate_config(config, ROOT / "config" / "schema.yaml")
    else:
        with pytest.raises(Exception, match="batch_seconds"):
            validate_config(config, ROOT / "config" / "schema.yaml")
