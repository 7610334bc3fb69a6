"""The library's import layering: packages form an acyclic graph (no import runs back up), ``lowrank_asr.config``
and ``lowrank_asr.config_files`` are leaves, and the library never imports the workflow's config logic
(``lowrank_asr.workflow``); the defaults it uses come from the schema (``lowrank_asr.schema``).

Imports are read as the rules' code hashes read them (lowrank_asr.workflow.codehash): from the AST, deferred
imports inside functions included.
"""

from __future__ import annotations

import graphlib
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
