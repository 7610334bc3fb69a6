"""What a rule's params carry decides what a config change reruns: each rule gets only what its output depends on.

The end-to-end consequences are in tests/test_workflow_e2e.py; these are the pieces it is built from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lowrank_asr.config import (
    evaluation_decoding_settings,
    load_yaml,
    stable_hash,
    train_job_settings,
    training_resume_settings,
    validate_config,
)
from lowrank_asr.training.loop import TrainSettings
from lowrank_asr.workflow.bad_audio import bad_audio_rerun_key, known_bad_audio

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
def test_the_policy_does_not_key_a_split_without_known_bad_audio(tmp_path: Path, problems: list | None) -> None:
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


def test_training_reads_its_own_dev_decoding_knob() -> None:
    training = {"epochs": 1, "batch_size": 2, "dev_max_symbols_per_step": 7}
    assert TrainSettings.from_config(training, seed=0).max_symbols_per_step == 7
    assert TrainSettings.from_config({"epochs": 1, "batch_size": 2}, seed=0).max_symbols_per_step == 5


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "librispeech.yaml", "rehearsal.yaml"])
def test_every_config_sets_the_dev_decoding_knob_under_training(name: str) -> None:
    config = load_yaml(ROOT / "config" / name)
    validate_config(config, ROOT / "config" / "schema.yaml")
    assert config["training"]["dev_max_symbols_per_step"] >= 1


def test_the_joint_chunk_keeps_the_resume_state_and_accumulation_changes_it() -> None:
    base = {"epochs": 3, "batch_size": 8, "seeds": [1]}
    key = stable_hash(training_resume_settings(base))
    # a memory knob (same maths): a run that ran out of memory resumes with a smaller chunk
    assert stable_hash(training_resume_settings({**base, "joint_chunk": 2})) == key
    assert stable_hash(training_resume_settings({**base, "accumulate": 1})) == key  # the default
    assert stable_hash(training_resume_settings({**base, "accumulate": 4})) != key  # other updates
    assert stable_hash(training_resume_settings({**base, "batch_size": 4})) != key


def test_training_reads_the_chunk_and_accumulation_knobs() -> None:
    settings = TrainSettings.from_config({"epochs": 1, "batch_size": 2, "joint_chunk": 3, "accumulate": 4},
                                         seed=0)
    assert (settings.joint_chunk, settings.accumulate) == (3, 4)
    default = TrainSettings.from_config({"epochs": 1, "batch_size": 2}, seed=0)
    assert (default.joint_chunk, default.accumulate) == (None, 1)


def _budget_config(train=None, dev=None, policy="fail") -> dict:
    return {"training": {"epochs": 3, "batch_size": 8, "seeds": [1], **({"batch_seconds": train} if train else {})},
            "evaluation": {"batch_size": 16, "beam_width": 4, "splits": ["test-clean"],
                           **({"batch_seconds": dev} if dev else {})},
            "data": {"on_bad_audio": policy}}


def test_budgets_reach_the_train_and_evaluate_jobs_only_where_set() -> None:
    plain = _budget_config(policy="skip")
    # no budget: the params the jobs had before the knobs existed, whatever the bad-audio policy
    assert train_job_settings(plain) == {"epochs": 3, "batch_size": 8}
    assert evaluation_decoding_settings(plain) == {"batch_size": 16, "beam_width": 4}
    both = _budget_config(train=120.0, dev=300.0, policy="skip")
    settings = TrainSettings.from_config(train_job_settings(both), seed=0)
    assert (settings.batch_seconds, settings.dev_batch_seconds, settings.skip_over_budget) == (120.0, 300.0, True)
    assert evaluation_decoding_settings(both) == {"batch_size": 16, "beam_width": 4, "batch_seconds": 300.0,
                                                  "skip_over_budget": True}
    failing = TrainSettings.from_config(train_job_settings(_budget_config(train=120.0)), seed=0)
    assert (failing.batch_seconds, failing.dev_batch_seconds, failing.skip_over_budget) == (120.0, None, False)
    # the budget shapes the batches, hence the run: a new resume state; unset (null) keeps the old one
    base = {"epochs": 3, "batch_size": 8}
    key = stable_hash(training_resume_settings(base))
    assert stable_hash(training_resume_settings({**base, "batch_seconds": None})) == key
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
