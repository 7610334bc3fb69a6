"""The library's import layering: packages form an acyclic graph (no import runs back up), ``lowrank_asr.config``
and ``lowrank_asr.config_files`` are leaves, and the library never imports the workflow's config logic
(``lowrank_asr.workflow``); the defaults it uses come from the schema (``lowrank_asr.schema``).

Imports are read as the rules' code hashes read them (lowrank_asr.workflow.codehash): from the AST, deferred
imports inside functions included.
"""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lowrank_asr.workflow import codehash

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = codehash.PACKAGE_ROOT


def modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imports(module: str) -> frozenset[str]:
    return codehash._direct_imports(module)


def room(module: str) -> str:
    """The package's first level: ``lowrank_asr.data.dataset`` → ``lowrank_asr.data``."""
    return ".".join(module.split(".")[:2])


def test_the_packages_form_an_acyclic_graph():
    edges: dict[str, set[str]] = {}
    for module in modules():
        for imported in imports(module):
            if room(imported) != room(module):
                edges.setdefault(room(module), set()).add(room(imported))
    try:
        order = list(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as cycle:
        pytest.fail(f"an import runs back up: {' -> '.join(cycle.args[1])}")
    assert "lowrank_asr.config" in order and "lowrank_asr.workflow" in order


def test_the_config_helpers_are_leaves():
    assert imports("lowrank_asr.config") <= {"lowrank_asr.errors"}
    assert imports("lowrank_asr.schema") == frozenset()  # the schema's defaults: the library may import it
    assert imports("lowrank_asr.config_files") <= {"lowrank_asr.errors", "lowrank_asr.schema"}


def test_the_library_never_imports_the_workflow():
    offenders = [
        f"{m} imports {i}"
        for m in modules()
        if room(m) != "lowrank_asr.workflow"
        for i in imports(m)
        if room(i) == "lowrank_asr.workflow"
    ]
    assert not offenders, offenders


def test_no_workflow_script_depends_on_the_config_logic():
    """Only the Snakefile reads config files and validates them: an edit there must change no rule's code hash."""
    for script in sorted((ROOT / "workflow_scripts").glob("*.py")):
        modules = codehash.modules_of_script(script)
        assert not {"lowrank_asr.workflow.config", "lowrank_asr.config_files"} & set(modules), script.name


# Imports that stay inside functions, by module: what they import. Each needs a reason, said in a comment on its
# line: the Snakefile imports lowrank_asr.corpus.packaged at DAG build, where scipy.signal alone costs seconds.
# Everything else imports at module level; modules that must stay free of TensorFlow (I/O, plotting) do so by
# not importing TensorFlow modules at all (tests/test_envs.py checks each rule's env).
DEFERRED = {
    "lowrank_asr.corpus.packaged": {"numpy", "scipy.signal", "soundfile", "lowrank_asr.corpus.synthesis"},
}
UNCOMMENTED: set[str] = set()


def deferred_imports(module: str) -> list[tuple[str, int, str]]:
    """``(imported module, line number, line)`` of each import inside a function of ``module``."""
    path = codehash._module_file(module)
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import):
                    found += [(a.name, sub.lineno, lines[sub.lineno - 1]) for a in sub.names]
                elif isinstance(sub, ast.ImportFrom):
                    found.append((sub.module or "", sub.lineno, lines[sub.lineno - 1]))
    return found


def test_imports_are_at_module_level_but_for_the_listed_ones():
    found = {m: deferred_imports(m) for m in modules()}
    assert {m: {name for name, _, _ in imports} for m, imports in found.items() if imports} == DEFERRED
    for module, imports in found.items():
        if module not in UNCOMMENTED:
            for name, lineno, line in imports:
                assert "#" in line, f"{module}:{lineno}: say why {name} is imported inside a function"


def test_the_io_and_plotting_modules_import_without_tensorflow():
    """The plot env has no TensorFlow: its figures, tables and file readers must not pull it in."""
    light = [
        m
        for m in modules()
        if room(m) in {"lowrank_asr.plotting", "lowrank_asr.metrics", "lowrank_asr.video"}
        or m.endswith(".io")
        or m
        in {
            "lowrank_asr.hdf5",
            "lowrank_asr.attribution.result",
            "lowrank_asr.compression.tables",
            "lowrank_asr.landscape.grid",
            "lowrank_asr.corpus.skip_list",
        }
    ]
    assert "lowrank_asr.plotting.attribution" in light and "lowrank_asr.landscape.io" in light
    code = f"import sys\nfor m in {light!r}:\n    __import__(m)\nprint(sorted(k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras')))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}  # this checkout's library
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", f"importing {light} pulled in {proc.stdout.strip()[:300]}"
