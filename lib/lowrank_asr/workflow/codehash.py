"""Hash the code a rule runs: its script plus every `lowrank_asr` module it imports, transitively.

Snakemake's `code` trigger sees only a script's mtime and nothing of the library it imports. Each rule gets a
`params` value from `code_hash(script)`, so a library change reruns exactly the rules whose scripts (directly or
through other modules) import the changed module. The hash covers the *AST* without docstrings, so comments,
formatting and documentation change nothing.

Parsing every module is most of the cost of a dry run's DAG build, so what each file yields (its AST digest and
the imports it names) can be kept in a JSON file (`use_disk_cache`) keyed by path, size and mtime: a no-op
`snakemake -n` then parses nothing.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
from functools import cache
from pathlib import Path

PACKAGE = "lowrank_asr"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _module_file(module: str) -> Path | None:
    """The file of a dotted `lowrank_asr` module name (package → its __init__.py), or None if not ours."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _import_candidates(tree: ast.AST, current: str | None) -> list[list[str]]:
    """The modules a tree imports (also inside functions), as alternatives ``[name]`` or ``[submodule, base]``.

    ``from pkg import name`` names a submodule (pkg then only runs as its parent) or an object of pkg: which one
    depends on the files present, so it is decided at resolution, not here (the result is cached on disk).
    """
    found: list[list[str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend([alias.name] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level and current:
                # relative import; `current` of a package ends in ".__init__", so level 1 is the package itself
                package = current.split(".")[: -node.level]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.extend([f"{base}.{alias.name}", base] for alias in node.names)
    return [c for c in found if c[-1].split(".")[0] == PACKAGE]


def _resolve(candidates: list[list[str]]) -> set[str]:
    """The `lowrank_asr` modules (existing files) that import candidates name."""
    found = set()
    for options in candidates:
        name = next((m for m in options if _module_file(m) is not None), None)
        if name is not None:
            found.add(name)
    return found


@cache
def _direct_imports(name: str) -> frozenset[str]:
    """The `lowrank_asr` modules that module `name` imports itself."""
    return frozenset(_resolve(_facts(_module_file(name))[1]))


def _parents(module: str) -> list[str]:
    """Importing a.b.c first runs a/__init__ and a/b/__init__."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def _module_closure(module: str) -> frozenset[str]:
    """The module and every `lowrank_asr` module whose code it runs when imported.

    A module imported by name (``import m`` / ``from m import x``) counts with everything it imports, in turn.
    The packages above it count with their own code only: importing ``lowrank_asr.plotting.training`` runs
    ``plotting/__init__``, whose re-exports of other submodules execute their module level (definitions) but no
    code of theirs that the importing module calls. So a rule that plots training curves does not depend on the
    landscape plotting module, though both sit in ``plotting``.
    """
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or _module_file(name) is None:
            continue
        seen.add(name)
        todo.extend(_direct_imports(name))
    # packages above every module reached: their own source, not what they re-export
    return frozenset(seen | {p for name in seen for p in _parents(name) if _module_file(p) is not None})


def clear_caches() -> None:
    """Forget parsed modules (for callers that edit the library within one process, e.g. tests)."""
    _module_closure.cache_clear()
    _direct_imports.cache_clear()
    _MEMORY.clear()


# (digest of the AST without docstrings, import candidates) per file; the disk cache survives the process
_MEMORY: dict[str, tuple[str, list[list[str]]]] = {}
_DISK: dict = {"file": None, "entries": {}, "dirty": False}


def use_disk_cache(path: str | os.PathLike | None) -> None:
    """Keep per-file results in the JSON file `path` (None: memory only). An unreadable file starts empty."""
    _DISK.update(file=Path(path) if path else None, entries={}, dirty=False)
    if path and Path(path).is_file():
        try:
            entries = json.loads(Path(path).read_text())
            _DISK["entries"] = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            pass


def _save_disk_cache() -> None:
    target = _DISK["file"]
    if target is None or not _DISK["dirty"]:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # atomic: concurrent DAG builds (e.g. cluster jobs re-reading the Snakefile) never see half a file
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(_DISK["entries"], out)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    _DISK["dirty"] = False


def _module_name(path: Path) -> str | None:
    """Dotted name of a file of the package (a package's ends in ".__init__"); None for a script."""
    try:
        relative = path.relative_to(PACKAGE_ROOT.resolve())
    except ValueError:
        return None
    return ".".join([PACKAGE, *relative.with_suffix("").parts])


def _facts(path: Path) -> tuple[str, list[list[str]]]:
    """(AST digest, import candidates) of one file, from memory, the disk cache or a fresh parse."""
    path = Path(path).resolve()
    key = str(path)
    if key in _MEMORY:
        return _MEMORY[key]
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    entry = _DISK["entries"].get(key)
    if entry and entry.get("stamp") == stamp:
        facts = (entry["digest"], entry["imports"])
    else:
        tree = _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))
        digest = hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()
        facts = (digest, _import_candidates(tree, _module_name(path)))
        if _DISK["file"] is not None:
            _DISK["entries"][key] = {"stamp": stamp, "digest": digest, "imports": facts[1]}
            _DISK["dirty"] = True
    _MEMORY[key] = facts
    return facts


def modules_of_script(script: str | Path) -> list[str]:
    """Sorted `lowrank_asr` modules the script runs when executed."""
    modules: set[str] = set()
    for name in _resolve(_facts(Path(script))[1]):
        modules |= _module_closure(name)
    return sorted(modules)


def code_hash(script: str | Path, length: int = 16) -> str:
    """Hash of the script's and its imported library modules' ASTs (docstrings and comments excluded)."""
    digest = hashlib.sha256()
    digest.update(_facts(Path(script))[0].encode())
    for module in modules_of_script(script):
        digest.update(module.encode())
        digest.update(_facts(_module_file(module))[0].encode())
    _save_disk_cache()
    return digest.hexdigest()[:length]
