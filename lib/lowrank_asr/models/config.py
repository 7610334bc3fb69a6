"""Model configuration: defaults (the schema's), the paper's block plan, merging and validation.

``DEFAULT_MODEL`` is the model every variant starts from (config/schema.yaml's ``model`` section); the embedded
default (config/config.yaml) and the LibriSpeech setup (config/librispeech.yaml) override parts of it
(``python -m lowrank_asr.models summary`` prints any variant's size). ``blocks: paper`` selects ContextNet's 23 blocks C0…C22 (Han et al. 2020, table 1).
A ``blocks`` list holds ``{layers, channels, stride, repeat}`` entries, channels *before* the width
multiplier α. A block has a residual branch iff it has more than one conv layer; this reproduces the paper,
where the one-layer blocks C0 and C22 have none and C1…C21 have one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lowrank_asr.config import deep_merge
from lowrank_asr.errors import ConfigError
from lowrank_asr.schema import section_with_defaults

# The model every variant starts from: the schema's ``model`` section with its defaults (config/schema.yaml, the
# one home of every default). 7 blocks, 4x time reduction: 0.84 M parameters with the RNN-T decoder and the
# 29-token char vocabulary (config/config.yaml and config/smoke.yaml set smaller models of their own).
DEFAULT_MODEL: dict[str, Any] = section_with_defaults("model", {})

# Han et al. 2020, table 1: C0 one layer; C1-C21 five layers with residual; stride 2 in C3, C7, C14 (8x);
# 256 channels in C0-C10, 512 in C11-C21, 640 in C22 (before alpha).
PAPER_BLOCKS: list[dict[str, int]] = [
    {"layers": 1, "channels": 256, "stride": 1, "repeat": 1},  # C0
    {"layers": 5, "channels": 256, "stride": 1, "repeat": 2},  # C1-C2
    {"layers": 5, "channels": 256, "stride": 2, "repeat": 1},  # C3
    {"layers": 5, "channels": 256, "stride": 1, "repeat": 3},  # C4-C6
    {"layers": 5, "channels": 256, "stride": 2, "repeat": 1},  # C7
    {"layers": 5, "channels": 256, "stride": 1, "repeat": 3},  # C8-C10
    {"layers": 5, "channels": 512, "stride": 1, "repeat": 3},  # C11-C13
    {"layers": 5, "channels": 512, "stride": 2, "repeat": 1},  # C14
    {"layers": 5, "channels": 512, "stride": 1, "repeat": 7},  # C15-C21
    {"layers": 1, "channels": 640, "stride": 1, "repeat": 1},  # C22
]

ENUMS = {
    "frontend": ("logmel", "wave"),
    "conv": ("separable", "lowrank", "rank"),
    "decoder": ("rnnt", "ctc"),
}
BLOCK_KEYS = ("layers", "channels", "stride", "repeat")


@dataclass(frozen=True)
class BlockSpec:
    """One expanded encoder block: channels already multiplied by alpha."""

    name: str
    layers: int
    channels: int
    stride: int
    residual: bool


def _check_keys(base: dict, over: dict, where: str) -> None:
    """Raise ConfigError for a key of ``over`` that ``base`` lacks (recursively, through nested mappings)."""
    for key, value in over.items():
        if key not in base:
            allowed = ", ".join(sorted(base))
            raise ConfigError(f"unknown model key '{where}{key}'; allowed keys: {allowed}")
        if isinstance(base[key], dict) and value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"model key {where}{key!r} must be a mapping, got {value!r}")
            _check_keys(base[key], value, f"{where}{key}.")


def merge_model_config(model_cfg: dict | None) -> dict:
    """``model_cfg`` merged over ``DEFAULT_MODEL`` (``deep_merge``: mappings merge, lists replace), validated.

    Unknown keys raise ``ConfigError`` naming the key and the allowed keys.
    """
    model_cfg = dict(model_cfg or {})
    _check_keys(DEFAULT_MODEL, model_cfg, "")
    merged = deep_merge(DEFAULT_MODEL, model_cfg)
    for key, allowed in ENUMS.items():
        if merged[key] not in allowed:
            raise ConfigError(f"model key {key!r} is {merged[key]!r}; use one of {', '.join(allowed)}")
    if not (isinstance(merged["alpha"], int | float) and merged["alpha"] > 0):
        raise ConfigError(f"model key 'alpha' must be a positive number, got {merged['alpha']!r}")
    for key in ("kernel_size", "rank", "embed_dim", "pred_units", "pred_layers", "joint_units"):
        if not (isinstance(merged[key], int) and merged[key] >= 1):
            raise ConfigError(f"model key {key!r} must be a positive integer, got {merged[key]!r}")
    if not 0.0 <= float(merged["dropout"]) < 1.0:
        raise ConfigError(f"model key 'dropout' must be in [0, 1), got {merged['dropout']!r}")
    expand_blocks(merged["blocks"], merged["alpha"])  # validates the block list
    return merged


def expand_blocks(blocks: str | list[dict], alpha: float) -> list[BlockSpec]:
    """The block plan with repeats unrolled and channels scaled by alpha (rounded, at least 1)."""
    if blocks == "paper":
        blocks = PAPER_BLOCKS
    if not isinstance(blocks, list) or not blocks:
        raise ConfigError(f"model key 'blocks' must be 'paper' or a non-empty list of blocks, got {blocks!r}")
    specs: list[BlockSpec] = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise ConfigError(f"model blocks[{i}] must be a mapping with keys {', '.join(BLOCK_KEYS)}")
        unknown = set(block) - set(BLOCK_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {sorted(unknown)} in model blocks[{i}]; allowed keys: {', '.join(BLOCK_KEYS)}"
            )
        missing = [k for k in BLOCK_KEYS if k not in block]
        if missing:
            raise ConfigError(
                f"model blocks[{i}] lacks {', '.join(missing)}; a block sets {', '.join(BLOCK_KEYS)}"
            )
        layers, channels, stride, repeat = (block[k] for k in BLOCK_KEYS)
        if not (isinstance(layers, int) and layers >= 1 and isinstance(channels, int) and channels >= 1):
            raise ConfigError(f"model blocks[{i}] needs positive integers 'layers' and 'channels': {block}")
        if stride not in (1, 2) or not (isinstance(repeat, int) and repeat >= 1):
            raise ConfigError(f"model blocks[{i}]: 'stride' must be 1 or 2 and 'repeat' >= 1: {block}")
        width = max(1, int(math.floor(channels * alpha + 0.5)))
        for _ in range(repeat):
            specs.append(BlockSpec(f"C{len(specs)}", layers, width, stride, layers > 1))
    return specs
