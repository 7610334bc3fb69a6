"""Provenance: every array file (landscape grid, shard, merged grid, attributions) says what made it.

The workflow scripts run here with a stand-in `snakemake` object and the heavy computation replaced by a
fixed result, so the test checks what the scripts write: the configured seed, the hash of the config slice
the rule received, the package version and the rule's code hash.
"""

import runpy
from pathlib import Path

import numpy as np
import pytest

import lowrank_asr
from lowrank_asr.attribution import AttributionItem, read_attributions
from lowrank_asr.config import stable_hash
from lowrank_asr.landscape import LossGrid, read_landscape, read_landscape_shard
from lowrank_asr.landscape.asr import EpochLandscape
from lowrank_asr.landscape.grid import grid_points, shard_points

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow_scripts"
MODEL = {"blocks": "paper", "alpha": 0.5}
LANDSCAPE = {"grid": 3, "range": [-1.0, 1.0], "split": "dev-clean", "subset": 2, "seed": 7, "wer": False}
ATTRIBUTION = {"split": "test-clean", "utterances": 1, "steps": 8, "baseline": "blur", "blur_sigma": [4, 2]}


class _Namespace(dict):
    """Snakemake's named lists: attribute and key access."""

    __getattr__ = dict.__getitem__


def _snakemake(output, params, wildcards, inputs=None):
    return _Namespace(input=_Namespace(inputs or {}), output=[str(o) for o in output], params=_Namespace(params),
                      wildcards=_Namespace(wildcards), log=[], threads=1, resources={})


def _run(script: str, smk, monkeypatch) -> None:
    for key in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.setenv(key, "")  # the script's start-up sets them; monkeypatch restores them afterwards
    runpy.run_path(str(SCRIPTS / script), init_globals={"snakemake": smk})


def _check(attrs: dict, seed: int, config, code: str) -> None:
    assert attrs["seed"] == seed
    assert attrs["config_hash"] == stable_hash(config)
    assert attrs["package_version"] == lowrank_asr.__version__
    assert attrs["code_hash"] == code


def _fake_landscape(**kw) -> EpochLandscape:
    xs = np.linspace(-1, 1, kw["grid"])
    pts = shard_points(grid_points(len(xs), len(xs)), kw["shard"], kw["n_shards"])
    grid = LossGrid(xs=xs, ys=xs, points=pts, loss=pts.sum(axis=1).astype(float))
    return EpochLandscape(grid, 1.5, ["u1", "u2"])


def _shard_index(tmp_path) -> str:
    """A split's TFRecord index (the analyses' data input) over one stand-in shard."""
    from lowrank_asr.data.shard_index import write_shard_index

    shard = tmp_path / "d.tfrecord"
    shard.write_bytes(b"x")
    write_shard_index([shard], tmp_path / "index.json")
    return str(tmp_path / "index.json")


def test_landscape_files_carry_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr("lowrank_asr.landscape.asr.epoch_landscape", _fake_landscape)
    inputs = {"vocab": ["vocab.json"], "weights": "w.h5", "data": _shard_index(tmp_path)}
    config = [MODEL, LANDSCAPE]
    full = tmp_path / "epoch_002.h5"
    _run("loss_grid.py", _snakemake([full], {"landscape": LANDSCAPE, "shards": 1, "model": MODEL, "code": "grid-1"},
                                    {"variant": "v", "epoch": "002"}, inputs), monkeypatch)
    _check(read_landscape(full)["attrs"], 7, config, "grid-1")

    shards = [tmp_path / f"epoch_002.shard{i}.h5" for i in range(2)]
    for i, path in enumerate(shards):
        _run("loss_grid.py", _snakemake([path], {"landscape": LANDSCAPE, "shards": 2, "model": MODEL,
                                                 "code": "grid-2"}, {"variant": "v", "epoch": "002", "shard": str(i)},
                                        inputs), monkeypatch)
    _check(read_landscape_shard(shards[0])[1], 7, config, "grid-2")

    merged = tmp_path / "merged" / "epoch_002.h5"
    smk = _snakemake([merged], {"landscape": LANDSCAPE, "model": MODEL, "code": "merge-1"}, {}, {})
    smk["input"] = [str(p) for p in shards]
    _run("merge_loss_grid.py", smk, monkeypatch)
    data = read_landscape(merged)
    _check(data["attrs"], 7, config, "merge-1")
    assert data["attrs"]["grid_code_hash"] == "grid-2"
    np.testing.assert_array_equal(data["loss"], read_landscape(full)["loss"])


def test_attribution_file_carries_provenance(tmp_path, monkeypatch):
    feats = np.ones((5, 3), np.float32)
    item = AttributionItem("1-2-0003", feats, feats * 0, feats * 0.1, -1.0, -2.0, 0.01, 8, "a b")
    seen = {}

    def fake(**kw):
        seen.update(kw)
        return [item]

    monkeypatch.setattr("lowrank_asr.attribution.asr.epoch_attributions", fake)
    out = tmp_path / "epoch_004.h5"
    params = {"attribution": ATTRIBUTION, "model": MODEL, "max_symbols": 5, "seed": 1234, "code": "ig-1"}
    _run("integrated_gradients.py", _snakemake([out], params, {"variant": "v", "epoch": "004"},
                                               {"vocab": ["vocab.json"], "weights": "w.h5", "data": _shard_index(tmp_path)}),
         monkeypatch)
    attrs = read_attributions(out)["attrs"]
    _check(attrs, 1234, {"attribution": ATTRIBUTION, "model": MODEL, "max_symbols": 5, "seed": 1234}, "ig-1")
    assert attrs["variant"] == "v" and attrs["epoch"] == 4 and attrs["baseline"] == "blur"
    assert attrs["blur_sigma"].tolist() == [4, 2] and seen["blur_sigma"] == [4, 2]
    assert attrs["input_space"].startswith("log-mel before")


def test_provenance_needs_the_code_hash():
    from lowrank_asr.errors import PipelineError
    from lowrank_asr.hdf5 import provenance

    with pytest.raises(PipelineError, match="code hash"):
        provenance(seed=1, config={}, code="")
