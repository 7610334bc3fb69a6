"""Dry-runs of every config and profile, DAG pictures, and what a narrow target schedules.

Every run is `python -m snakemake -n ... --directory TMP` from the repository root (the repository is where the
Snakefile and the workflow profile `profiles/default` are looked up), so Snakemake's state lands in TMP and
nothing is written into the checkout.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from apt_stub import apt_stub_env
from lowrank_asr import planning
from lowrank_asr.config import deep_merge
from lowrank_asr.corpus.packaged import drop_unavailable_splits
from lowrank_asr.workflow.config import (
    all_splits,
    analysis_epochs,
    per_variant_jobs,
    training_runs,
    validate_config,
)
from lowrank_asr.workflow.overrides import retype_overrides

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles"
GPU_PROFILES = ["quadro", "v100", "a100"]
TF_RULES = ["train", "evaluate", "loss_grid", "integrated_gradients"]
ANALYSIS_RULES = {
    "loss_grid",
    "merge_loss_grid",
    "plot_landscape",
    "landscape_video",
    "compare_landscape_video",
    "integrated_gradients",
    "plot_attribution",
    "attribution_video",
    "trajectory_plane",
    "interpolation",
    "sharpness",
    "plot_geometry",
}
# what the checkout would hold if a run wrote into it instead of --directory
RUN_STATE = [".snakemake", "results", "resources", "logs", "benchmarks"]


def load_yaml(path: Path) -> dict:
    """A YAML file; a complete config (one with variants) as the Snakefile completes it: with the schema's
    defaults filled in."""
    data = yaml.safe_load(path.read_text())
    if path.parent == ROOT / "config" and "variants" in data:
        validate_config(data, ROOT / "config" / "schema.yaml")
    return data


def profile(name: str) -> dict:
    return load_yaml(PROFILES / name / "config.v8+.yaml")


@pytest.fixture(autouse=True)
def checkout_untouched():
    before = {name: (ROOT / name).exists() for name in RUN_STATE}
    yield
    assert {name: (ROOT / name).exists() for name in RUN_STATE} == before, "a run wrote into the checkout"


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    # apt offers no packages here, whatever the machine's lists: real-test is left out (tests/test_realspeech.py
    # covers both paths), so the job counts do not depend on the machine
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--directory", str(workdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=apt_stub_env(workdir.parent / f"{workdir.name}.apt", offered=False),
    )


class DryRun:
    """The job table and the per-job blocks (`rule X:` … `resources: …`) of `snakemake -n` output."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.proc = proc
        self.text = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"dry-run failed:\n{self.text[-4000:]}"
        self.counts = self._job_stats()
        self.jobs = self._jobs()

    def _job_stats(self) -> dict[str, int]:
        lines = self.text[self.text.index("Job stats:") :].splitlines()[3:]
        counts = {}
        for line in lines:
            name, count = line.split()
            if name == "total":
                assert int(count) == sum(counts.values())
                return counts
            counts[name] = int(count)
        raise AssertionError("no total line in the job stats")

    def _jobs(self) -> list[dict]:
        jobs, current = [], None
        for line in self.text.splitlines():
            head = re.fullmatch(r"(local)?rule (\w+):", line)
            if head:
                current = {"rule": head.group(2), "local": bool(head.group(1)), "threads": 1, "resources": {}}
                jobs.append(current)
            elif current is not None and line.startswith("    ") and ": " in line:
                key, value = line.strip().split(": ", 1)
                if key == "threads":
                    current["threads"] = int(value)
                elif key == "resources":
                    current["resources"] = dict(item.split("=", 1) for item in value.split(", "))
                elif key == "wildcards":
                    current["wildcards"] = value
            elif not line.strip():
                current = None
        return jobs

    def of(self, rule: str) -> list[dict]:
        found = [job for job in self.jobs if job["rule"] == rule]
        assert len(found) == self.counts.get(rule, 0), rule
        return found


def dry_run(tmp_path: Path, *args: str) -> DryRun:
    """Targets go first: `--configfile` takes every word that follows it."""
    return DryRun(snakemake(tmp_path, "-n", *args))


def without_real_test(config: dict) -> dict:
    """The config as the DAG sees it where apt cannot fetch real-test's packages (as `snakemake` above)."""
    config = copy.deepcopy(config)
    drop_unavailable_splits(config, cached=False, marker="/nonexistent", probe=lambda: "stubbed")
    return config


def expected_counts(config: dict) -> dict[str, int]:
    """The job table of `all` for a config, from the config alone."""
    config = without_real_test(config)
    splits = all_splits(config)
    variants = len(config["variants"])
    runs = len(training_runs(config))
    landscape = len(analysis_epochs(config, "landscape"))
    attribution = len(analysis_epochs(config, "attribution"))
    # `job: variant`: one loss-grid job per variant (and shard) and one IG job per variant do every epoch
    grid_jobs = variants * (1 if per_variant_jobs(config, "landscape") else landscape)
    ig_jobs = variants * (1 if per_variant_jobs(config, "attribution") else attribution)
    shards = config["landscape"]["shards"]
    eval_splits = config["evaluation"]["splits"]
    source = "synthesize_corpus" if config["corpus"]["source"] == "synthetic" else "download_librispeech"
    counts = {
        source: len(splits),
        "extract": len(splits),
        "transcripts": len(splits),
        "tfrecords": len(splits),
        "vocabulary": 1,
        "train": runs,
        "evaluate": runs * len(eval_splits),
        "wer_table": 1,
        "training_curves": 1,
        "plot_headline": 1,
        "loss_grid": grid_jobs * shards,
        "plot_landscape": variants,
        "landscape_video": variants,
        "integrated_gradients": ig_jobs,
        "plot_attribution": variants,
        "attribution_video": variants,
        "all": 1,
        # per-epoch analyses list their split's shard index, not its shards
        "tfrecord_index": len({config["landscape"]["split"], config["attribution"]["split"]}),
        "trajectory_plane": variants,
        "interpolation": variants,
        "sharpness": variants,
        "plot_geometry": 1,
        # the output lists of each run's train and loss_grid jobs (rules/output_lists.smk)
        "output_list": runs + variants,
    }
    # what the variants learned (rules/representations.smk, rules/compression.smk): one job per variant, then
    # joint tables and plots
    counts |= {
        "representations": variants,
        "compression": variants,
        "compression_table": 1,
        "plot_compression": 1,
        "plot_representations": 1,
        "plot_representation_spectra": 1,
        "representation_video": 1,
    }
    if variants > 1:
        counts |= {"representation_similarity": 1, "plot_representation_similarity": 1}
    if shards > 1:
        counts["merge_loss_grid"] = variants * landscape
    if variants > 1:
        counts["compare_landscape_video"] = 1
    return counts


def default_config(name: str) -> dict:
    config = load_yaml(ROOT / "config" / name)
    if "variants" in config:
        return config
    return validate_config(
        deep_merge(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), config),
        ROOT / "config" / "schema.yaml",
    )


# --- configs ----------------------------------------------------------------------------------------------------


def test_default_config_dry_run(tmp_path):
    run = dry_run(tmp_path)  # default target: all
    assert "Using workflow specific profile profiles/default" in run.text
    assert run.counts == expected_counts(default_config("config.yaml"))
    assert {job["wildcards"] for job in run.of("synthesize_corpus")} == {
        f"split={s}" for s in all_splits(without_real_test(default_config("config.yaml")))
    }


def test_smoke_config_dry_run(tmp_path):
    run = dry_run(tmp_path, "all", "--configfile", "config/smoke.yaml")
    smoke = load_yaml(ROOT / "config" / "smoke.yaml")
    assert run.counts == expected_counts(smoke)
    # smoke exercises the sharded landscape: one merge per variant and epoch
    assert (
        run.counts["merge_loss_grid"] == len(smoke["variants"]) * len(analysis_epochs(smoke, "landscape")) > 1
    )
    # one loss-grid job per variant and shard, one IG job per variant, each writing every epoch's file
    epochs = [f"{e:03d}" for e in analysis_epochs(smoke, "landscape")]
    assert len(epochs) > 1
    assert {job["wildcards"] for job in run.of("loss_grid")} == {
        f"run={v}, shard={i}" for v in smoke["variants"] for i in range(smoke["landscape"]["shards"])
    }
    for v in smoke["variants"]:
        for e in epochs:
            assert f"results/landscape/{v}/shards/epoch_{e}.shard1.h5" in run.text
            assert f"results/attribution/{v}/epoch_{e}.h5" in run.text
        assert f"logs/integrated_gradients/{v}/all_epochs.log" in run.text


def test_per_epoch_jobs_when_configured(tmp_path):
    """`job: epoch` (config/librispeech.yaml's choice): one loss-grid job per variant, epoch (and shard)."""
    config = load_yaml(ROOT / "config" / "smoke.yaml")
    config["landscape"]["job"] = config["attribution"]["job"] = "epoch"
    path = tmp_path / "per_epoch.yaml"
    path.write_text(yaml.safe_dump(config))
    run = dry_run(tmp_path / "work", "all", "--configfile", str(path))
    assert run.counts == expected_counts(config)
    epochs = len(analysis_epochs(config, "landscape"))
    assert run.counts["integrated_gradients"] == len(config["variants"]) * epochs > len(config["variants"])
    assert "run=ctc, epoch=002, shard=1" in {job["wildcards"] for job in run.of("loss_grid")}
    assert "logs/integrated_gradients/ctc/epoch_002.log" in run.text


def test_wer_table_target_schedules_no_analysis(tmp_path):
    run = dry_run(tmp_path, "results/wer_table.csv")
    config = without_real_test(default_config("config.yaml"))
    splits, runs = len(all_splits(config)), len(training_runs(config))
    assert run.counts == {
        "synthesize_corpus": splits,
        "extract": splits,
        "transcripts": splits,
        "tfrecords": splits,
        "vocabulary": 1,
        "train": runs,
        "evaluate": 2 * runs,
        "wer_table": 1,
        "output_list": runs,
    }
    assert not ANALYSIS_RULES & set(run.counts)
    assert not any("video" in rule or "landscape" in rule or "attribution" in rule for rule in run.counts)


def test_librispeech_config_starts_from_download(tmp_path):
    run = dry_run(tmp_path, "all", "--configfile", "config/librispeech.yaml")
    config = load_yaml(ROOT / "config" / "librispeech.yaml")
    assert run.counts == expected_counts(config)
    assert "synthesize_corpus" not in run.counts
    downloads = run.of("download_librispeech")
    assert {job["wildcards"] for job in downloads} == {f"split={s}" for s in all_splits(config)}
    assert len(downloads) == 7  # train-clean-100/360, train-other-500, dev-clean/other, test-clean/other
    # the first jobs of the DAG: only downloads (and the lists of outputs, written from params) have no input
    inputs = re.findall(r"(?:local)?rule (\w+):\n(    input: )?", run.text)
    assert {rule for rule, has_input in inputs if not has_input} == {"download_librispeech", "output_list"}


# --- profiles ---------------------------------------------------------------------------------------------------


def test_default_profile_overrides_nothing_a_profile_sets():
    """profiles/default is loaded with every --profile and wins per key: it must not carry machine settings."""
    default = profile("default")
    assert not {
        "cores",
        "resources",
        "default-resources",
        "set-resources",
        "set-threads",
        "config",
        "executor",
        "jobs",
    } & set(default)
    for name in ["local", *GPU_PROFILES, "slurm"]:
        other = profile(name)
        for key, value in default.items():
            assert other.get(key, value) == value, f"profiles/default {key} differs from profiles/{name}"


@pytest.mark.parametrize("name", ["local", *GPU_PROFILES])
def test_machine_profiles_give_cores(name):
    """Local execution needs --cores and profiles/default gives none: every one-machine profile does."""
    assert isinstance(profile(name)["cores"], int)


def test_local_profile_dry_run(tmp_path):
    run = dry_run(tmp_path, "--profile", "profiles/local", "all")
    assert "Using profiles profiles/local and workflow specific profile profiles/default" in run.text
    assert run.counts == expected_counts(default_config("config.yaml"))
    # one core per training (rules/common.smk TRAIN_THREADS): on 2 cores the two variants train side by side
    for job in run.of("train"):
        assert job["threads"] == 1
        assert job["resources"]["mem_mb"] == "2000"
        assert job["resources"]["gpu"] == "0"


@pytest.mark.parametrize("name", GPU_PROFILES)
def test_gpu_profile_dry_run(tmp_path, name):
    run = dry_run(tmp_path, "--profile", f"profiles/{name}", "all")
    assert f"Using profiles profiles/{name} and workflow specific profile profiles/default" in run.text
    assert run.counts == expected_counts(default_config("config.yaml"))
    settings = profile(name)
    for rule in TF_RULES:
        for job in run.of(rule):
            assert job["threads"] == min(settings["set-threads"][rule], settings["cores"]), (rule, job)
            assert job["resources"]["gpu"] == "1", (rule, job)
            assert job["resources"]["mem_mb"] == str(settings["set-resources"][rule]["mem_mb"]), (rule, job)
    for rule in ["synthesize_corpus", "tfrecords", "plot_landscape", "wer_table"]:
        for job in run.of(rule):
            assert job["resources"]["gpu"] == "0", (rule, job)
            assert (
                job["resources"]["mem_mb"]
                == dict(item.split("=") for item in settings["default-resources"])["mem_mb"]
            ), (rule, job)


def test_slurm_profile_dry_run(tmp_path):
    run = dry_run(tmp_path, "--profile", "profiles/slurm", "all")
    assert "Using profiles profiles/slurm and workflow specific profile profiles/default" in run.text
    assert run.counts == expected_counts(default_config("config.yaml"))
    settings = profile("slurm")
    for rule in TF_RULES:
        wanted = settings["set-resources"][rule]
        for job in run.of(rule):
            res = job["resources"]
            assert res["slurm_partition"] == wanted["slurm_partition"]
            assert res["gres"] == wanted["gres"]
            assert res["cpus_per_task"] == str(wanted["cpus_per_task"])
            assert job["threads"] == settings["set-threads"][rule]
    cpu_jobs = [job for job in run.jobs if job["rule"] not in TF_RULES]
    assert cpu_jobs
    for job in cpu_jobs:
        assert job["resources"]["slurm_partition"] == settings["default-resources"]["slurm_partition"], job
        assert "gres" not in job["resources"]


def test_librispeech_with_v100_profile(tmp_path):
    run = dry_run(
        tmp_path,
        "results/wer_table.csv",
        "results/plots/training_curves.png",
        "--configfile",
        "config/librispeech.yaml",
        "--profile",
        "profiles/v100",
    )
    config = load_yaml(ROOT / "config" / "librispeech.yaml")
    assert run.counts["download_librispeech"] == 7
    assert run.counts["train"] == len(config["variants"])
    assert run.counts["evaluate"] == len(config["variants"]) * len(config["evaluation"]["splits"])
    for job in run.of("train"):
        assert job["threads"] == 8 and job["resources"]["gpu"] == "1"


# --- budgets from the memory model (lib/lowrank_asr/planning.py) --------------------------------------------


def test_memory_model_covers_the_recipe():
    """The coefficients were measured at the recipe's sizes; the plan must cover its widest variant."""
    config = load_yaml(ROOT / "config" / "librispeech.yaml")
    assert config["vocabulary"]["size"] == planning.PLAN_VOCAB
    assert config["model"]["joint_units"] == planning.PLAN_JOINT_UNITS
    assert config["data"]["max_duration"] <= planning.MAX_DURATION
    alphas = [{**config["model"], **overrides}["alpha"] for overrides in config["variants"].values()]
    assert max(alphas) / config["variants"]["contextnet_s"]["alpha"] <= planning.PLAN_WIDTH


@pytest.mark.parametrize("name", GPU_PROFILES)
def test_profile_budgets_follow_from_memory_model(name):
    """Each card's budgets fit (1 - HEADROOM) of its memory as the model predicts, and use most of it."""
    card, settings = planning.CARDS[name], profile(name)
    training, evaluation = settings["config"]["training"], settings["config"]["evaluation"]
    precision = "mixed" if training["mixed_precision"] else "float32"
    usable = planning.usable_mb(card)
    assert planning.training_peak_mb(training["batch_seconds"], training["joint_chunk"], precision) <= usable
    longest = planning.LONGEST_EVAL_UTTERANCE
    # the evaluation budget is sized for the dearest analysis that runs on this card under it
    dearest = planning.dearest_analysis(on_card(settings))
    if planning.max_evaluation_seconds(card, dearest) >= longest:
        assert planning.evaluation_peak_mb(evaluation["batch_seconds"], dearest) <= usable
        assert evaluation["batch_seconds"] >= 0.75 * planning.max_evaluation_seconds(card, dearest)
    else:  # the longest utterance does not fit the headroom (Quadro): the budget holds it and no more, in the card
        assert evaluation["batch_seconds"] < longest + 1
        assert planning.evaluation_peak_mb(evaluation["batch_seconds"], dearest) <= card.memory_gb * 1024
    assert training["batch_seconds"] >= 0.75 * planning.max_batch_seconds(
        card, training["joint_chunk"], precision
    )
    assert (
        evaluation["batch_seconds"] >= planning.LONGEST_EVAL_UTTERANCE
    )  # else the longest test utterance stops
    for rule in TF_RULES:
        assert settings["set-resources"][rule]["mem_mb"] >= planning.host_mb(
            rule, batch_seconds=0.0, iterations=0
        ), rule


def on_card(settings: dict) -> list[str]:
    """The jobs under evaluation.batch_seconds that a profile runs on the card (gpu resource 1)."""
    return [job for job in planning.ANALYSIS_MEMORY if settings["set-resources"].get(job, {}).get("gpu") == 1]


@pytest.mark.parametrize("name", [*GPU_PROFILES, "slurm"])
def test_sharpness_memory_of_the_longest_utterance_is_declared(name):
    """Sharpness' Hessian-vector products (planning.HVP_OVER_GRADIENT x a gradient's memory) of the longest
    evaluated utterance run on the card only where they fit its usable memory; elsewhere the job runs on the host
    and declares the host memory they take, Lanczos' basis included."""
    settings = profile(name)
    recipe = load_yaml(ROOT / "config" / "librispeech.yaml")
    config = settings.get("config", recipe)
    seconds = config["evaluation"]["batch_seconds"]
    assert seconds >= planning.LONGEST_EVAL_UTTERANCE
    iterations = recipe["geometry"]["sharpness"]["iterations"]
    declared = settings["set-resources"]["sharpness"]
    if "sharpness" in on_card(settings):
        assert planning.evaluation_peak_mb(seconds, "sharpness") <= planning.usable_mb(planning.CARDS[name])
        assert declared["mem_mb"] >= planning.host_mb("sharpness", batch_seconds=0.0, iterations=iterations)
    else:
        needed = planning.host_mb("sharpness", batch_seconds=seconds, iterations=iterations)
        assert declared["mem_mb"] >= needed
        if name in planning.CARDS:  # on the host because even one longest utterance does not fit the card
            card = planning.CARDS[name]
            assert (
                planning.evaluation_peak_mb(planning.LONGEST_EVAL_UTTERANCE, "sharpness")
                > card.memory_gb * 1024
            )


def test_profiles_train_the_same_effective_batch():
    """accumulate x batch_seconds (padded audio per update) is the same on every card: the same maths."""
    per_update = {
        name: profile(name)["config"]["training"]["batch_seconds"]
        * profile(name)["config"]["training"]["accumulate"]
        for name in GPU_PROFILES
    }
    assert len(set(per_update.values())) == 1, per_update


def test_slurm_host_memory_follows_from_model():
    resources = profile("slurm")["set-resources"]
    for rule in TF_RULES:
        assert resources[rule]["mem_mb"] >= planning.host_mb(rule, batch_seconds=0.0, iterations=0), rule


# --- the config a profile hands the Snakefile ---------------------------------------------------------------

# Parses the command line as the `snakemake` CLI does (profiles included) and loads the workflow through the API
# (in a child process: the API changes directory); prints the config the rules see and the train rule's env.
EFFECTIVE_CONFIG = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.cli import parse_args, parse_config
from snakemake.settings.types import ConfigSettings, ResourceSettings, OutputSettings
workdir = Path(sys.argv[1])
parser, args = parse_args(sys.argv[2:])
settings = ConfigSettings(config=parse_config(args.config), configfiles=args.configfile or [])
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile").resolve(),
                      workdir=workdir, config_settings=settings)
    rules = {rule.name: rule for rule in wf._workflow.rules}
    print("CONFIG=" + json.dumps({"config": wf._workflow.config, "train_env": rules["train"].conda_env}))
"""


def effective_config(tmp_path: Path, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", EFFECTIVE_CONFIG, str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("CONFIG="))
    return json.loads(line.removeprefix("CONFIG="))


@pytest.mark.parametrize("name", GPU_PROFILES)
def test_gpu_profile_config_reaches_rules_typed(tmp_path, name):
    got = effective_config(tmp_path, "--profile", f"profiles/{name}", "-n")
    wanted = deep_merge(load_yaml(ROOT / "config" / "config.yaml"), profile(name)["config"])
    assert got["config"] == wanted
    assert isinstance(got["config"]["training"]["batch_size"], int)
    assert got["config"]["training"]["mixed_precision"] is True
    assert got["train_env"] == "../envs/tf-gpu.yaml"


def test_profile_config_overrides_configfile(tmp_path):
    got = effective_config(
        tmp_path, "--configfile", "config/librispeech.yaml", "--profile", "profiles/quadro", "-n"
    )
    wanted = deep_merge(load_yaml(ROOT / "config" / "librispeech.yaml"), profile("quadro")["config"])
    assert got["config"] == wanted
    quadro = profile("quadro")["config"]["training"]
    assert got["config"]["training"]["joint_chunk"] == quadro["joint_chunk"] != 1  # not librispeech.yaml's 1
    assert got["config"]["training"]["batch_seconds"] == quadro["batch_seconds"]
    assert got["config"]["variants"] == load_yaml(ROOT / "config" / "librispeech.yaml")["variants"]


def test_retype_overrides_as_snakemake_passes_them():
    from snakemake.cli import parse_config
    from snakemake.profiles import ProfileConfigFileParser

    with (PROFILES / "v100" / "config.v8+.yaml").open() as f:
        entries = ProfileConfigFileParser().parse(f)["config"]
    overrides = parse_config(entries)
    assert overrides["training"]["batch_seconds"] == "180"  # what Snakemake hands over: strings
    config = deep_merge(load_yaml(ROOT / "config" / "config.yaml"), overrides)
    retype_overrides(config, overrides)
    assert config["training"] == {
        **load_yaml(ROOT / "config" / "config.yaml")["training"],
        "batch_seconds": 180,
        "joint_chunk": 8,
        "accumulate": 16,
        "mixed_precision": True,
    }
    assert config["evaluation"]["batch_seconds"] == 86
    assert config["software"] == {"tf_env": "tf-gpu"}
    validate_config(config, ROOT / "config" / "schema.yaml")


def test_retype_overrides_touches_only_overridden_strings():
    config = {"seed": "7", "data": {"shards": "4", "name": "12", "splits": ["1", "2"]}, "x": {"y": "off"}}
    overrides = {
        "seed": "7",
        "data": {"shards": "4", "splits": ["1", "2"], "missing": "3"},
        "x": {"y": "off"},
    }
    retype_overrides(config, overrides)
    # top-level values are typed by Snakemake itself; nested ones become what YAML makes of them
    assert config == {"seed": "7", "data": {"shards": 4, "name": "12", "splits": [1, 2]}, "x": {"y": False}}
    config = {"data": {"shards": 2}}
    retype_overrides(config, {"data": {"shards": "4"}})  # the config no longer holds the override: untouched
    assert config == {"data": {"shards": 2}}


# --- pictures of the DAG ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["--dag", "--rulegraph"])
def test_dag_renders_to_svg(tmp_path, kind):
    dot = snakemake(tmp_path, kind, "dot", "all")  # Snakemake 9: --dag/--rulegraph take a format
    assert dot.returncode == 0, dot.stderr[-3000:]
    assert dot.stdout.lstrip().startswith("digraph"), dot.stdout[:200]
    svg = subprocess.run(["dot", "-Tsvg"], input=dot.stdout, capture_output=True, text=True, timeout=120)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout and svg.stdout.rstrip().endswith("</svg>")
    for rule in [
        "synthesize_corpus",
        "train",
        "evaluate",
        "wer_table",
        "loss_grid",
        "integrated_gradients",
        "landscape_video",
        "attribution_video",
        "all",
    ]:
        assert f">{rule}" in svg.stdout, rule
    nodes = svg.stdout.count('class="node"')
    if kind == "--rulegraph":
        assert nodes == len(expected_counts(default_config("config.yaml")))
    else:
        assert nodes == sum(expected_counts(default_config("config.yaml")).values())


def test_two_seeds_train_and_evaluate_each_variant_twice(tmp_path):
    config = load_yaml(ROOT / "config" / "smoke.yaml")
    config["training"]["seeds"] = [11, 12]
    config["attribution"]["all_seeds"] = True  # the landscape stays on the first seed (the default)
    path = tmp_path / "two_seeds.yaml"
    path.write_text(yaml.safe_dump(config))
    run = dry_run(tmp_path / "work", "all", "--configfile", str(path))
    single = expected_counts(load_yaml(ROOT / "config" / "smoke.yaml"))
    runs = {f"{v}/seed_{s}" for v in config["variants"] for s in (11, 12)}
    assert {job["wildcards"] for job in run.of("train")} == {f"run={r}" for r in runs}
    assert run.counts["evaluate"] == 2 * single["evaluate"]
    assert run.counts["integrated_gradients"] == 2 * single["integrated_gradients"]
    assert run.counts["loss_grid"] == single["loss_grid"]
    assert {job["wildcards"].split(",")[0] for job in run.of("plot_landscape")} == {
        f"run={v}/seed_11" for v in config["variants"]
    }
    assert run.counts["wer_table"] == run.counts["training_curves"] == 1
    assert "results/wer/lowrank/seed_12/test-other.json" in run.text
    assert "results/models/contextnet/seed_11/history.csv" in run.text
