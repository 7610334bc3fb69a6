"""HDF5 helpers shared by the landscape and attribution files: atomic writes, plain-Python attributes and
the provenance every array file carries."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import lowrank_asr
from lowrank_asr.config import stable_hash
from lowrank_asr.errors import PipelineError

PROVENANCE_KEYS = ("seed", "config_hash", "package_version", "code_hash")


def provenance(*, seed: int, config: Any, code: str, **extra) -> dict:
    """File attributes that say what made an array file: the configured ``seed``, ``config_hash`` (the
    stable hash of the config slice the rule received), ``package_version`` and ``code_hash`` (the rule's
    ``code`` param: the AST hash of its script and the library modules it imports), plus ``extra``."""
    if code is None or not str(code):
        raise PipelineError("provenance: the rule's code hash is missing; pass snakemake.params.code")
    return {
        "seed": int(seed),
        "config_hash": stable_hash(config),
        "package_version": lowrank_asr.__version__,
        "code_hash": str(code),
        **extra,
    }


def check_provenance(attrs: Mapping, path) -> None:
    """Error unless ``attrs`` holds every :data:`PROVENANCE_KEYS` entry (build them with :func:`provenance`)."""
    missing = [k for k in PROVENANCE_KEYS if attrs.get(k) is None]
    if missing:
        raise PipelineError(
            f"array file {path}: provenance attributes {missing} are missing; build the file "
            "attributes with lowrank_asr.hdf5.provenance(seed=..., config=..., code=...)"
        )


def open_array_file(
    path: str | os.PathLike, what: str, remedy: str = "rerun the rule that writes it"
) -> h5py.File:
    """``path`` open for reading; a missing, truncated or non-HDF5 file raises a PipelineError that names the
    file (``what``: its kind, e.g. "landscape") and ``remedy`` (which rule to rerun)."""
    try:
        return h5py.File(path, "r")
    except OSError as e:  # FileNotFoundError included
        raise PipelineError(f"cannot open {what} file {path}: {e}; {remedy}") from e


@contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """An ``h5py.File`` open for writing at a temporary name next to ``path``; renamed onto it on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _attr_value(value):
    """Python value for an HDF5 attribute (bytes -> str, numpy scalars -> Python scalars)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OS":
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.tolist()]
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_attrs(obj) -> dict:
    """All attributes of an HDF5 object as plain Python values."""
    return {k: _attr_value(v) for k, v in obj.attrs.items()}


def write_attrs(obj, attrs: Mapping) -> None:
    """Set HDF5 attributes; None values are skipped, lists of str become string arrays."""
    for key, value in attrs.items():
        if value is None:
            continue  # HDF5 has no null; an absent attribute reads as "not given"
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            value = np.array(value, dtype=h5py.string_dtype())
        obj.attrs[key] = value
