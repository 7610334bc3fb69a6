"""Hash the code a rule runs: its script plus every `lowrank_asr` module it imports, transitively.

Snakemake's `code` trigger sees only a script's mtime and nothing of the library it imports. Each rule gets a
`params` value from `code_hash(script)`, so a library change reruns exactly the rules whose scripts (directly or
through other modules) import the changed module. The hash covers the *AST* without docstrings, so comments,
formatting and documentation change nothing.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "lowrank_asr"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
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


def _imported_modules(tree: ast.AST, current: str | None) -> set[str]:
    """Names of `lowrank_asr` modules imported anywhere in the tree (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level and current:
                # relative import; `current` of a package ends in ".__init__", so level 1 is the package itself
                package = current.split(".")[: -node.level]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import name` names a submodule (pkg then only runs as its parent) or an object of pkg
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _module_file(sub) is not None else base)
    return {m for m in found if m.split(".")[0] == PACKAGE and _module_file(m) is not None}


@cache
def _direct_imports(name: str) -> frozenset[str]:
    """The `lowrank_asr` modules that module `name` imports itself."""
    path = _module_file(name)
    return frozenset(_imported_modules(_parsed(path), name + ".__init__" if path.name == "__init__.py" else name))


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
    _normalised_source.cache_clear()
    _parsed.cache_clear()


@cache
def _parsed(path: Path) -> ast.AST:
    """The module's AST without docstrings (imports are unaffected), parsed once per process."""
    return _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))


@cache
def _normalised_source(path: Path) -> str:
    return ast.dump(_parsed(path), include_attributes=False)


def modules_of_script(script: str | Path) -> list[str]:
    """Sorted `lowrank_asr` modules the script runs when executed."""
    modules: set[str] = set()
    for name in _imported_modules(_parsed(Path(script)), None):
        modules |= _module_closure(name)
    return sorted(modules)


def code_hash(script: str | Path, length: int = 16) -> str:
    """Hash of the script's and its imported library modules' ASTs (docstrings and comments excluded)."""
    digest = hashlib.sha256()
    digest.update(_normalised_source(Path(script)).encode())
    for module in modules_of_script(script):
        digest.update(module.encode())
        digest.update(_normalised_source(_module_file(module)).encode())
    return digest.hexdigest()[:length]
