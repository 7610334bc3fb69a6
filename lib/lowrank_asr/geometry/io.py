"""HDF5 files of the training-geometry analyses (written atomically), one per variant and analysis.

Every file carries the attributes ``variant`` and the provenance ``seed``, ``config_hash``, ``package_version``,
``code_hash`` (required; ``lowrank_asr.hdf5.provenance``; the pipeline adds ``split``) plus ``format``, and
``subset_ids`` (the analysis utterances).

- Trajectory (``results/landscape/{run}/trajectory.h5``, format ``lowrank-asr/trajectory``): datasets
  ``xcoordinates [N]``, ``ycoordinates [M]``, ``loss [M, N]`` (row = y; the loss at θₙ + x·d₁ + y·d₂),
  ``epochs [n]``, ``projections [n, 2]`` (each epoch on the plane; the last is the origin),
  ``explained_variance [2]`` (ratio per component), ``residual [n]`` (distance of each epoch from the plane).
- Interpolation (``interpolation.h5``, format ``lowrank-asr/interpolation``): ``t [K]``, ``loss [K]``,
  optional ``wer [K]`` for θ(t) = (1 − t)·θ_init + t·θ_final; ``path_position [L]`` (in epochs),
  ``path_segment [L]``, ``path_t [L]``, ``path_loss [L]``, optional ``path_wer [L]`` between consecutive epochs.
- Sharpness (``sharpness.h5``, format ``lowrank-asr/sharpness``): per analysed epoch ``epochs``, ``loss``,
  ``eigenvalue`` (the largest: Lanczos' largest Ritz value θ), ``residual`` (‖H y − θ y‖ of its unit Ritz vector
  y: an eigenvalue of H lies within it), ``converged`` (residual <= tolerance · |θ|), ``dominant_eigenvalue``
  (largest-magnitude Ritz value), ``iterations`` (Lanczos Hessian-vector products), ``hvp_count`` (all products of
  the epoch, Hutchinson's included), ``trace``, ``trace_stderr``; attributes
  ``hvp_method``, ``tolerance``, ``max_iterations``, ``hutchinson_samples``, ``hvp_seconds``, ``grad_seconds``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.hdf5 import atomic_h5, check_provenance, open_array_file, read_attrs, write_attrs

FORMATS = {
    "trajectory": "lowrank-asr/trajectory",
    "interpolation": "lowrank-asr/interpolation",
    "sharpness": "lowrank-asr/sharpness",
}
REQUIRED_ATTRS = ("variant", "seed")


def write_geometry(
    path: str | os.PathLike,
    kind: str,
    datasets: Mapping[str, np.ndarray | None],
    attrs: Mapping,
    *,
    subset_ids: Sequence[str] | None = None,
) -> Path:
    """Write one analysis file of ``kind`` (a key of FORMATS); None datasets are left out."""
    if kind not in FORMATS:
        raise PipelineError(f"write_geometry: unknown kind {kind!r}; use one of {sorted(FORMATS)}")
    missing = [k for k in REQUIRED_ATTRS if attrs.get(k) is None]
    if missing:
        raise PipelineError(f"geometry file {path}: attributes {missing} are required (pass them in attrs)")
    check_provenance(attrs, path)
    with atomic_h5(path) as f:
        for name, data in datasets.items():
            if data is not None:
                f.create_dataset(name, data=np.asarray(data))
        if subset_ids is not None:
            f.create_dataset("subset_ids", data=np.array(list(subset_ids), dtype=h5py.string_dtype()))
        write_attrs(f, {**attrs, "format": FORMATS[kind]})
    return Path(path)


def read_geometry(path: str | os.PathLike, kind: str) -> dict:
    """Every dataset of a ``kind`` file as arrays (``subset_ids`` as a list of str) plus ``attrs``."""
    with open_array_file(path, kind) as f:
        attrs = read_attrs(f)
        if attrs.get("format") != FORMATS[kind]:
            raise PipelineError(f"{path} has format {attrs.get('format')!r}, not {FORMATS[kind]!r}")
        out = {name: f[name][()] for name in f if name != "subset_ids"}
        if "subset_ids" in f:
            out["subset_ids"] = [s.decode() if isinstance(s, bytes) else s for s in f["subset_ids"][()]]
    out["attrs"] = attrs
    return out
