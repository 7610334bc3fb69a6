"""Config validation names the bad key and the allowed values; defaults come from the schema alone; bounded,
finite values; variant merging; epoch selection."""

import ast
import copy
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lowrank_asr.config import deep_merge, stable_hash, variant_model_config
from lowrank_asr.config_files import MAX_REPR, load_yaml, schema_defaults
from lowrank_asr.errors import ConfigError
from lowrank_asr.workflow.config import (
    analysis_epochs,
    analysis_runs,
    evaluation_decoding_settings,
    run_model_configs,
    run_named,
    train_job_settings,
    training_runs,
    validate_config,
)

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
    with pytest.raises(
        ConfigError, match=r"unknown config key\(s\) 'epoch' under 'training'; allowed keys: .*epochs"
    ):
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
    with pytest.raises(
        ConfigError, match="'variants.lowrank.conv' is 'low-rank'; allowed values: 'separable'"
    ):
        validate_config(config, SCHEMA)


def test_missing_local_path_is_named(tmp_path):
    config = load("config.yaml")
    config["corpus"]["local"] = {"test-clean": str(tmp_path / "nowhere")}
    with pytest.raises(
        ConfigError, match="corpus.local.test-clean points at .*nowhere, which does not exist"
    ):
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
    with pytest.raises(
        ConfigError,
        match=r"variant 'lowrank' has model.features.sample_rate 8000, but the corpus "
        r"audio is 16000 Hz",
    ):
        validate_config(config, SCHEMA)
    config["variants"]["lowrank"]["features"]["sample_rate"] = 16000
    validate_config(config, SCHEMA)


def test_corpus_sample_rate_is_the_model_default():
    from lowrank_asr.corpus.librispeech import SAMPLE_RATE
    from lowrank_asr.models.config import DEFAULT_MODEL

    assert DEFAULT_MODEL["features"]["sample_rate"] == SAMPLE_RATE


def test_variant_overrides_merge_deeply_and_lists_replace():
    config = load("config.yaml")
    config["variants"]["aug"] = {
        "specaugment": {"enabled": True},
        "blocks": [{"layers": 1, "channels": 8, "stride": 1, "repeat": 1}],
    }
    merged = variant_model_config(config, "aug")
    assert merged["specaugment"]["enabled"] is True
    assert merged["blocks"] == [{"layers": 1, "channels": 8, "stride": 1, "repeat": 1}]
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
    config = validate_config(load("config.yaml"), SCHEMA)
    config["training"]["epochs"] = 4
    config["landscape"]["epochs"] = "all"
    assert analysis_epochs(config, "landscape") == [1, 2, 3, 4]
    config["landscape"]["epochs"] = [4, 2, 2]
    assert analysis_epochs(config, "landscape") == [2, 4]
    config["landscape"]["epochs"] = [5]
    with pytest.raises(ConfigError, match="beyond training.epochs = 4"):
        analysis_epochs(config, "landscape")


def test_training_runs_gain_the_seed_only_when_there_are_several():
    config = load("config.yaml")
    del config["training"]["seeds"]  # the default lists three; without the key, one run on the top-level seed
    config = validate_config(config, SCHEMA)
    assert [(r.name, r.seed) for r in training_runs(config)] == [
        ("contextnet", config["seed"]),
        ("lowrank", config["seed"]),
    ]
    config["training"]["seeds"] = [3, 4]
    validate_config(config, SCHEMA)
    assert [r.name for r in training_runs(config)] == [
        "contextnet/seed_3",
        "contextnet/seed_4",
        "lowrank/seed_3",
        "lowrank/seed_4",
    ]
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
    config = validate_config(load(name), SCHEMA)
    config["training"]["seeds"] = [1, 2]
    models = run_model_configs(config)
    assert list(models) == [r.name for r in training_runs(config)]
    for run_name, model in models.items():
        assert model == variant_model_config(config, run_named(config, run_name).variant)


def test_run_model_configs_follow_the_config_they_are_given():
    config = validate_config(load("config.yaml"), SCHEMA)
    before = run_model_configs(config)
    changed = copy.deepcopy(config)
    changed["model"]["kernel_size"] = 7
    after = run_model_configs(changed)
    assert all(m["kernel_size"] == 7 for m in after.values())
    assert all(m["kernel_size"] != 7 for m in before.values())
    assert run_model_configs(config) == before


def minimal_config() -> dict:
    """config.yaml with every key that has a schema default left out: only what the schema requires."""
    full = load("config.yaml")
    return {
        "seed": full["seed"],
        "corpus": {
            "source": "synthetic",
            "synthetic": {
                s: {"speakers": 2, "utterances": 4}
                for s in ("train-clean-100", "dev-clean", "test-clean", "test-other")
            },
        },
        "data": {k: full["data"][k] for k in ("train_splits", "dev_splits", "test_splits")},
        "variants": {"contextnet": {}, "lowrank": {"conv": "lowrank"}},
        "training": {"epochs": 2, "batch_size": 4},
    }


def value_at(config: dict, dotted: str):
    for key in dotted.split("."):
        config = config[key]
    return config


def test_validation_fills_in_every_schema_default():
    config = validate_config(minimal_config(), SCHEMA)
    defaults = schema_defaults(SCHEMA)
    assert {
        "evaluation.max_symbols_per_step",
        "training.dev_max_symbols_per_step",
        "model.frontend",
        "representations.batch_size",
        "compression.calibration_batches",
    } <= set(defaults)
    for dotted, default in defaults.items():
        if default != {}:  # a section's `{}` is completed by its keys' defaults
            assert value_at(config, dotted) == default, dotted
    # the two defaults that are other keys' values
    assert config["evaluation"]["splits"] == config["data"]["test_splits"]
    assert config["compression"]["splits"] == config["evaluation"]["splits"]
    # a synthetic split's spec is completed through additionalProperties; a variant's overrides are not
    split_schema = load_yaml(SCHEMA)["$defs"]["synthetic_split"]["properties"]
    for key, sub in split_schema.items():
        if "default" in sub:
            assert config["corpus"]["synthetic"]["dev-clean"][key] == sub["default"], key
    assert config["variants"]["lowrank"] == {"conv": "lowrank"}


def test_the_jobs_receive_the_schema_defaults():
    from lowrank_asr.training.loop import TrainSettings

    config = validate_config(minimal_config(), SCHEMA)
    defaults = schema_defaults(SCHEMA)
    settings = TrainSettings.from_config(
        train_job_settings(config), seed=1, max_duration=None, skip_bad_audio=False
    )
    for key in (
        "clip_norm",
        "mixed_precision",
        "max_steps_per_epoch",
        "dev_max_symbols_per_step",
        "precise_bn_batches",
        "joint_chunk",
        "accumulate",
        "batch_seconds",
    ):
        assert getattr(settings, key) == defaults[f"training.{key}"], key
    for key in ("schedule", "peak", "warmup_steps"):
        assert settings.learning_rate[key] == defaults[f"training.learning_rate.{key}"], key
    assert settings.evaluation_batch_seconds == defaults["evaluation.batch_seconds"]
    assert evaluation_decoding_settings(config) == {
        **{
            k: defaults[f"evaluation.{k}"]
            for k in ("batch_size", "beam_width", "max_symbols_per_step", "batch_seconds")
        },
        "skip_over_budget": False,
    }
    model = variant_model_config(config, "contextnet")
    for dotted, default in defaults.items():
        if dotted.startswith("model.") and default != {}:
            assert value_at({"model": model}, dotted) == default, dotted
    with pytest.raises(KeyError):  # the library takes the complete section, never a default of its own
        TrainSettings.from_config(
            {"epochs": 1, "batch_size": 2}, seed=0, max_duration=None, skip_bad_audio=False
        )


def test_the_schema_model_defaults_are_the_librarys():
    from lowrank_asr.models.config import DEFAULT_MODEL

    config = validate_config(minimal_config(), SCHEMA)
    assert config["model"] == DEFAULT_MODEL


# `.get("key", default)` with a literal default: the pattern the schema replaces. Wildcards, resources, params
# that only some rules have, and lookup tables are not config values.
NOT_CONFIG = (
    'w.get("shard"',
    'params.get("variants")',
    "LIBRISPEECH_MD5.get(",
    "LOCAL.get(",
    "environ.get(",
    "resources.get(",
)


def test_rules_and_scripts_write_no_config_defaults():
    files = [
        ROOT / "Snakefile",
        *sorted((ROOT / "rules").glob("*.smk")),
        *sorted((ROOT / "workflow_scripts").glob("*.py")),
    ]
    found = []
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.get\(", line) and not any(ok in line for ok in NOT_CONFIG):
                found.append(f"{path.name}:{n}: {line.strip()}")
            if re.search(r"config(\[[^]]+\])*\s+or\s", line):
                found.append(f"{path.name}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "where, text",
    [
        ("training.learning_rate.peak", ".nan"),
        ("training.clip_norm", ".inf"),
        ("video.fps", ".nan"),
        ("data.max_duration", "-.inf"),
        ("compression.fractions.1", ".nan"),
        ("model.dropout", ".nan"),
        ("geometry.trajectory.margin", ".inf"),
        ("corpus.synthetic.test-clean.snr_db", ".nan"),
    ],
)
def test_non_finite_numbers_are_refused_naming_the_key(where, text):
    config = load("config.yaml")
    *parents, last = where.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[int(key)]
    value = yaml.safe_load(text)
    assert not math.isfinite(value)
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    with pytest.raises(
        ConfigError, match=rf"config key '{re.escape(where)}' is -?(nan|inf); give a finite number"
    ):
        validate_config(config, SCHEMA)


BOMB = """
seed: 1
corpus:
  source: synthetic
  synthetic:
    test-clean:
      speakers: 1
      utterances: 1
      voices: &l9 [&l8 [&l7 [&l6 [&l5 [&l4 [&l3 [&l2 [&l1 [&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]]]]]]]]]]
    dev-clean: {speakers: 1, utterances: 1, voices: [*l9, *l9, *l9, *l9, *l9, *l9, *l9, *l9, *l9]}
data: {train_splits: [dev-clean], dev_splits: [dev-clean], test_splits: [test-clean]}
variants: {a: {}}
training: {epochs: 1, batch_size: 1}
"""


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(
        BOMB.replace("voices: &l9 [&l8", "voices: &l9 [&l8")
        + "extra:\n"
        + "".join("  " + line + "\n" for line in _bomb(9).splitlines())
    )
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than 4 MB") as caught:
        load_yaml(path)
    assert time.perf_counter() - start < 1.0
    assert len(str(caught.value)) < 300
    # the same object as Snakemake hands it over (its own loader, aliases shared): refused before validation
    config = yaml.safe_load(BOMB)
    config["corpus"]["synthetic"]["dev-clean"]["voices"] = [
        [config["corpus"]["synthetic"]["dev-clean"]["voices"]] * 10
    ] * 10
    big = yaml.safe_load(_bomb(9))
    config["corpus"]["synthetic"]["test-clean"]["voices"] = big["a8"]
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than 4 MB|levels deep") as caught:
        validate_config(config, SCHEMA)
    assert time.perf_counter() - start < 1.0
    assert len(str(caught.value)) < 300


def test_deep_nesting_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("seed: 1\nvideo: " + "[" * 200 + "]" * 200 + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="levels deep"):
        load_yaml(path)
    assert time.perf_counter() - start < 1.0


def test_error_messages_show_values_cut_short():
    config = load("config.yaml")
    config["corpus"]["synthetic"]["test-clean"]["voices"] = list(range(100_000))  # not strings
    with pytest.raises(ConfigError, match="corpus.synthetic.test-clean.voices") as caught:
        validate_config(config, SCHEMA)
    assert len(str(caught.value)) <= 2 * MAX_REPR + 200
    config = load("config.yaml")
    config["video"] = {f"k{i}": i for i in range(10_000)}
    with pytest.raises(ConfigError, match="under 'video'") as caught:
        validate_config(config, SCHEMA)
    assert len(str(caught.value)) < 500


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_config_file_is_named(tmp_path, text):
    path = tmp_path / "extra.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"config file {re.escape(str(path))} is empty"):
        load_yaml(path)


def test_a_local_key_that_names_no_split_is_an_error(tmp_path):
    config = load("config.yaml")
    config["corpus"]["local"] = {"test-clen": str(tmp_path)}
    with pytest.raises(
        ConfigError,
        match=r"corpus.local.test-clen names no split of the config \(its splits: train-clean-100, ",
    ):
        validate_config(config, SCHEMA)
    config = load("config.yaml")
    config["corpus"]["local"] = {"test-clean": str(tmp_path)}
    validate_config(config, SCHEMA)


def _snakemake(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "all", "-n", "--directory", str(tmp_path / "work"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_dry_run_of_the_minimal_config_plans_every_stage(tmp_path):
    path = tmp_path / "minimal.yaml"
    path.write_text(yaml.safe_dump(minimal_config()))
    done = _snakemake(tmp_path, "--configfile", str(path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\btrain\s+2\b", done.stdout + done.stderr)


def test_an_empty_configfile_stops_the_dry_run_before_any_job(tmp_path):
    """Snakemake reads --configfile before the Snakefile runs and refuses a file without a mapping itself (its
    message names no file: nothing of the workflow runs before it); lowrank_asr's loader names the file."""
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n")
    done = _snakemake(tmp_path, "--configfile", str(path))
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "keys at top level" in out or str(path) in out, out[-2000:]
    assert "Job stats" not in out


# Loads the workflow through Snakemake's API (in a child process: the API changes directory) and prints the
# config the rules see and every rule's params that do not depend on wildcards.
RULE_PARAMS = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings, OutputSettings
settings = ConfigSettings(configfiles=[Path(sys.argv[2])])
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile").resolve(),
                      workdir=Path(sys.argv[1]), config_settings=settings)
    params = {rule.name: {k: v for k, v in rule.params.items() if not callable(v)} for rule in wf._workflow.rules}
    print("RULES=" + json.dumps({"config": wf._workflow.config, "params": params}))
"""


def test_the_rules_receive_the_schema_defaults(tmp_path):
    path = tmp_path / "minimal.yaml"
    path.write_text(yaml.safe_dump(minimal_config()))
    proc = subprocess.run(
        [sys.executable, "-c", RULE_PARAMS, str(tmp_path / "work"), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(
        next(line for line in proc.stdout.splitlines() if line.startswith("RULES=")).removeprefix("RULES=")
    )
    defaults = schema_defaults(SCHEMA)
    for dotted, default in defaults.items():
        if default != {}:
            assert value_at(got["config"], dotted) == default, dotted
    params = got["params"]
    section = {
        name: {k: v for k, v in defaults.items() if k.startswith(f"{name}.")}
        for name in ("training", "evaluation", "representations", "compression", "landscape", "attribution")
    }

    def slice_of(name: str, keys) -> dict:
        return {k: value_at(got["config"], f"{name}.{k}") for k in keys}

    train = params["train"]["training"]
    for key in (
        "clip_norm",
        "mixed_precision",
        "max_steps_per_epoch",
        "dev_max_symbols_per_step",
        "precise_bn_batches",
        "joint_chunk",
        "accumulate",
        "batch_seconds",
    ):
        assert train[key] == defaults[f"training.{key}"], key
    assert train["evaluation_batch_seconds"] == defaults["evaluation.batch_seconds"]
    assert params["train"]["max_duration"] == defaults["data.max_duration"]
    for key in ("batch_size", "beam_width", "max_symbols_per_step", "batch_seconds"):
        assert params["evaluate"]["decoding"][key] == defaults[f"evaluation.{key}"], key
    for rule in ("integrated_gradients", "interpolation", "compression"):
        assert params[rule]["max_symbols"] == defaults["evaluation.max_symbols_per_step"], rule
    # the landscape decodes only for its WER surface, with the evaluation's limit
    wer_limit = defaults["evaluation.max_symbols_per_step"] if defaults["landscape.wer"] else None
    assert params["loss_grid"]["max_symbols"] == wer_limit
    assert params["compression"]["batch_size"] == defaults["evaluation.batch_size"]
    assert params["wer_table"]["bootstrap"] == slice_of("evaluation", ["bootstrap"])["bootstrap"]
    for rule in ("representations", "representation_similarity"):
        for dotted in section["representations"]:
            key = dotted.removeprefix("representations.")
            if key != "epochs":
                assert params[rule]["representations"][key] == defaults[dotted], (rule, key)
    for dotted in section["compression"]:
        assert params["compression"]["compression"][dotted.removeprefix("compression.")] == defaults[dotted]
    for dotted in section["attribution"]:
        key = dotted.removeprefix("attribution.")
        if key not in ("epochs", "all_seeds", "job"):
            assert params["integrated_gradients"]["attribution"][key] == defaults[dotted], key
    for dotted in section["landscape"]:
        key = dotted.removeprefix("landscape.")
        if key not in ("epochs", "shards", "all_seeds", "job"):
            assert params["loss_grid"]["landscape"][key] == defaults[dotted], key
    assert params["landscape_video"]["fps"] == defaults["video.fps"]
    for model in params["wer_table"]["knobs"].values():
        for dotted, default in defaults.items():
            if dotted.startswith("model.") and default != {} and dotted.removeprefix("model.") != "conv":
                assert value_at({"model": model}, dotted) == default, dotted


# Library parameters and dataclass fields named like a schema leaf key that may keep a default: each is a different
# concept that shares the name (file, function or class, parameter): why.
NOT_THE_CONFIG_KEY = {
    ("data/dataset.py", "decode_flac", "decoder"): "the audio decoding library, not model.decoder",
    ("data/dataset.py", "make_dataset", "decoder"): "the audio decoding library, not model.decoder",
    ("corpus/packaged.py", "build_split_tarball", "split"): "the packaged test split, not an analysis split",
    (
        "models/convolutions.py",
        "__init__",
        "stride",
    ): "a block convolution's stride, not the wave front end's",
    ("geometry/hessian.py", "SharpnessResult", "iterations"): "the Lanczos iterations' results, a list",
    (
        "landscape/evaluate.py",
        "evaluate_grid",
        "points",
    ): "an explicit list of grid points; None: the whole grid",
    ("landscape/io.py", "write_landscape", "wer"): "the WER surface to write (an array) or None",
    (
        "metrics/bootstrap.py",
        "edit_counts",
        "unit",
    ): "what one edit count covers (word/character), not the resampling unit",
    (
        "attribution/integrated_gradients.py",
        "integrated_gradients",
        "batch_size",
    ): "interpolation points per pass; None: all",
    (
        "representations/spectra.py",
        "components_for_variance",
        "fractions",
    ): "explained-variance fractions, not compression's",
    (
        "representations/spectra.py",
        "spectrum",
        "fractions",
    ): "explained-variance fractions, not compression's",
    ("features/specaugment.py", "__init__", "seed"): "the layer's random generator; None: unseeded",
    (
        "corpus/transcripts.py",
        "write_transcripts",
        "sample_rate",
    ): "the corpus' rate, which model.features.sample_rate must equal",
    # the calibration study simulates its own scenarios (metrics/calibration.py), not a configured run
    ("metrics/calibration.py", "Scenario", "unit"): "a simulated scenario's resampling unit",
    ("metrics/calibration.py", "simulate", "resamples"): "the simulation's resamples per trial",
    ("metrics/calibration.py", "simulate", "seed"): "the simulation's random seed",
}


def _defaults_in(path: Path):
    """(function or class name, parameter or field name) for every parameter and dataclass field with a default."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = args.posonlyargs + args.args
            for arg in positional[len(positional) - len(args.defaults) :]:
                yield node.name, arg.arg, node.lineno
            for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                if default is not None:
                    yield node.name, arg.arg, node.lineno
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and stmt.value is not None
                    and isinstance(stmt.target, ast.Name)
                ):
                    yield node.name, stmt.target.id, stmt.lineno


# `.get("key", default)` in the library on a mapping that is not a config: (file, key): what it reads
NOT_A_CONFIG_MAPPING = {("plotting/attribution.py", "steps"): "an attribution record, '?' where absent"}


def _copied_defaults(tree: ast.AST, defaults: dict) -> list[tuple[int, str]]:
    """Module-level mapping literals that repeat three or more schema defaults (key and value): a section's
    defaults copied into the code (the old DEFAULT_MODEL, KNOB_DEFAULTS)."""
    by_leaf: dict[str, list] = {}
    for dotted, value in defaults.items():
        by_leaf.setdefault(dotted.rsplit(".", 1)[-1], []).append(value)
    found = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and isinstance(stmt.value, ast.Dict):
            try:
                value = ast.literal_eval(stmt.value)
            except ValueError:
                continue
            same = [k for k, v in value.items() if isinstance(k, str) and v in by_leaf.get(k, [])]
            if len(same) >= 3:
                found.append((stmt.lineno, ", ".join(same)))
    return found


def _defaulted_gets(tree: ast.AST, leaves: set[str]) -> list[tuple[int, str]]:
    """``m.get("key", default)`` / ``m.pop("key", default)`` calls whose key is a schema key."""
    return [
        (node.lineno, node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("get", "pop", "setdefault")
        and len(node.args) == 2
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in leaves
    ]


def test_the_library_writes_no_config_defaults():
    """A library function or dataclass that receives a config value takes it without a default of its own: a
    parameter or field named like a schema key has no default, unless it is another concept (NOT_THE_CONFIG_KEY);
    no `.get("key", default)` on a config mapping; and no module keeps a copy of a section's defaults."""
    defaults = schema_defaults(SCHEMA)
    leaves = {dotted.rsplit(".", 1)[-1] for dotted in defaults}
    lib = ROOT / "lib" / "lowrank_asr"
    found, allowed_seen, gets_seen = [], set(), set()
    for path in sorted(lib.rglob("*.py")):
        rel = path.relative_to(lib).as_posix()
        tree = ast.parse(path.read_text())
        for owner, name, line in _defaults_in(path):
            if name not in leaves:
                continue
            if (rel, owner, name) in NOT_THE_CONFIG_KEY:
                allowed_seen.add((rel, owner, name))
            else:
                found.append(f"{rel}:{line}: {owner}({name}=...)")
        for line, key in _defaulted_gets(tree, leaves):
            if (rel, key) in NOT_A_CONFIG_MAPPING:
                gets_seen.add((rel, key))
            else:
                found.append(f"{rel}:{line}: .get({key!r}, ...)")
        found += [
            f"{rel}:{line}: a copy of the schema's defaults ({keys})"
            for line, keys in _copied_defaults(tree, defaults)
        ]
    assert not found, "defaults of config values written in the library:\n" + "\n".join(found)
    assert allowed_seen == set(NOT_THE_CONFIG_KEY), "stale NOT_THE_CONFIG_KEY entries"
    assert gets_seen == set(NOT_A_CONFIG_MAPPING), "stale NOT_A_CONFIG_MAPPING entries"


def test_the_library_scan_finds_what_it_forbids(tmp_path):
    """The scan above flags a keyword default, a dataclass default, a defaulted `.get` and a copied section."""
    path = tmp_path / "sample.py"
    path.write_text(
        "from dataclasses import dataclass\n"
        "MODEL = {'kernel_size': 5, 'conv': 'separable', 'se': True}\n"
        "def decode(x, *, beam_width=4, max_symbols_per_step):\n"
        "    return x.get('batch_size', 32)\n"
        "@dataclass\n"
        "class Settings:\n"
        "    resamples: int = 1000\n"
    )
    tree = ast.parse(path.read_text())
    defaults = schema_defaults(SCHEMA)
    leaves = {dotted.rsplit(".", 1)[-1] for dotted in defaults}
    assert [(o, n) for o, n, _ in _defaults_in(path) if n in leaves] == [
        ("decode", "beam_width"),
        ("Settings", "resamples"),
    ]
    assert _defaulted_gets(tree, leaves) == [(4, "batch_size")]
    assert _copied_defaults(tree, defaults) == [(2, "kernel_size, conv, se")]
