"""HDF5 files of the representation analyses (written atomically, attributes as in the other array files).

Per variant and epoch (``results/representations/{run}/epoch_{NNN}.h5``, format
``lowrank-asr/representations``): root attributes ``variant``, ``epoch``, ``final_epoch`` and the provenance
``seed``, ``config_hash``, ``package_version``, ``code_hash`` (required; ``lowrank_asr.hdf5.provenance``),
``format`` and whatever the caller adds (``training_seed``, ``split``, ...); datasets
``blocks`` (names) and ``subset_ids``;
  ``kernels/{block}/{conv}``: ``singular_values`` [min(k·c, o)] of W as [k·c, o], ``filter_singular_values``
  [o, min(k, c)], ``filter_effective_rank`` / ``filter_stable_rank`` / ``filter_rank`` [o]; attributes
  ``effective_rank``, ``stable_rank``, ``kind``, ``shape`` [k, c, o], ``stride``, ``normalisation``
  (``unit_filter_norm``: every output filter of W scaled to unit Frobenius norm before the SVDs, as a batch norm
  follows; ``none`` otherwise, see ``ConvKernel.normalised``);
  ``activations/{block}``: ``eigenvalues`` [C], ``components`` [3] (attribute ``fractions``); attributes
  ``effective_rank``, ``frames``;
  ``cka_final`` [blocks, blocks]: block i of this epoch against block j of epoch ``final_epoch``.
Per epoch across variants (``results/representations/variants_epoch_{NNN}.h5``, format
``lowrank-asr/representations-variants``): attributes ``epoch``, ``seed``, ``variants``; datasets
``subset_ids`` and ``cka/{a}/{b}`` [blocks_a, blocks_b] with attributes ``x_variant``, ``y_variant``,
``x_blocks``, ``y_blocks``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.hdf5 import atomic_h5, check_provenance, open_array_file, read_attrs, write_attrs
from lowrank_asr.representations.spectra import VARIANCE_FRACTIONS

if TYPE_CHECKING:  # analysis.py imports TensorFlow; readers of these files (plots) run without it
    from lowrank_asr.representations.analysis import EpochRepresentations

FORMAT_EPOCH = "lowrank-asr/representations"
FORMAT_VARIANTS = "lowrank-asr/representations-variants"
REQUIRED_ATTRS = ("variant", "epoch", "seed", "final_epoch")


def _strings(values: Sequence[str]) -> np.ndarray:
    return np.array(list(values), dtype=h5py.string_dtype())


def _decode(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def write_representations(path: str | os.PathLike, result: EpochRepresentations, attrs: Mapping) -> Path:
    attrs = dict(attrs)
    missing = [k for k in REQUIRED_ATTRS if attrs.get(k) is None]
    if missing:
        raise PipelineError(
            f"representations file {path}: attributes {missing} are required (pass them in attrs)"
        )
    check_provenance(attrs, path)
    with atomic_h5(path) as f:
        write_attrs(f, {**attrs, "format": FORMAT_EPOCH})
        f.create_dataset("blocks", data=_strings(result.blocks))
        f.create_dataset("subset_ids", data=_strings(result.subset_ids))
        for kern, spec in result.kernels:
            g = f.create_group(f"kernels/{kern.name}")
            for key in (
                "singular_values",
                "filter_singular_values",
                "filter_effective_rank",
                "filter_stable_rank",
                "filter_rank",
            ):
                g.create_dataset(key, data=getattr(spec, key))
            write_attrs(
                g,
                {
                    "effective_rank": spec.effective_rank,
                    "stable_rank": spec.stable_rank,
                    "kind": kern.kind,
                    "shape": list(kern.kernel.shape),
                    "stride": kern.stride,
                    "normalisation": "none" if kern.bn_scale is None else "unit_filter_norm",
                },
            )
        for name, act in zip(result.blocks, result.activations, strict=True):
            g = f.create_group(f"activations/{name}")
            g.create_dataset("eigenvalues", data=act.eigenvalues)
            g.create_dataset("components", data=act.components).attrs["fractions"] = list(VARIANCE_FRACTIONS)
            write_attrs(g, {"effective_rank": act.effective_rank, "frames": act.frames})
        f.create_dataset("cka_final", data=result.cka_final)
    return Path(path)


def _group(g: h5py.Group) -> dict:
    out: dict = {"attrs": read_attrs(g)}
    for key, item in g.items():
        out[key] = _group(item) if isinstance(item, h5py.Group) else item[()]
    return out


def read_representations(path: str | os.PathLike) -> dict:
    """The file as nested dicts: ``attrs``, ``blocks``, ``subset_ids``, ``kernels``, ``activations``,
    ``cka_final`` (groups are dicts with their own ``attrs``)."""
    with open_array_file(path, "representations") as f:
        if read_attrs(f).get("format") != FORMAT_EPOCH:
            raise PipelineError(
                f"{path} is not a representations file (format {read_attrs(f).get('format')!r})"
            )
        out = _group(f)
    out["blocks"], out["subset_ids"] = _decode(out["blocks"]), _decode(out["subset_ids"])
    return out


def write_variant_similarity(
    path: str | os.PathLike,
    cka: Mapping[tuple[str, str], np.ndarray],
    blocks: Mapping[str, Sequence[str]],
    subset_ids: Sequence[str],
    attrs: Mapping,
) -> Path:
    attrs = dict(attrs)
    missing = [k for k in ("epoch", "seed") if attrs.get(k) is None]
    if missing:
        raise PipelineError(f"variant similarity file {path}: attributes {missing} are required")
    check_provenance(attrs, path)
    with atomic_h5(path) as f:
        write_attrs(f, {**attrs, "variants": list(blocks), "format": FORMAT_VARIANTS})
        f.create_dataset("subset_ids", data=_strings(subset_ids))
        for (a, b), matrix in cka.items():
            d = f.create_dataset(f"cka/{a}/{b}", data=np.asarray(matrix, np.float64))
            write_attrs(
                d, {"x_variant": a, "y_variant": b, "x_blocks": list(blocks[a]), "y_blocks": list(blocks[b])}
            )
    return Path(path)


def read_variant_similarity(path: str | os.PathLike) -> dict:
    """``attrs``, ``subset_ids`` and ``cka``: {(a, b): (matrix, x_blocks, y_blocks)}."""
    with open_array_file(path, "representations") as f:
        if read_attrs(f).get("format") != FORMAT_VARIANTS:
            raise PipelineError(f"{path} is not a variant similarity file")
        cka = {}
        datasets: list[h5py.Dataset] = []
        f["cka"].visititems(lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        for d in datasets:
            a = read_attrs(d)
            cka[(a["x_variant"], a["y_variant"])] = (d[()], a["x_blocks"], a["y_blocks"])
        return {"attrs": read_attrs(f), "subset_ids": _decode(f["subset_ids"][()]), "cka": cka}
