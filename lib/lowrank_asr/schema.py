"""The config schema (``config/schema.yaml``), the one home of every default, and the defaults it gives.

A leaf (it imports nothing of the package) that the library may use: the model takes its defaults from here
(``lowrank_asr.models.config``), so the schema, not a copy in the code, says what an unset model key is. The
workflow's configs are complete by the time a rule runs (validation fills every default in), so a rule's
result never depends on this file's defaults, only on its params.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


@cache
def _load(path: Path) -> dict:
    with path.open() as f:
        return yaml.safe_load(f)


def load_schema(schema_path: str | Path = SCHEMA) -> dict:
    """The schema as a mapping (a fresh copy: callers may change it)."""
    return copy.deepcopy(_load(Path(schema_path).resolve()))


def _resolve(schema: Mapping, root: Mapping) -> Mapping:
    while "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}  # a sibling key wins
    return schema


def fill_defaults(instance: Any, schema: Mapping, root: Mapping | None = None) -> None:
    """Write each absent key's schema ``default`` into ``instance``, through ``properties``, ``$ref`` and
    ``additionalProperties``. A schema with ``fill_defaults: false`` is left as given: a variant's model keys are
    overrides of the ``model`` section, which holds the defaults."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if not isinstance(instance, dict) or schema.get("fill_defaults") is False:
        return
    properties = schema.get("properties", {})
    for key, sub in properties.items():
        sub = _resolve(sub, root)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        for key, value in instance.items():
            if key not in properties:
                fill_defaults(value, extra, root)


def section_with_defaults(section: str, values: Mapping, schema_path: str | Path = SCHEMA) -> dict:
    """``values`` completed with the schema's defaults for the top-level ``section``, as validation completes it
    (for callers outside the workflow: the model's defaults, tests that build one section)."""
    root = load_schema(schema_path)
    filled = copy.deepcopy(dict(values))
    fill_defaults(filled, root["properties"][section], root)
    return filled


def schema_defaults(schema_path: str | Path = SCHEMA) -> dict:
    """Every default of the schema by dotted key (through ``properties``; ``$ref`` resolved)."""
    root = load_schema(schema_path)
    found: dict[str, Any] = {}

    def walk(schema: Mapping, path: tuple) -> None:
        schema = _resolve(schema, root)
        if schema.get("fill_defaults") is False:
            return
        for key, sub in schema.get("properties", {}).items():
            sub = _resolve(sub, root)
            if "default" in sub:
                found[".".join((*path, key))] = sub["default"]
            walk(sub, (*path, key))

    walk(root, ())
    return found
