"""The code hash follows imports transitively and ignores comments, docstrings and formatting."""

import importlib
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from lowrank_asr.workflow import codehash


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A throw-away `lowrank_asr` package tree that the hasher reads instead of the real one."""
    root = tmp_path / "lowrank_asr"
    files = {
        "__init__.py": '"""pkg"""\n',
        "a/__init__.py": "",
        "a/core.py": "from lowrank_asr.b import util\n\ndef f():\n    return util.g() + 1\n",
        "b/__init__.py": "",
        "b/util.py": "def g():\n    return 1\n",
        "b/other.py": "from . import util\nX = 2\n",
        "c.py": "Y = 3\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(codehash, "PACKAGE_ROOT", root)
    codehash.clear_caches()
    yield root
    codehash.clear_caches()
    importlib.reload(codehash)


def script(tmp_path, text):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(text))
    return path


def rehash(path):
    codehash.clear_caches()
    return codehash.code_hash(path)


def test_transitive_modules_and_parents(fake_package, tmp_path):
    s = script(tmp_path, "from lowrank_asr.a.core import f\n")
    assert codehash.modules_of_script(s) == [
        "lowrank_asr",
        "lowrank_asr.a",
        "lowrank_asr.a.core",
        "lowrank_asr.b",
        "lowrank_asr.b.util",
    ]


def test_relative_imports_are_followed(fake_package, tmp_path):
    s = script(tmp_path, "import lowrank_asr.b.other\n")
    assert "lowrank_asr.b.util" in codehash.modules_of_script(s)


def test_change_in_imported_module_changes_hash(fake_package, tmp_path):
    s = script(tmp_path, "from lowrank_asr.a.core import f\n")
    before = rehash(s)
    (fake_package / "b" / "util.py").write_text("def g():\n    return 2\n")
    assert rehash(s) != before


def test_unrelated_module_and_comments_do_not_change_hash(fake_package, tmp_path):
    s = script(tmp_path, "from lowrank_asr.a.core import f\n")
    before = rehash(s)
    (fake_package / "c.py").write_text("Y = 4\n")  # not imported by the script
    (fake_package / "b" / "util.py").write_text(
        '"""Now with a docstring."""\n# and a comment\n\ndef g( ):\n    """doc"""\n    return   1\n'
    )
    assert rehash(s) == before


def test_script_edit_changes_hash(fake_package, tmp_path):
    s = script(tmp_path, "from lowrank_asr.a.core import f\nprint(f())\n")
    before = rehash(s)
    s.write_text("from lowrank_asr.a.core import f\nprint(f() + 1)\n")
    assert rehash(s) != before


def test_real_workflow_scripts_hash():
    from pathlib import Path

    scripts = sorted((Path(__file__).resolve().parents[1] / "workflow_scripts").glob("*.py"))
    assert scripts, "no workflow scripts found"
    for path in scripts:
        assert len(codehash.code_hash(path)) == 16


def test_parent_package_reexports_are_not_dependencies(fake_package, tmp_path):
    # d/__init__ re-exports both submodules, as lowrank_asr.plotting does; a script using one of them must not
    # depend on the other, but does depend on d/__init__'s own source and on what `from d import name` reaches
    (fake_package / "d").mkdir()
    (fake_package / "d/__init__.py").write_text(
        "from lowrank_asr.d.one import h\nfrom lowrank_asr.d.two import k\n"
    )
    (fake_package / "d/one.py").write_text("def h():\n    return 1\n")
    (fake_package / "d/two.py").write_text("from lowrank_asr.c import Y\n\ndef k():\n    return Y\n")
    direct = script(tmp_path, "from lowrank_asr.d.one import h\n")
    assert codehash.modules_of_script(direct) == ["lowrank_asr", "lowrank_asr.d", "lowrank_asr.d.one"]
    before = rehash(direct)
    (fake_package / "d/two.py").write_text("from lowrank_asr.c import Y\n\ndef k():\n    return Y + 1\n")
    assert rehash(direct) == before
    via_package = tmp_path / "via.py"
    via_package.write_text("from lowrank_asr.d import k\n")
    assert {"lowrank_asr.d.two", "lowrank_asr.c"} <= set(codehash.modules_of_script(via_package))


def test_real_scripts_depend_on_what_they_use():
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[1] / "workflow_scripts"
    curves = codehash.modules_of_script(scripts / "training_curves.py")
    assert "lowrank_asr.plotting.training" in curves
    assert not {
        "lowrank_asr.plotting.landscape",
        "lowrank_asr.landscape.grid",
        "lowrank_asr.models.contextnet",
    } & set(curves)
    attribution = codehash.modules_of_script(scripts / "integrated_gradients.py")
    assert "lowrank_asr.models.contextnet" in attribution and "lowrank_asr.landscape.grid" not in attribution


@pytest.fixture
def disk_cache(tmp_path):
    path = tmp_path / "cache" / "codehash.json"
    yield path
    codehash.use_disk_cache(None)


def test_disk_cache_spares_parsing_and_follows_edits(fake_package, tmp_path, disk_cache, monkeypatch):
    import ast
    import os

    s = script(tmp_path, "from lowrank_asr.a.core import f\n")
    codehash.use_disk_cache(disk_cache)
    first = rehash(s)
    assert disk_cache.is_file()

    # a new process (fresh memory) with the cache parses nothing and gets the same hash
    codehash.use_disk_cache(disk_cache)
    real_parse = ast.parse
    monkeypatch.setattr(
        ast, "parse", lambda *a, **k: pytest.fail("parsed although the disk cache is current")
    )
    assert rehash(s) == first

    # an edited module (new size and mtime) is parsed again and changes the hash
    monkeypatch.setattr(ast, "parse", real_parse)
    util = fake_package / "b" / "util.py"
    util.write_text("def g():\n    return 22\n")
    os.utime(util, ns=(1, 1))
    codehash.use_disk_cache(disk_cache)
    edited = rehash(s)
    assert edited != first
    codehash.use_disk_cache(None)
    assert rehash(s) == edited  # the same hash as without any cache


def test_unreadable_disk_cache_is_ignored(fake_package, tmp_path, disk_cache):
    s = script(tmp_path, "from lowrank_asr.a.core import f\n")
    expected = rehash(s)
    disk_cache.parent.mkdir(parents=True)
    disk_cache.write_text("{ not json")
    codehash.use_disk_cache(disk_cache)
    assert rehash(s) == expected


# ------------------------------------------------------------------ each new stage module invalidates only its stage
ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "lowrank_asr"
STAGE_MODULES = sorted(
    [(f"representations/{p.name}", "representations") for p in (LIB / "representations").glob("*.py")]
    + [(f"compression/{p.name}", "compression") for p in (LIB / "compression").glob("*.py")]
    + [(f"geometry/{p.name}", "geometry") for p in (LIB / "geometry").glob("*.py")]
    + [
        ("plotting/representations.py", "representations"),
        ("plotting/compression.py", "compression"),
        ("plotting/geometry.py", "geometry"),
    ]
)


def rules_of(smk: Path) -> dict[str, set[str]]:
    """Every rule a .smk file defines → the workflow scripts its `script_code(...)` params hash."""
    found: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+\s*:)", "\n" + smk.read_text()):
        head = re.match(r"(?:local)?rule (\w+)\s*:", block)
        if head:
            found[head.group(1)] = set(re.findall(r"script_code\(\s*[\"']([\w.]+)[\"']\s*\)", block))
    return found


RULES = {smk.stem: rules_of(smk) for smk in sorted((ROOT / "rules").glob("*.smk"))}


@pytest.fixture
def copied_library(tmp_path, monkeypatch):
    """A copy of the real package that the hasher reads (memory only), so a test can edit its modules."""
    root = tmp_path / "lowrank_asr"
    shutil.copytree(LIB, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(codehash, "PACKAGE_ROOT", root)
    codehash.use_disk_cache(None)
    codehash.clear_caches()
    yield root
    codehash.clear_caches()
    importlib.reload(codehash)


def test_rules_of_the_stages_hash_their_scripts():
    assert set(RULES["representations"]) >= {"representations", "plot_representations"}
    assert set(RULES["compression"]) >= {"compression", "compression_table", "plot_compression"}
    assert set(RULES["geometry"]) >= {"trajectory_plane", "interpolation", "sharpness", "plot_geometry"}
    assert RULES["train"]["train"] == {"train.py"}
    assert len(STAGE_MODULES) >= 15


@pytest.mark.parametrize(("module", "stage"), STAGE_MODULES)
def test_editing_a_stage_module_changes_only_its_stages_code_hashes(copied_library, module, stage):
    """Appending a function to the module changes the code hash of some of its stage's rules and of no other rule
    (what the e2e invalidation test confirms through a dry run)."""
    scripts = sorted((ROOT / "workflow_scripts").glob("*.py"))
    before = {s.name: codehash.code_hash(s) for s in scripts}
    path = copied_library / module
    path.write_text(path.read_text() + "\n\ndef _probe() -> int:\n    return 1\n")
    codehash.clear_caches()
    changed = {s.name for s in scripts if codehash.code_hash(s) != before[s.name]}
    rules = {
        (smk, rule) for smk, defined in RULES.items() for rule, names in defined.items() if names & changed
    }
    assert rules, f"no rule's code hash follows {module}"
    assert {smk for smk, _ in rules} == {stage}, f"{module} changes the code hash of {sorted(rules)}"
