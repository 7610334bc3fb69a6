"""HDF5 helpers shared by the landscape and attribution files: atomic writes and plain-Python attributes."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np


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
