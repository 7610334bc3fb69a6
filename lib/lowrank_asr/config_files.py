"""Config files: YAML loaded with bounds (size, depth), finite numbers, values shown cut short, and the schema's
defaults (``config/schema.yaml``, the one home of every default) written into a config.

A leaf (it imports only the package's errors and schema) that no workflow script depends on: the Snakefile, the workflow's
config logic (``lowrank_asr.workflow.config``) and library tools that read a config file use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lowrank_asr.errors import ConfigError

# the schema and its defaults live in lowrank_asr.schema (a leaf the library may import); named here for the
# workflow and the tools that read config files
from lowrank_asr.schema import SCHEMA, fill_defaults, schema_defaults, section_with_defaults

__all__ = [
    "SCHEMA",
    "check_bounds",
    "check_finite",
    "dotted_key",
    "fill_defaults",
    "load_yaml",
    "schema_defaults",
    "section_with_defaults",
    "short_repr",
    "with_defaults",
]

# A config is a few kB; these bounds refuse a YAML alias bomb or a runaway nesting before anything expands it.
MAX_EXPANDED_CHARS = 4_000_000
MAX_DEPTH = 32
# how much of a value an error message shows
MAX_REPR = 80


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    """``repr(value)`` cut to ``limit`` characters, built without expanding a huge value first."""
    if isinstance(value, Mapping):
        text = f"<mapping of {len(value)} key(s)>" if len(value) > 8 else _bounded_repr(value, limit)
    elif isinstance(value, list | tuple) and len(value) > 16:
        text = f"<list of {len(value)} item(s)>"
    else:
        text = _bounded_repr(value, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounded_repr(value: Any, limit: int) -> str:
    # nested containers may be shared (YAML aliases): only repr what expands to a small size
    return (
        repr(value)
        if _expanded_size(value, limit + 1) <= limit
        else f"<{type(value).__name__} too large to show>"
    )


def _expanded_size(value: Any, stop: int) -> int:
    """Characters of the value written out in full, counted up to ``stop`` (shared children count every time)."""
    memo: dict[int, int] = {}

    def size(v: Any, depth: int) -> int:
        if isinstance(v, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                return stop
            key = id(v)
            if key not in memo:
                memo[key] = stop  # a cycle counts as too large
                items = v.items() if isinstance(v, Mapping) else enumerate(v)
                total = 2
                for k, item in items:
                    total += 2 + (len(str(k)) if isinstance(v, Mapping) else 0) + size(item, depth + 1)
                    if total >= stop:
                        break
                memo[key] = min(total, stop)
            return memo[key]
        return len(str(v))

    return size(value, 0)


def check_bounds(config: Any, source: str = "the config") -> None:
    """Refuse a config that nests deeper than ``MAX_DEPTH`` or expands (aliases written out) past
    ``MAX_EXPANDED_CHARS``: shared (aliased) parts are measured once, so this takes time linear in the YAML text."""
    depth = _max_depth(config)
    if depth > MAX_DEPTH:
        raise ConfigError(
            f"{source} nests {depth if depth <= MAX_DEPTH + 1 else 'more than ' + str(MAX_DEPTH)} "
            f"levels deep (at most {MAX_DEPTH}); is it a YAML alias or nesting accident?"
        )
    if _expanded_size(config, MAX_EXPANDED_CHARS + 1) > MAX_EXPANDED_CHARS:
        raise ConfigError(
            f"{source} expands to more than {MAX_EXPANDED_CHARS // 1_000_000} MB once its YAML "
            "aliases are written out (an alias bomb?); a config is a few kB"
        )


def _max_depth(value: Any) -> int:
    memo: dict[int, int] = {}

    def depth(v: Any, level: int) -> int:
        if not isinstance(v, Mapping | list | tuple):
            return 0
        if level > MAX_DEPTH:
            return MAX_DEPTH + 1
        key = id(v)
        if key not in memo:
            memo[key] = MAX_DEPTH + 1  # a cycle counts as too deep
            children = v.values() if isinstance(v, Mapping) else v
            memo[key] = 1 + max((depth(c, level + 1) for c in children), default=0)
        return memo[key]

    return depth(value, 0)


def check_finite(config: Any, path: tuple = ()) -> None:
    """Refuse ``.nan``, ``.inf`` and ``-.inf`` anywhere in the config, naming the key (JSON-schema bounds are
    all false for NaN, so validation alone lets them through)."""
    if isinstance(config, float) and not math.isfinite(config):
        where = ".".join(str(p) for p in path) or "<top level>"
        raise ConfigError(f"config key '{where}' is {config}; give a finite number")
    if isinstance(config, Mapping):
        for key, value in config.items():
            check_finite(value, (*path, key))
    elif isinstance(config, list | tuple):
        for i, value in enumerate(config):
            check_finite(value, (*path, i))


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping from ``path``, its size and depth bounded before anything expands it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing file with --configfile")
    with path.open() as f:
        data = yaml.safe_load(f)
    if data is None:
        raise ConfigError(f"config file {path} is empty (or only comments); give a mapping of config keys")
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    check_bounds(data, f"config file {path}")
    return data


def dotted_key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def with_defaults(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """``config`` completed in place with the schema's defaults (no validation: lowrank_asr.workflow.config
    validates), for library tools that read a config file."""
    fill_defaults(config, load_yaml(schema_path))
    return config
