"""Config validation names the bad key and the allowed values; variant merging; epoch selection."""

import copy
from pathlib import Path

import pytest
import yaml

from lowrank_asr.config import analysis_epochs, deep_merge, stable_hash, validate_config, variant_model_config
from lowrank_asr.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "librispeech.yaml", "rehearsal.yaml"])
def test_shipped_configs_validate(name):
    validate_config(load(name), SCHEMA)


def test_unknown_key_is_named_with_allowed_keys():
    config = load("config.yaml")
    config["training"]["epoch"] = 3
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) 'epoch' under 'training'; allowed keys: .*epochs"):
        validate_config(config, SCHEMA)


def test_unknown_top_level_key():
    config = load("config.yaml")
    config["landscpe"] = {}
    with pytest.raises(ConfigError, match="'landscpe' under '<top level>'"):
        validate_config(config, SCHEMA)


def test_wrong_type_names_key_and_expected_type():
    config = load("config.yaml")
    config["training"]["batch_size"] = "sixteen"
    with pytest.raises(ConfigError, match=r"'training.batch_size' is 'sixteen' \(str\); expected integer"):
        validate_config(config, SCHEMA)


def test_wrong_enum_value_lists_allowed_values():
    config = load("config.yaml")
    config["variants"]["lowrank"]["conv"] = "low-rank"
    with pytest.raises(ConfigError, match="'variants.lowrank.conv' is 'low-rank'; allowed values: 'separable'"):
        validate_config(config, SCHEMA)


def test_missing_local_path_is_named(tmp_path):
    config = load("config.yaml")
    config["corpus"]["local"] = {"test-clean": str(tmp_path / "nowhere")}
    with pytest.raises(ConfigError, match="corpus.local.test-clean points at .*nowhere, which does not exist"):
        validate_config(config, SCHEMA)


def test_split_without_source_is_refused():
    config = load("config.yaml")
    config["data"]["test_splits"].append("my-recordings")
    with pytest.raises(ConfigError, match="my-recordings have no entry under corpus.synthetic"):
        validate_config(config, SCHEMA)


@pytest.mark.parametrize("span", [[1.0, -1.0], [0.5, 0.5]])
def test_landscape_range_must_run_upwards(span):
    config = load("config.yaml")
    config["landscape"]["range"] = span
    with pytest.raises(ConfigError, match=r"landscape.range is \[.*\]: its start must be below its end"):
        validate_config(config, SCHEMA)


def test_feature_sample_rate_must_be_the_corpus_rate():
    config = load("config.yaml")
    config["variants"]["lowrank"] = {"conv": "lowrank", "features": {"sample_rate": 8000}}
    with pytest.raises(ConfigError, match=r"variant 'lowrank' has model.features.sample_rate 8000, but the corpus "
                                          r"audio is 16000 Hz"):
        validate_config(config, SCHEMA)
    config["variants"]["lowrank"]["features"]["sample_rate"] = 16000
    validate_config(config, SCHEMA)


def test_corpus_sample_rate_is_the_model_default():
    from lowrank_asr.data.librispeech import SAMPLE_RATE
    from lowrank_asr.models.config import DEFAULT_MODEL

    assert DEFAULT_MODEL["features"]["sample_rate"] == SAMPLE_RATE


def test_variant_overrides_merge_deeply_and_lists_replace():
    config = load("config.yaml")
    config["variants"]["aug"] = {"specaugment": {"enabled": True}, "blocks": [{"layers": 1, "channels": 8}]}
    merged = variant_model_config(config, "aug")
    assert merged["specaugment"]["enabled"] is True
    assert merged["blocks"] == [{"layers": 1, "channels": 8}]
    assert merged["conv"] == config["model"]["conv"]
    with pytest.raises(ConfigError, match="unknown variant 'nope'; the config defines: contextnet, lowrank"):
        variant_model_config(config, "nope")


def test_deep_merge_does_not_mutate_inputs():
    base = {"a": {"b": 1}}
    before = copy.deepcopy(base)
    assert deep_merge(base, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}
    assert base == before


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_analysis_epochs():
    config = load("config.yaml")
    config["training"]["epochs"] = 4
    config["landscape"]["epochs"] = "all"
    assert analysis_epochs(config, "landscape") == [1, 2, 3, 4]
    config["landscape"]["epochs"] = [4, 2, 2]
    assert analysis_epochs(config, "landscape") == [2, 4]
    config["landscape"]["epochs"] = [5]
    with pytest.raises(ConfigError, match="beyond training.epochs = 4"):
        analysis_epochs(config, "landscape")


def test_training_runs_gain_the_seed_only_when_there_are_several():
    from lowrank_asr.config import analysis_runs, run_named, training_runs

    config = load("config.yaml")
    del config["training"]["seeds"]  # the default lists three; without the key, one run on the top-level seed
    assert [(r.name, r.seed) for r in training_runs(config)] == [("contextnet", config["seed"]),
                                                                 ("lowrank", config["seed"])]
    config["training"]["seeds"] = [3, 4]
    validate_config(config, SCHEMA)
    assert [r.name for r in training_runs(config)] == ["contextnet/seed_3", "contextnet/seed_4", "lowrank/seed_3",
                                                       "lowrank/seed_4"]
    assert run_named(config, "lowrank/seed_4").variant == "lowrank"
    assert [r.name for r in analysis_runs(config, "landscape")] == ["contextnet/seed_3", "lowrank/seed_3"]
    config["landscape"]["all_seeds"] = True
    assert len(analysis_runs(config, "landscape")) == 4
    with pytest.raises(ConfigError, match="no training run is named 'lowrank/seed_5'"):
        run_named(config, "lowrank/seed_5")
    config["training"]["seeds"] = [3, 3]
    with pytest.raises(ConfigError, match="training.seeds"):
        validate_config(config, SCHEMA)


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "librispeech.yaml", "rehearsal.yaml"])
def test_run_model_configs_are_each_runs_merged_variant_settings(name):
    from lowrank_asr.config import run_named, training_runs
    from lowrank_asr.workflow.run_settings import run_model_configs

    config = load(name)
    config["training"]["seeds"] = [1, 2]
    models = run_model_configs(config)
    assert list(models) == [r.name for r in training_runs(config)]
    for run_name, model in models.items():
        assert model == variant_model_config(config, run_named(config, run_name).variant)


def test_run_model_configs_follow_the_config_they_are_given():
    from lowrank_asr.workflow.run_settings import run_model_configs

    config = load("config.yaml")
    before = run_model_configs(config)
    changed = copy.deepcopy(config)
    changed["model"]["kernel_size"] = 7
    after = run_model_configs(changed)
    assert all(m["kernel_size"] == 7 for m in after.values())
    assert all(m["kernel_size"] != 7 for m in before.values())
    assert run_model_configs(config) == before
