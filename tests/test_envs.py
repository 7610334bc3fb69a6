"""The conda env files pin what pyproject.toml and requirements.lock pin, and every rule's env file exists.

No conda channel is reachable on the development machines, so the env files cannot be solved here; instead their
pins are compared with the lock file that the virtual environment is installed from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
# A pip name in an env file that stands for another distribution of the same release: the GPU env installs
# `tensorflow[and-cuda]`, the lock (CPU machines) `tensorflow-cpu`. Both must carry the same version.
ALIASES = {"tensorflow": "tensorflow-cpu"}


def read_lock(path: Path = ROOT / "requirements.lock") -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"requirements.lock: {line!r} is not an exact pin"
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def read_pyproject(path: Path = ROOT / "pyproject.toml") -> tuple[dict[str, str], str]:
    project = tomllib.loads(path.read_text())["project"]
    deps = list(project["dependencies"])
    deps += [d for extra in project.get("optional-dependencies", {}).values() for d in extra]
    pins = {}
    for dep in deps:
        req = Requirement(dep)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"pyproject.toml: {dep!r} is not an exact pin"
        pins[canonicalize_name(req.name)] = specs[0].version
    return pins, project["requires-python"]


def read_env(path: Path) -> tuple[list[str], list[str]]:
    """(conda dependencies, pip dependencies) of a conda env file."""
    env = yaml.safe_load(path.read_text())
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
        else:
            conda.append(dep)
    return conda, pip


def pin_mismatches(
    env_name: str, conda: list[str], pip: list[str], lock: dict[str, str], requires_python: str
) -> list[str]:
    """Every way in which an env file disagrees with the lock file and pyproject's Python range."""
    problems = []
    python = [d for d in conda if d.split("=")[0].strip() == "python"]
    if not python:
        problems.append(f"{env_name}: no python pin among the conda dependencies")
    for dep in conda:
        name, _, version = dep.partition("=")
        name, version = name.strip(), version.lstrip("=").strip()
        if name == "pip":
            continue
        if name == "python":
            if not version:
                problems.append(f"{env_name}: python is not pinned")
            elif not SpecifierSet(requires_python).contains(
                version + (".0" if version.count(".") == 1 else "")
            ):
                problems.append(f"{env_name}: python={version} is outside requires-python {requires_python}")
            continue
        key = canonicalize_name(name)
        if key not in lock:
            problems.append(f"{env_name}: conda package {name} is not in requirements.lock")
        elif version != lock[key]:
            problems.append(
                f"{env_name}: conda {name}={version or '(unpinned)'} but requirements.lock has {lock[key]}"
            )
    for dep in pip:
        req = Requirement(dep)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            problems.append(f"{env_name}: pip {dep!r} is not an exact '==' pin")
            continue
        name = canonicalize_name(req.name)
        key = ALIASES.get(name, name)
        if key not in lock:
            problems.append(f"{env_name}: pip {req.name} is not in requirements.lock")
        elif specs[0].version != lock[key]:
            problems.append(
                f"{env_name}: pip {req.name}=={specs[0].version} but requirements.lock has {lock[key]}"
            )
    return problems


LOCK = read_lock()
PYPROJECT, REQUIRES_PYTHON = read_pyproject()


def test_env_files_are_found():
    assert {p.name for p in ENV_FILES} >= {"data.yaml", "tf.yaml", "tf-gpu.yaml", "plot.yaml"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_agree_with_lock(path):
    conda, pip = read_env(path)
    assert pip, f"{path.name} has no pip section"
    assert pin_mismatches(path.name, conda, pip, LOCK, REQUIRES_PYTHON) == []


def test_pyproject_pins_agree_with_lock():
    wrong = {name: (pin, LOCK.get(name)) for name, pin in PYPROJECT.items() if LOCK.get(name) != pin}
    assert wrong == {}, "pyproject.toml pin vs requirements.lock"


def test_installed_packages_are_the_pinned_ones():
    """The virtual environment the tests run in holds exactly pyproject's pins (tensorflow-cpu: x86_64 only)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    checked = 0
    for dep in project["dependencies"]:
        req = Requirement(dep)
        if req.marker is not None and not req.marker.evaluate():
            continue
        assert metadata.version(req.name) == next(iter(req.specifier)).version, req.name
        checked += 1
    assert checked >= 15


def test_tf_envs_differ_only_in_the_tensorflow_build():
    _, cpu = read_env(ROOT / "envs" / "tf.yaml")
    _, gpu = read_env(ROOT / "envs" / "tf-gpu.yaml")
    cpu_names = {canonicalize_name(Requirement(d).name): d for d in cpu}
    gpu_names = {canonicalize_name(Requirement(d).name): d for d in gpu}
    assert cpu_names.pop("tensorflow-cpu") == "tensorflow-cpu==2.17.1"
    assert Requirement(gpu_names.pop("tensorflow")).extras == {"and-cuda"}
    assert cpu_names == gpu_names


# --- the comparison itself must catch mismatches ---------------------------------------------------------


def test_wrong_pip_pin_is_reported():
    problems = pin_mismatches(
        "x.yaml", ["python=3.11", "pip"], ["numpy==1.26.3", "h5py==3.16.0"], LOCK, REQUIRES_PYTHON
    )
    assert problems == ["x.yaml: pip numpy==1.26.3 but requirements.lock has 1.26.4"]


def test_alias_version_is_compared_too():
    problems = pin_mismatches(
        "x.yaml", ["python=3.11"], ["tensorflow[and-cuda]==2.18.0"], LOCK, REQUIRES_PYTHON
    )
    assert problems == ["x.yaml: pip tensorflow==2.18.0 but requirements.lock has 2.17.1"]


def test_unpinned_unknown_and_loose_pins_are_reported():
    problems = pin_mismatches(
        "x.yaml",
        ["python=3.12", "pip", "ffmpeg"],
        ["numpy>=1.26", "not-a-locked-package==1.0", "PyYAML==6.0.4"],
        LOCK,
        REQUIRES_PYTHON,
    )
    assert problems == [
        "x.yaml: python=3.12 is outside requires-python >=3.11,<3.12",
        "x.yaml: conda package ffmpeg is not in requirements.lock",
        "x.yaml: pip 'numpy>=1.26' is not an exact '==' pin",
        "x.yaml: pip not-a-locked-package is not in requirements.lock",
    ]


def test_missing_python_pin_is_reported():
    assert pin_mismatches("x.yaml", ["pip"], ["numpy==1.26.4"], LOCK, REQUIRES_PYTHON) == [
        "x.yaml: no python pin among the conda dependencies"
    ]


# --- every rule's conda: file exists -------------------------------------------------------------------------

# Loads the workflow through Snakemake's API (in a child process: the API changes directory) and prints each
# rule's conda env resolved against the .smk file that declares it.
RULE_ENVS = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings, OutputSettings
root, workdir, configfiles, config = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
settings = ConfigSettings(configfiles=[Path(p) for p in configfiles.split(",") if p], config=config)
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=root / "Snakefile",
                      workdir=workdir, config_settings=settings)
    rules = {}
    for rule in wf._workflow.rules:
        env = rule.conda_env
        rules[rule.name] = {
            "script": rule.script,
            "shell": rule.shellcmd,
            "conda": None if env is None else str((Path(rule.snakefile).parent / str(env)).resolve()),
        }
print("RULES=" + json.dumps(rules))
"""


def rule_envs(tmp_path, configfiles=(), config=None) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            RULE_ENVS,
            str(ROOT),
            str(tmp_path),
            ",".join(str(ROOT / c) for c in configfiles),
            json.dumps(config or {}),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RULES="))
    return json.loads(line.removeprefix("RULES="))


@pytest.mark.parametrize(
    ("configfiles", "config", "tf_env"),
    [
        ((), None, "tf.yaml"),
        (("config/smoke.yaml",), None, "tf.yaml"),
        (("config/librispeech.yaml",), {"software": {"tf_env": "tf-gpu"}}, "tf-gpu.yaml"),
    ],
    ids=["default", "smoke", "librispeech-gpu"],
)
def test_every_rule_env_file_exists(tmp_path, configfiles, config, tf_env):
    rules = rule_envs(tmp_path, configfiles, config)
    assert {
        "train",
        "evaluate",
        "loss_grid",
        "integrated_gradients",
        "wer_table",
        "synthesize_corpus",
    } <= set(rules)
    for name, rule in rules.items():
        if rule["script"] is None and rule["shell"] is None:  # target rules (all, data) run nothing
            assert rule["conda"] is None, name
            continue
        assert rule["conda"] is not None, f"rule {name} runs a script or command but declares no conda env"
        env = Path(rule["conda"])
        assert env.is_file(), f"rule {name}: conda env {env} does not exist"
        assert env.parent == ROOT / "envs", f"rule {name}: conda env {env} is outside envs/"
    assert Path(rules["train"]["conda"]).name == tf_env
    assert Path(rules["wer_table"]["conda"]).name == "plot.yaml"
    assert Path(rules["tfrecords"]["conda"]).name == "data.yaml"


# --- each rule's script imports only what its env installs ---------------------------------------------------

# Imports, in a fresh interpreter where the packages the env lacks cannot be imported (as in that env: optional
# imports of other packages, e.g. TensorFlow's of matplotlib, then fall back as they would there), every
# `lowrank_asr` module each script of one env names, and prints per script what failed to import.
IMPORT_PROBE = r"""
import importlib, json, sys
scripts, absent = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in absent:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this env)", name=name)

sys.meta_path.insert(0, Absent())
failed = {}
for script, modules in scripts.items():
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            failed[script] = f"{module}: {e}"
            break
print("FAILED=" + json.dumps(failed))
"""


def script_modules(script: Path) -> list[str]:
    """The `lowrank_asr` modules a workflow script imports (as written in it, not transitively)."""
    import ast

    modules = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lowrank_asr":
            modules.add(node.module)
            folder = ROOT / "lib" / node.module.replace(".", "/")
            modules.update(  # `from package import module`
                f"{node.module}.{a.name}"
                for a in node.names
                if (folder / f"{a.name}.py").is_file() or (folder / a.name).is_dir()
            )
        elif isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if a.name.split(".")[0] == "lowrank_asr")
    return sorted(modules)


def import_names(env: Path) -> set[str]:
    """Top-level import names of the distributions an env file's pip section installs (as installed here)."""
    by_dist: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(canonicalize_name(dist), set()).add(top)
    names = set()
    for dep in read_env(env)[1]:
        name = canonicalize_name(Requirement(dep).name)
        names |= by_dist.get(ALIASES.get(name, name), set())
    return names


def test_each_script_imports_only_what_its_env_installs(tmp_path):
    """A rule's script, and the library modules it imports, load without the packages of the other envs that its
    own env lacks: no TensorFlow (nor SciPy, soundfile, ...) in the plot env, no matplotlib in the TensorFlow
    envs. Deferred imports inside functions are not exercised here; tests/test_layering.py lists those."""
    rules = rule_envs(tmp_path)
    by_env: dict[Path, dict[str, list[str]]] = {}
    for rule in rules.values():
        if rule["script"] and rule["conda"]:
            script = (ROOT / "rules" / rule["script"]).resolve()
            by_env.setdefault(Path(rule["conda"]), {})[script.name] = script_modules(script)
    assert {p.name for p in by_env} >= {"data.yaml", "tf.yaml", "plot.yaml"}
    everything = set().union(*(import_names(p) for p in ENV_FILES))
    for env, scripts in sorted(by_env.items()):
        absent = everything - import_names(env)
        assert absent, env.name
        proc = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE, json.dumps(scripts), json.dumps(sorted(absent))],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},  # this checkout's library
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(line for line in proc.stdout.splitlines() if line.startswith("FAILED="))
        failed = json.loads(line.removeprefix("FAILED="))
        assert not failed, f"{env.name} lacks what these scripts import: {failed}"
