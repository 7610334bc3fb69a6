"""HDF5 files for loss landscapes: full grids and shard results (written atomically).

Full landscape (``results/landscape/{run}/epoch_{NNN}.h5``):
  datasets ``xcoordinates [N]``, ``ycoordinates [M]``, ``loss [M, N]`` (row = y; never NaN: +inf where the loss
  is not finite even in float64), optional ``loss_status [M, N]`` int8 (attribute ``codes``: 0 float32 value,
  1 float32 overflowed and the value was recomputed in float64, 2 not finite in float64 either, stored as +inf;
  see ``landscape.grid.LOSS_STATUS``), optional ``wer [M, N]``,
  optional ``subset_ids`` (the evaluation utterances, variable-length strings);
  attributes ``variant``, ``epoch``, ``eval_loss`` and the provenance ``seed``, ``config_hash``,
  ``package_version``, ``code_hash`` (required; see ``lowrank_asr.hdf5.provenance``) plus whatever the caller
  adds (``eval_wer``, ``subset_size``, ...); ``format`` is added here. A merged file's ``code_hash`` is the
  merging rule's; ``grid_code_hash`` is that of the rule that computed the shards.
Shard file (one job's share of the grid): the same datasets and attributes, but instead of the arrays
  ``points [K, 2]`` int ``(iy, ix)`` and ``loss [K]`` (optional ``wer [K]``, ``loss_status [K]``) — the values
  at those points —
  plus attributes ``shard``, ``n_shards`` and ``format = "lowrank-asr/landscape-shard"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.hdf5 import (
    PROVENANCE_KEYS,
    atomic_h5,
    check_provenance,
    open_array_file,
    read_attrs,
    write_attrs,
)
from lowrank_asr.landscape.grid import LOSS_STATUS, LossGrid, merge_shards

FORMAT_FULL = "lowrank-asr/landscape"
FORMAT_SHARD = "lowrank-asr/landscape-shard"
REQUIRED_ATTRS = ("variant", "epoch", "seed", "eval_loss")
_SHARD_ONLY_ATTRS = ("shard", "n_shards", "format")


def _check_required(attrs: Mapping, path) -> None:
    missing = [k for k in REQUIRED_ATTRS if k not in attrs or attrs[k] is None]
    if missing:
        raise PipelineError(f"landscape file {path}: attributes {missing} are required (pass them in attrs)")
    check_provenance(attrs, path)


def _write_common(f: h5py.File, xs, ys, attrs: Mapping, subset_ids: Sequence[str] | None, fmt: str) -> None:
    f.create_dataset("xcoordinates", data=np.asarray(xs, dtype=np.float64))
    f.create_dataset("ycoordinates", data=np.asarray(ys, dtype=np.float64))
    if subset_ids is not None:
        f.create_dataset("subset_ids", data=np.array(list(subset_ids), dtype=h5py.string_dtype()))
    write_attrs(f, {**attrs, "format": fmt})


def write_landscape(
    path: str | os.PathLike,
    xs: Sequence[float],
    ys: Sequence[float],
    loss: np.ndarray,
    wer: np.ndarray | None = None,
    attrs: Mapping | None = None,
    *,
    subset_ids: Sequence[str] | None = None,
    status: np.ndarray | None = None,
) -> Path:
    """Write a full landscape (``loss [M, N]``, row = y; ``status [M, N]`` the LOSS_STATUS codes) with its
    attributes; returns the path."""
    attrs = dict(attrs or {})
    _check_required(attrs, path)
    loss = np.asarray(loss, dtype=np.float64)
    shape = (len(ys), len(xs))
    if loss.shape != shape:
        raise PipelineError(
            f"write_landscape {path}: loss has shape {loss.shape}, expected [len(ys), len(xs)] = {shape}"
        )
    if wer is not None and np.shape(wer) != shape:
        raise PipelineError(f"write_landscape {path}: wer has shape {np.shape(wer)}, expected {shape}")
    if status is not None and np.shape(status) != shape:
        raise PipelineError(f"write_landscape {path}: status has shape {np.shape(status)}, expected {shape}")
    if np.isnan(loss).any():
        raise PipelineError(
            f"write_landscape {path}: {int(np.isnan(loss).sum())} NaN losses; evaluate with "
            "evaluate_grid, which stores +inf (with its status) where the loss is not a number"
        )
    with atomic_h5(path) as f:
        _write_common(f, xs, ys, attrs, subset_ids, FORMAT_FULL)
        f.create_dataset("loss", data=loss)
        _write_status(f, status)
        if wer is not None:
            f.create_dataset("wer", data=np.asarray(wer, dtype=np.float64))
    return Path(path)


def write_landscape_shard(
    path: str | os.PathLike,
    grid: LossGrid,
    attrs: Mapping | None = None,
    *,
    shard: int,
    n_shards: int,
    subset_ids: Sequence[str] | None = None,
) -> Path:
    """Write one shard's :class:`LossGrid` (points and their values; ``grid.metric`` is stored as ``wer``)."""
    attrs = dict(attrs or {})
    _check_required(attrs, path)
    with atomic_h5(path) as f:
        _write_common(
            f,
            grid.xs,
            grid.ys,
            {**attrs, "shard": int(shard), "n_shards": int(n_shards)},
            subset_ids,
            FORMAT_SHARD,
        )
        f.create_dataset("points", data=np.asarray(grid.points, dtype=np.int64).reshape(-1, 2))
        f.create_dataset("loss", data=np.asarray(grid.loss, dtype=np.float64))
        _write_status(f, grid.status)
        if grid.metric is not None:
            f.create_dataset("wer", data=np.asarray(grid.metric, dtype=np.float64))
    return Path(path)


def _write_status(f: h5py.File, status: np.ndarray | None) -> None:
    if status is not None:
        d = f.create_dataset("loss_status", data=np.asarray(status, dtype=np.int8))
        d.attrs["codes"] = [f"{code}: {meaning}" for code, meaning in LOSS_STATUS.items()]


def read_landscape_shard(path: str | os.PathLike) -> tuple[LossGrid, dict]:
    """A shard file as ``(LossGrid, attrs)`` (``subset_ids`` included in attrs when stored)."""
    with open_array_file(path, "landscape") as f:
        if "points" not in f:
            raise PipelineError(f"{path} is not a landscape shard file (no 'points' dataset)")
        grid = LossGrid(
            xs=f["xcoordinates"][()],
            ys=f["ycoordinates"][()],
            points=f["points"][()],
            loss=f["loss"][()],
            metric=f["wer"][()] if "wer" in f else None,
            status=f["loss_status"][()] if "loss_status" in f else None,
        )
        attrs = read_attrs(f)
        if "subset_ids" in f:
            attrs["subset_ids"] = [s.decode() if isinstance(s, bytes) else s for s in f["subset_ids"][()]]
    return grid, attrs


def merge_landscape_shards(
    paths: Sequence[str | os.PathLike], out: str | os.PathLike, provenance: Mapping | None = None
) -> Path:
    """Merge shard files into one full landscape file at ``out``.

    Errors when shards disagree on coordinates or on ``variant``/``epoch``/``seed``/``config_hash``/
    ``code_hash``, or when grid points are missing or duplicated. Attributes of the first shard (minus the
    shard bookkeeping) go to the output. ``provenance``: the merging rule's (``lowrank_asr.hdf5.provenance``);
    its ``seed`` and ``config_hash`` must equal the shards', its ``code_hash`` becomes the file's and the
    shards' becomes ``grid_code_hash``.
    """
    if not paths:
        raise PipelineError(f"merge_landscape_shards: no shard files given for {out}")
    grids, attrs_list = zip(*(read_landscape_shard(p) for p in paths), strict=True)
    first = attrs_list[0]
    for key in ("seed", "config_hash"):
        if provenance is not None and provenance.get(key) != first.get(key):
            raise PipelineError(
                f"merge_landscape_shards: {paths[0]} has {key}={first.get(key)!r} but the merge "
                f"was configured with {provenance.get(key)!r}; rerun the loss_grid shards"
            )
    for p, a in zip(paths[1:], attrs_list[1:], strict=True):
        for key in ("variant", "epoch", "seed", "config_hash", "code_hash"):
            if a.get(key) != first.get(key):
                raise PipelineError(
                    f"merge_landscape_shards: {p} has {key}={a.get(key)!r} but {paths[0]} has "
                    f"{first.get(key)!r}; all shards must come from the same landscape job"
                )
    n_shards = {a.get("n_shards") for a in attrs_list}
    if len(n_shards) != 1 or n_shards.pop() != len(paths):
        raise PipelineError(
            f"merge_landscape_shards: got {len(paths)} files but their n_shards attributes say "
            f"{sorted({a.get('n_shards') for a in attrs_list})}; pass every shard exactly once"
        )
    merged = merge_shards(list(grids))
    attrs = {k: v for k, v in first.items() if k not in _SHARD_ONLY_ATTRS and k != "subset_ids"}
    if provenance is not None:
        attrs = {
            **attrs,
            "grid_code_hash": first.get("code_hash"),
            **{k: provenance[k] for k in PROVENANCE_KEYS},
        }
    return write_landscape(
        out,
        merged.xs,
        merged.ys,
        merged.loss_array(),
        merged.metric_array(),
        attrs,
        subset_ids=first.get("subset_ids"),
        status=merged.status_array(),
    )


def read_landscape(path: str | os.PathLike) -> dict:
    """A full landscape file as a dict: ``xcoordinates``, ``ycoordinates``, ``loss``, ``wer`` (or None),
    ``loss_status`` (or None), ``subset_ids`` (or None) and ``attrs`` (a dict; ``variant``, ``epoch``, ``seed``, ``eval_loss``, ...)."""
    with open_array_file(path, "landscape") as f:
        if "points" in f:
            raise PipelineError(f"{path} is a shard file; merge the shards with merge_landscape_shards first")
        for key in ("xcoordinates", "ycoordinates", "loss"):
            if key not in f:
                raise PipelineError(f"landscape file {path} lacks dataset {key!r}; rerun the loss_grid rule")
        return {
            "xcoordinates": f["xcoordinates"][()],
            "ycoordinates": f["ycoordinates"][()],
            "loss": f["loss"][()],
            "wer": f["wer"][()] if "wer" in f else None,
            "loss_status": f["loss_status"][()] if "loss_status" in f else None,
            "subset_ids": [s.decode() if isinstance(s, bytes) else s for s in f["subset_ids"][()]]
            if "subset_ids" in f
            else None,
            "attrs": read_attrs(f),
        }
