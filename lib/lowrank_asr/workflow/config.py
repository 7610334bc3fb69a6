"""The workflow's config: validation that fills in the schema's defaults, runs, splits, epochs, job splitting.

The Snakefile validates the config once at DAG build: ``config/schema.yaml`` is the one home of every default, and
validation writes them into the config, so that rules build their params from complete sections (``section[key]``,
never a default of their own) and hand the library explicit values. Rules then receive only the slice they use,
so that a change to (say) a plot setting does not invalidate training.

Only the Snakefile and rules import this module (no workflow script does), so editing it changes no rule's code
hash; the library never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from lowrank_asr.config import variant_model_config
from lowrank_asr.config_files import (
    SCHEMA,
    check_bounds,
    check_finite,
    dotted_key,
    fill_defaults,
    load_yaml,
    short_repr,
)
from lowrank_asr.corpus.librispeech import SAMPLE_RATE
from lowrank_asr.corpus.packaged import PACKAGED_SPLITS
from lowrank_asr.errors import ConfigError

SECTIONS_WITH_EPOCHS = ("landscape", "attribution", "representations")
ANALYSIS_JOBS = ("variant", "epoch")


def _describe(error) -> str:
    """One line that names the key, what is wrong and what is allowed (values shown cut short)."""
    where = dotted_key(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return (
            f"unknown config key(s) {_cut(', '.join(short_repr(k) for k in extra[:8]))} under '{where}'{hint}"
        )
    if error.validator == "enum":
        return (
            f"config key '{where}' is {short_repr(error.instance)}; allowed values: "
            f"{', '.join(map(repr, schema['enum']))}"
        )
    if error.validator == "type":
        return (
            f"config key '{where}' is {short_repr(error.instance)} ({type(error.instance).__name__}); "
            f"expected {schema['type']}"
        )
    if error.validator == "required":
        return f"config section '{where}' is missing a required key: {_cut(error.message)}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _describe(min(error.context, key=lambda e: len(list(e.absolute_path))))
    if len(error.message) <= 200:
        return f"config key '{where}': {error.message}"
    return (
        f"config key '{where}' is {short_repr(error.instance)}: it fails {error.validator} "
        f"{short_repr(error.validator_value)}"
    )


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_config(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Check bounds and finiteness, fill in the schema's defaults, validate against the JSON schema and the
    cross-field rules; raise ConfigError naming the first problem. ``config`` is completed in place."""
    check_bounds(config)
    check_finite(config)
    schema = load_yaml(schema_path)
    fill_defaults(config, schema)
    _fill_derived_defaults(config)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path))
    )
    if errors:
        raise ConfigError(_describe(errors[0]))
    _check_cross_fields(config)
    return config


def _fill_derived_defaults(config: dict) -> None:
    """Defaults that are other keys' values (the schema's descriptions say which); unset or empty takes them.
    Runs before validation, so it tolerates sections of the wrong type (validation then names them)."""
    evaluation, data, compression = (config.get(k) for k in ("evaluation", "data", "compression"))
    if isinstance(evaluation, dict) and not evaluation.get("splits") and isinstance(data, dict):
        evaluation["splits"] = list(data.get("test_splits") or [])
    if isinstance(compression, dict) and not compression.get("splits") and isinstance(evaluation, dict):
        compression["splits"] = list(evaluation.get("splits") or [])


def all_splits(config: Mapping) -> list[str]:
    """Every split the pipeline prepares, in a stable order."""
    data = config["data"]
    ordered = [
        *data["train_splits"],
        *data["dev_splits"],
        *data["test_splits"],
        *config["evaluation"]["splits"],
        config["landscape"]["split"],
        config["attribution"]["split"],
        config["representations"]["split"],
        *config["compression"]["splits"],
    ]
    return list(dict.fromkeys(ordered))


def _check_cross_fields(config: dict) -> None:
    corpus = config["corpus"]
    local, synthetic = corpus["local"], corpus["synthetic"]
    splits = all_splits(config)
    unknown = [s for s in local if s not in splits]
    if unknown:
        raise ConfigError(
            f"{', '.join(f'corpus.local.{s}' for s in unknown)} names no split of the config (its splits: "
            f"{', '.join(splits)}); fix the split's name, or add the split to data.train_splits, dev_splits or "
            "test_splits"
        )
    if corpus["source"] == "synthetic":
        missing = [s for s in splits if s not in local and s not in synthetic and s not in PACKAGED_SPLITS]
        if missing:
            raise ConfigError(
                f"split(s) {', '.join(missing)} have no entry under corpus.synthetic and none under corpus.local; "
                "add a synthetic spec or point corpus.local at a LibriSpeech-format tarball or folder"
            )
    for split, spec in synthetic.items():
        if spec["min_words"] > spec["max_words"]:
            raise ConfigError(f"corpus.synthetic.{split}: min_words is larger than max_words")
    for split, path in local.items():
        if not Path(path).exists():
            raise ConfigError(
                f"corpus.local.{split} points at {path}, which does not exist; give the path of a LibriSpeech-format "
                "tarball (.tar.gz) or extracted folder"
            )
    for name in config["variants"]:
        merged = variant_model_config(config, name)
        if merged["conv"] == "rank" and "rank" not in merged:
            raise ConfigError(f"variant '{name}' uses conv: rank but sets no 'rank'")
        rate = merged["features"]["sample_rate"]
        if rate != SAMPLE_RATE:
            raise ConfigError(
                f"variant '{name}' has model.features.sample_rate {rate}, but the corpus audio is {SAMPLE_RATE} Hz "
                f"(LibriSpeech's rate, which the synthetic corpus writes and the transcripts stage requires): "
                f"set model.features.sample_rate to {SAMPLE_RATE} or leave it out"
            )
    start, end = config["landscape"]["range"]
    if not start < end:
        raise ConfigError(
            f"landscape.range is [{start}, {end}]: its start must be below its end (a reversed range would mirror "
            "the plot); e.g. [-1.0, 1.0]"
        )
    for section in SECTIONS_WITH_EPOCHS:
        analysis_epochs(config, section)


def analysis_epochs(config: Mapping, section: str) -> list[int]:
    """The epochs a per-epoch analysis (landscape, attribution, representations) runs on."""
    epochs = config["training"]["epochs"]
    chosen = config[section]["epochs"]
    if chosen == "all":
        return list(range(1, epochs + 1))
    if chosen == "last":
        return [epochs]
    bad = [e for e in chosen if e > epochs]
    if bad:
        raise ConfigError(f"{section}.epochs lists {bad}, beyond training.epochs = {epochs}")
    return sorted(set(chosen))


def per_variant_jobs(config: Mapping, section: str) -> bool:
    """Whether ``section`` runs one job per run for all its epochs (``{section}.job: variant``: TensorFlow
    start-up, model build and tracing are paid once per run) or one job per epoch (``job: epoch``: for expensive
    epochs spread over GPUs or cluster nodes)."""
    job = config[section]["job"]
    if job not in ANALYSIS_JOBS:
        raise ConfigError(f"{section}.job is {job!r}; use one of: {', '.join(ANALYSIS_JOBS)}")
    return job == "variant"


@dataclass(frozen=True)
class Run:
    """One training run: a variant trained with one seed.

    ``name`` is what the outputs' paths hold (the workflow's ``{run}`` wildcard): the variant's name alone when
    the config has one seed, so that single-seed outputs keep their paths, else ``<variant>/seed_<seed>``.
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


def run_named(config: Mapping, name: str) -> Run:
    for run in training_runs(config):
        if run.name == name:
            return run
    raise ConfigError(
        f"no training run is named {name!r}; the config's runs: "
        f"{', '.join(r.name for r in training_runs(config))}"
    )


def analysis_runs(config: Mapping, section: str) -> list[Run]:
    """The runs a per-epoch analysis covers: every seed's with ``{section}.all_seeds: true``, else the first's."""
    return training_runs(config) if config[section]["all_seeds"] else first_seed_runs(config)


def first_seed_runs(config: Mapping) -> list[Run]:
    """Each variant's run with the first seed."""
    first = training_seeds(config)[0]
    return [r for r in training_runs(config) if r.seed == first]


def run_model_configs(config: Mapping) -> dict[str, dict]:
    """Each training run's model settings by run name, merged once per variant: thousands of per-epoch jobs take
    them as params, and a merge (deep copies) per job was a measurable part of building the DAG."""
    by_variant = {v: variant_model_config(config, v) for v in config["variants"]}
    return {run.name: by_variant[run.variant] for run in training_runs(config)}


def training_resume_settings(training: Mapping) -> dict:
    """The training settings a run's resume state is keyed by: all but ``seeds`` (adding a seed must not
    retrain the others), ``joint_chunk`` (it bounds memory, the maths stay the same: after an
    out-of-memory failure a smaller chunk resumes the epochs already trained) and ``replicas`` (a run resumes on
    another number of devices)."""
    return {k: v for k, v in training.items() if k not in ("seeds", "joint_chunk", "replicas")}


def train_job_settings(config: Mapping) -> dict:
    """The train job's ``training`` params: ``config["training"]`` but ``seeds``, plus what the job reads from
    other sections: ``evaluation_batch_seconds`` (``evaluation.batch_seconds``, the dev set's budget) and
    ``skip_over_budget`` (``data.on_bad_audio: skip`` with a budget)."""
    settings = {k: v for k, v in config["training"].items() if k != "seeds"}
    dev_budget = config["evaluation"]["batch_seconds"]
    settings["evaluation_batch_seconds"] = dev_budget
    settings["skip_over_budget"] = config["data"]["on_bad_audio"] == "skip" and (
        dev_budget is not None or settings["batch_seconds"] is not None
    )
    return settings


def evaluation_decoding_settings(config: Mapping) -> dict:
    """The evaluate job's ``decoding`` params: what a decode depends on (``splits`` only chooses the jobs, the
    bootstrap only the table), and ``skip_over_budget`` (a budget with ``data.on_bad_audio: skip``)."""
    evaluation = config["evaluation"]
    settings = {
        k: evaluation[k] for k in ("batch_size", "beam_width", "max_symbols_per_step", "batch_seconds")
    }
    settings["skip_over_budget"] = (
        evaluation["batch_seconds"] is not None and config["data"]["on_bad_audio"] == "skip"
    )
    return settings


def load_config(path: str | Path, schema_path: str | Path = SCHEMA) -> dict:
    """A config file, validated and completed with the schema's defaults (as the Snakefile does)."""
    return validate_config(load_yaml(path), schema_path)


def check_configfiles(paths) -> None:
    """Load each ``--configfile`` with ``load_yaml``'s checks (empty, not a mapping, an alias bomb, too deep),
    so that a refusal names the file."""
    for path in paths or ():
        if Path(path).is_file():
            load_yaml(path)
