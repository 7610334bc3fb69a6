"""Types of nested `--config` overrides, as profiles write them.

A profile's `config: {training: {batch_size: 8}}` reaches Snakemake as `--config training={'batch_size': 8}`,
which Snakemake reads with YAML's BaseLoader: every nested scalar arrives as a string ('8', 'True'). Top-level
values are typed (Snakemake tries int, float and bool first). `retype_overrides` gives the nested strings the
types YAML would give them, in the merged config, at exactly the paths the overrides set.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import yaml


def _retype(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        # only scalars: a string that happens to look like a mapping or list stays a string
        return parsed if isinstance(parsed, int | float | bool) or parsed is None else value
    if isinstance(value, list):
        return [_retype(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _retype(v) for k, v in value.items()}
    return value


def retype_overrides(config: MutableMapping, overrides: Mapping) -> MutableMapping:
    """Retype, in place, the nested string values of `config` that the `--config` overrides set.

    Only values below the top level are touched (those are the ones BaseLoader left as strings), and only
    where `config` still holds the override's own value.
    """
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), MutableMapping):
            _retype_nested(config[key], value)
    return config


def _retype_nested(config: MutableMapping, overrides: Mapping) -> None:
    for key, value in overrides.items():
        if key not in config:
            continue
        if isinstance(value, Mapping) and isinstance(config[key], MutableMapping):
            _retype_nested(config[key], value)
        elif config[key] == value:
            config[key] = _retype(value)
