"""Configuration: loading, validation with readable errors, per-variant model settings, hashing.

The Snakefile validates the config once at DAG build; rules then receive only the slice they use, so that a
change to (say) a plot setting does not invalidate training.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lowrank_asr.data.librispeech import SAMPLE_RATE
from lowrank_asr.errors import ConfigError

SECTIONS_WITH_EPOCHS = ("landscape", "attribution", "representations")


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing file with --configfile")
    with path.open() as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error) -> str:
    """One line that names the key, what is wrong and what is allowed."""
    where = _dotted(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown config key(s) {', '.join(map(repr, extra))} under '{where}'{hint}"
    if error.validator == "enum":
        return f"config key '{where}' is {error.instance!r}; allowed values: {', '.join(map(repr, schema['enum']))}"
    if error.validator == "type":
        return f"config key '{where}' is {error.instance!r} ({type(error.instance).__name__}); expected {schema['type']}"
    if error.validator == "required":
        return f"config section '{where}' is missing a required key: {error.message}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _describe(min(error.context, key=lambda e: len(list(e.absolute_path))))
    return f"config key '{where}': {error.message}"


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Validate against the JSON schema and cross-field rules; raise ConfigError naming the first problem."""
    import jsonschema

    schema = load_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        raise ConfigError(_describe(errors[0]))
    _check_cross_fields(config)
    return config


def all_splits(config: Mapping) -> list[str]:
    """Every split the pipeline prepares, in a stable order."""
    data = config["data"]
    ordered = [*data["train_splits"], *data["dev_splits"], *data["test_splits"],
               *config["evaluation"].get("splits", [])]
    ordered += [config["landscape"].get("split"), config["attribution"].get("split"),
                (config.get("representations") or {}).get("split"),
                *((config.get("compression") or {}).get("splits") or [])]
    return list(dict.fromkeys(s for s in ordered if s))


def _check_cross_fields(config: dict) -> None:
    corpus = config["corpus"]
    local = corpus.get("local") or {}
    if corpus["source"] == "synthetic":
        missing = [s for s in all_splits(config) if s not in local and s not in corpus.get("synthetic", {})]
        if missing:
            raise ConfigError(
                f"split(s) {', '.join(missing)} have no entry under corpus.synthetic and none under corpus.local; "
                "add a synthetic spec or point corpus.local at a LibriSpeech-format tarball or folder"
            )
    for split, spec in corpus.get("synthetic", {}).items():
        if spec.get("min_words", 1) > spec.get("max_words", spec.get("min_words", 1)):
            raise ConfigError(f"corpus.synthetic.{split}: min_words is larger than max_words")
    for split, path in local.items():
        if not Path(path).exists():
            raise ConfigError(
                f"corpus.local.{split} points at {path}, which does not exist; give the path of a LibriSpeech-format "
                "tarball (.tar.gz) or extracted folder"
            )
    not_prepared = [s for s in config["evaluation"].get("splits", []) if s not in all_splits(config)]
    if not_prepared:
        raise ConfigError(f"evaluation.splits {not_prepared} are not among the data splits")
    for name in config["variants"]:
        merged = variant_model_config(config, name)
        if merged.get("conv") == "rank" and "rank" not in merged:
            raise ConfigError(f"variant '{name}' uses conv: rank but sets no 'rank'")
        rate = (merged.get("features") or {}).get("sample_rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise ConfigError(
                f"variant '{name}' has model.features.sample_rate {rate}, but the corpus audio is {SAMPLE_RATE} Hz "
                f"(LibriSpeech's rate, which the synthetic corpus writes and the transcripts stage requires): "
                f"set model.features.sample_rate to {SAMPLE_RATE} or leave it out"
            )
    start, end = config["landscape"].get("range", (-1.0, 1.0))
    if not start < end:
        raise ConfigError(
            f"landscape.range is [{start}, {end}]: its start must be below its end (a reversed range would mirror "
            "the plot); e.g. [-1.0, 1.0]"
        )


def deep_merge(base: Mapping, overrides: Mapping) -> dict:
    """Recursive dict merge: nested mappings merge, everything else (lists included) replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def variant_model_config(config: Mapping, variant: str) -> dict:
    """The model settings of one variant: the config's `model` defaults with the variant's overrides."""
    variants = config.get("variants") or {}
    if variant not in variants:
        raise ConfigError(f"unknown variant {variant!r}; the config defines: {', '.join(variants) or 'none'}")
    return deep_merge(config.get("model") or {}, variants[variant] or {})


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hash of a JSON-able object that ignores key order (used for config slices and resume state)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def analysis_epochs(config: Mapping, section: str) -> list[int]:
    """The epochs a per-epoch analysis (landscape, attribution, representations) runs on."""
    epochs = config["training"]["epochs"]
    chosen = config[section].get("epochs", "all")
    if chosen == "all":
        return list(range(1, epochs + 1))
    if chosen == "last":
        return [epochs]
    bad = [e for e in chosen if e > epochs]
    if bad:
        raise ConfigError(f"{section}.epochs lists {bad}, beyond training.epochs = {epochs}")
    return sorted(set(chosen))


@dataclass(frozen=True)
class Run:
    """One training run: a variant trained with one seed.

    ``name`` is what the outputs' paths hold (the workflow's ``{variant}`` wildcard): the variant's name alone when
    the config has one seed, so that single-seed outputs keep their paths, else ``{variant}/seed_{seed}``.
    """

    name: str
    variant: str
    seed: int


def training_seeds(config: Mapping) -> list[int]:
    """``training.seeds``, or the top-level ``seed`` when it is not set."""
    return list(config["training"].get("seeds") or [config["seed"]])


def training_runs(config: Mapping) -> list[Run]:
    """Every variant × seed, variants in config order."""
    seeds = training_seeds(config)
    return [Run(v if len(seeds) == 1 else f"{v}/seed_{s}", v, s) for v in config["variants"] for s in seeds]


def training_resume_settings(training: Mapping) -> dict:
    """The training settings a run's resume state is keyed by: all but ``seeds`` (adding a seed must not
    retrain the others), ``joint_chunk`` (it bounds memory, the maths stay the same: after an
    out-of-memory failure a smaller chunk resumes the epochs already trained), ``replicas`` (a run resumes on
    another number of devices), and ``accumulate`` only when
    it is not 1 (states written before the knob existed keep their key)."""
    return {k: v for k, v in training.items()
            if k not in ("seeds", "joint_chunk", "replicas") and not (k == "accumulate" and v == 1)
            and not (k == "batch_seconds" and v is None)}


def train_job_settings(config: Mapping) -> dict:
    """The train job's ``training`` params: ``config["training"]`` but ``seeds``, plus what the job reads from
    other sections, only where it is set: ``evaluation_batch_seconds`` (the dev set's budget) and
    ``skip_over_budget`` (``data.on_bad_audio: skip`` with a budget). Adding a params entry, even ``None``, would
    rerun every finished training; these keys leave configs without budgets with the params they had."""
    settings = {k: v for k, v in config["training"].items() if k != "seeds"}
    dev_budget = config["evaluation"].get("batch_seconds")
    if dev_budget is not None:
        settings["evaluation_batch_seconds"] = dev_budget
    if config["data"].get("on_bad_audio", "fail") == "skip" and (
            dev_budget is not None or settings.get("batch_seconds") is not None):
        settings["skip_over_budget"] = True
    return settings


def evaluation_decoding_settings(config: Mapping) -> dict:
    """The evaluate job's ``decoding`` params: what a decode depends on (``splits`` only chooses the jobs), with
    ``skip_over_budget`` only where ``evaluation.batch_seconds`` is set and ``data.on_bad_audio`` is ``skip``."""
    evaluation = config["evaluation"]
    settings = {k: v for k, v in evaluation.items()
                if k in ("batch_size", "beam_width", "max_symbols_per_step", "batch_seconds")
                and not (k == "batch_seconds" and v is None)}
    if evaluation.get("batch_seconds") is not None and config["data"].get("on_bad_audio", "fail") == "skip":
        settings["skip_over_budget"] = True
    return settings


def run_named(config: Mapping, name: str) -> Run:
    for run in training_runs(config):
        if run.name == name:
            return run
    raise ConfigError(f"no training run is named {name!r}; the config's runs: "
                      f"{', '.join(r.name for r in training_runs(config))}")


def analysis_runs(config: Mapping, section: str) -> list[Run]:
    """The runs a per-epoch analysis covers: every seed's with ``{section}.all_seeds: true``, else the first's."""
    runs = training_runs(config)
    if config[section].get("all_seeds", False):
        return runs
    first = training_seeds(config)[0]
    return [r for r in runs if r.seed == first]
