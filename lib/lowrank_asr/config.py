"""Pure configuration helpers: merging, hashing, a variant's model settings.

A leaf, and kept small: the rules' code hashes cover it (``lowrank_asr.hdf5`` and ``lowrank_asr.models.config`` import
it for ``stable_hash`` and ``deep_merge``), so an edit here reruns nearly every job. Reading config files (bounded
YAML, the schema's defaults) is ``lowrank_asr.config_files``; the workflow's config logic (validation, runs,
splits, epochs, job splitting) is ``lowrank_asr.workflow.config``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lowrank_asr.errors import ConfigError


def deep_merge(base: Mapping, overrides: Mapping) -> dict:
    """Recursive dict merge: nested mappings merge, everything else (lists included) replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def variant_model_config(config: Mapping, variant: str) -> dict:
    """The model settings of one variant: the config's ``model`` section with the variant's overrides."""
    variants = config["variants"]
    if variant not in variants:
        raise ConfigError(f"unknown variant {variant!r}; the config defines: {', '.join(variants) or 'none'}")
    return deep_merge(config["model"], variants[variant] or {})


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hash of a JSON-able object that ignores key order (used for config slices and resume state)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
