"""HDF5 files of integrated-gradients attributions (``results/attribution/{run}/epoch_{NNN}.h5``).

One group per utterance id, holding datasets ``features`` (``[T, F]`` log-mel before the per-utterance
normalisation, or ``[S]`` samples for the wave front end), ``baseline`` and ``attributions`` (same shape),
optional ``frame_attribution [T]`` (signed per-frame mass) and optional ``norm_mean``/``norm_scale`` ``[F]``
(the normalisation the model applies: model input = (features - norm_mean) * norm_scale); group attributes
``f_input``, ``f_baseline``, ``completeness_error``, ``steps``, ``transcript`` and optional ``hypothesis``.
File attributes: the provenance ``seed``, ``config_hash``, ``package_version``, ``code_hash`` (required; see
``lowrank_asr.hdf5.provenance``), ``variant``, ``epoch`` and whatever else the caller passes, plus ``format``
and ``utt_ids`` (the group order).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lowrank_asr.attribution.result import IGResult, frame_attribution
from lowrank_asr.errors import PipelineError
from lowrank_asr.hdf5 import atomic_h5, check_provenance, open_array_file, read_attrs, write_attrs

FORMAT = "lowrank-asr/attribution"
_GROUP_ATTRS = ("f_input", "f_baseline", "completeness_error", "steps", "transcript", "hypothesis")
_OPTIONAL_DATASETS = ("frame_attribution", "norm_mean", "norm_scale")


@dataclass
class AttributionItem:
    """One utterance's attribution record (what a group of the file holds)."""

    utt_id: str
    features: np.ndarray
    baseline: np.ndarray
    attributions: np.ndarray
    f_input: float
    f_baseline: float
    completeness_error: float
    steps: int
    transcript: str
    hypothesis: str | None = None
    frame_attribution: np.ndarray | None = None
    norm_mean: np.ndarray | None = None
    norm_scale: np.ndarray | None = None

    @classmethod
    def from_result(
        cls,
        utt_id: str,
        features,
        baseline,
        result: IGResult,
        transcript: str,
        hypothesis: str | None = None,
        hop: int = 160,
        *,
        norm_mean=None,
        norm_scale=None,
    ) -> AttributionItem:
        """Build from an :class:`IGResult`; the per-frame signed mass is computed here."""
        return cls(
            utt_id=utt_id,
            features=np.asarray(features),
            baseline=np.asarray(baseline),
            attributions=result.attributions,
            f_input=result.f_input,
            f_baseline=result.f_baseline,
            completeness_error=result.completeness_error,
            steps=result.steps,
            transcript=transcript,
            hypothesis=hypothesis,
            frame_attribution=frame_attribution(result.attributions, hop),
            norm_mean=norm_mean,
            norm_scale=norm_scale,
        )


def _as_dict(item) -> dict:
    return asdict(item) if isinstance(item, AttributionItem) else dict(item)


def write_attributions(
    path: str | os.PathLike, items: Sequence[AttributionItem | Mapping], attrs: Mapping | None = None
) -> Path:
    """Write utterance records (``AttributionItem`` or mappings with the same keys) atomically; ``attrs`` must
    hold the provenance (``lowrank_asr.hdf5.provenance``)."""
    check_provenance(attrs or {}, path)
    records = [_as_dict(it) for it in items]
    ids = []
    for r in records:
        uid = str(r.get("utt_id", ""))
        if not uid or "/" in uid or uid in ids:
            raise PipelineError(
                f"write_attributions {path}: utterance id {uid!r} is empty, contains '/', or "
                "is repeated; ids name HDF5 groups and must be unique"
            )
        for key in (
            "features",
            "baseline",
            "attributions",
            "transcript",
            "f_input",
            "f_baseline",
            "completeness_error",
            "steps",
        ):
            if r.get(key) is None:
                raise PipelineError(f"write_attributions {path}: item {uid!r} lacks {key!r}")
        shape = np.shape(r["features"])
        for key in ("baseline", "attributions"):
            if np.shape(r[key]) != shape:
                raise PipelineError(
                    f"write_attributions {path}: item {uid!r} has {key} of shape "
                    f"{np.shape(r[key])}, features have {shape}; they must match"
                )
        ids.append(uid)
    with atomic_h5(path) as f:
        write_attrs(f, {**dict(attrs or {}), "format": FORMAT, "utt_ids": ids or None})
        for uid, r in zip(ids, records, strict=True):
            g = f.create_group(uid)
            for key in ("features", "baseline", "attributions"):
                g.create_dataset(
                    key, data=np.asarray(r[key], dtype=np.float32), compression="gzip", compression_opts=4
                )
            for key in _OPTIONAL_DATASETS:
                if r.get(key) is not None:
                    g.create_dataset(key, data=np.asarray(r[key], dtype=np.float64))
            write_attrs(g, {k: r.get(k) for k in _GROUP_ATTRS})
    return Path(path)


def read_attributions(path: str | os.PathLike) -> dict:
    """``{"attrs": file attributes, "items": [dict per utterance, in written order]}``.

    Each item has ``utt_id``, ``features``, ``baseline``, ``attributions``, ``frame_attribution``,
    ``norm_mean``, ``norm_scale`` (each or None), ``f_input``, ``f_baseline``, ``completeness_error``, ``steps``, ``transcript``, ``hypothesis`` (or None).
    """
    with open_array_file(path, "attribution", "rerun the integrated_gradients rule") as f:
        attrs = read_attrs(f)
        ids = attrs.get("utt_ids")
        ids = [ids] if isinstance(ids, str) else list(ids) if ids is not None else sorted(f.keys())
        items = []
        for uid in ids:
            g = f[uid]
            item = {
                "utt_id": uid,
                **{k: g[k][()] for k in ("features", "baseline", "attributions")},
                **{k: g[k][()] if k in g else None for k in _OPTIONAL_DATASETS},
            }
            ga = read_attrs(g)
            item.update({k: ga.get(k) for k in _GROUP_ATTRS})
            items.append(item)
    return {"attrs": attrs, "items": items}
