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
from lowrank_asr.attribution.io import AttributionItem, read_attributions
from lowrank_asr.config import stable_hash
from lowrank_asr.config_files import section_with_defaults
from lowrank_asr.landscape.asr import EpochLandscape
from lowrank_asr.landscape.grid import LossGrid, grid_points, shard_points
from lowrank_asr.landscape.io import read_landscape, read_landscape_shard

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow_scripts"
# complete sections, as the rules pass them (the schema's defaults filled in)
MODEL = section_with_defaults("model", {"blocks": "paper", "alpha": 0.5})
LANDSCAPE = {"grid": 3, "range": [-1.0, 1.0], "split": "dev-clean", "subset": 2, "seed": 7, "wer": False}
ATTRIBUTION = {
    "split": "test-clean",
    "utterances": 1,
    "steps": 8,
    "baseline": "blur",
    "blur_sigma": [4, 2],
    "batch_size": 16,
}


class _Namespace(dict):
    """Snakemake's named lists: attribute and key access."""

    __getattr__ = dict.__getitem__


def _snakemake(output, params, wildcards, inputs=None):
    return _Namespace(
        input=_Namespace(inputs or {}),
        output=[str(o) for o in output],
        params=_Namespace(params),
        wildcards=_Namespace(wildcards),
        log=[],
        threads=1,
        resources={},
    )


def _run(script: str, smk, monkeypatch) -> None:
    for key in (
        "CUDA_VISIBLE_DEVICES",
        "OMP_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    ):
        monkeypatch.setenv(key, "")  # the script's start-up sets them; monkeypatch restores them afterwards
    runpy.run_path(str(SCRIPTS / script), init_globals={"snakemake": smk})


def _check(attrs: dict, seed: int, config, code: str) -> None:
    assert attrs["seed"] == seed
    assert attrs["config_hash"] == stable_hash(config)
    assert attrs["package_version"] == lowrank_asr.__version__
    assert attrs["code_hash"] == code


def _fake_landscapes(**kw):
    """One result per weights file, each with its own eval loss (so the files can be told apart)."""
    xs = np.linspace(-1, 1, kw["grid"])
    pts = shard_points(grid_points(len(xs), len(xs)), kw["shard"], kw["n_shards"])
    for i, _ in enumerate(kw["weights_paths"]):
        grid = LossGrid(xs=xs, ys=xs, points=pts, loss=pts.sum(axis=1).astype(float) + i)
        yield EpochLandscape(grid, 1.5 + i, ["u1", "u2"])


def _shard_index(tmp_path) -> str:
    """A split's TFRecord index (the analyses' data input) over one stand-in shard."""
    from lowrank_asr.data.shard_index import write_shard_index

    shard = tmp_path / "d.tfrecord"
    shard.write_bytes(b"x")
    write_shard_index([shard], tmp_path / "index.json")
    return str(tmp_path / "index.json")


def test_landscape_files_carry_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr("lowrank_asr.landscape.asr.variant_landscapes", _fake_landscapes)
    inputs = {"vocab": ["vocab.json"], "weights": ["w.h5"], "data": _shard_index(tmp_path)}
    config = [MODEL, LANDSCAPE]
    full = tmp_path / "epoch_002.h5"
    _run(
        "loss_grid.py",
        _snakemake(
            [full],
            {
                "landscape": LANDSCAPE,
                "shards": 1,
                "epochs": [2],
                "model": MODEL,
                "code": "grid-1",
                "batch_seconds": None,
                "max_symbols": None,  # landscape.wer is off: nothing decodes
            },
            {"run": "v", "epoch": "002"},
            inputs,
        ),
        monkeypatch,
    )
    _check(read_landscape(full)["attrs"], 7, config, "grid-1")

    shards = [tmp_path / f"epoch_002.shard{i}.h5" for i in range(2)]
    for i, path in enumerate(shards):
        _run(
            "loss_grid.py",
            _snakemake(
                [path],
                {
                    "landscape": LANDSCAPE,
                    "shards": 2,
                    "epochs": [2],
                    "model": MODEL,
                    "code": "grid-2",
                    "batch_seconds": None,
                    "max_symbols": None,  # landscape.wer is off: nothing decodes
                },
                {"run": "v", "epoch": "002", "shard": str(i)},
                inputs,
            ),
            monkeypatch,
        )
    _check(read_landscape_shard(shards[0])[1], 7, config, "grid-2")

    merged = tmp_path / "merged" / "epoch_002.h5"
    smk = _snakemake([merged], {"landscape": LANDSCAPE, "model": MODEL, "code": "merge-1"}, {}, {})
    smk["input"] = [str(p) for p in shards]
    _run("merge_loss_grid.py", smk, monkeypatch)
    data = read_landscape(merged)
    _check(data["attrs"], 7, config, "merge-1")
    assert data["attrs"]["grid_code_hash"] == "grid-2"
    np.testing.assert_array_equal(data["loss"], read_landscape(full)["loss"])


def test_one_landscape_job_per_variant_writes_each_epoch_with_its_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr("lowrank_asr.landscape.asr.variant_landscapes", _fake_landscapes)
    inputs = {"vocab": ["vocab.json"], "weights": ["w1.h5", "w3.h5"], "data": _shard_index(tmp_path)}
    outputs = [tmp_path / "epoch_001.h5", tmp_path / "epoch_003.h5"]
    _run(
        "loss_grid.py",
        _snakemake(
            outputs,
            {
                "landscape": LANDSCAPE,
                "shards": 1,
                "epochs": [1, 3],
                "model": MODEL,
                "code": "grid-1",
                "batch_seconds": None,
                "max_symbols": None,  # landscape.wer is off: nothing decodes
            },
            {"run": "v"},
            inputs,
        ),
        monkeypatch,
    )
    for i, (epoch, path) in enumerate(zip([1, 3], outputs, strict=True)):
        data = read_landscape(path)
        _check(data["attrs"], 7, [MODEL, LANDSCAPE], "grid-1")
        assert data["attrs"]["epoch"] == epoch and data["attrs"]["eval_loss"] == 1.5 + i


def test_attribution_file_carries_provenance(tmp_path, monkeypatch):
    feats = np.ones((5, 3), np.float32)
    seen = {}

    def fake(**kw):
        seen.update(kw)
        for i, _ in enumerate(kw["weights_paths"]):
            yield [AttributionItem("1-2-0003", feats, feats * 0, feats * 0.1, -1.0 - i, -2.0, 0.01, 8, "a b")]

    monkeypatch.setattr("lowrank_asr.attribution.asr.variant_attributions", fake)
    outputs = [tmp_path / "epoch_004.h5", tmp_path / "epoch_005.h5"]
    params = {
        "attribution": ATTRIBUTION,
        "epochs": [4, 5],
        "model": MODEL,
        "max_symbols": 5,
        "seed": 1234,
        "code": "ig-1",
        "batch_seconds": None,
    }
    _run(
        "integrated_gradients.py",
        _snakemake(
            outputs,
            params,
            {"run": "v"},
            {"vocab": ["vocab.json"], "weights": ["w4.h5", "w5.h5"], "data": _shard_index(tmp_path)},
        ),
        monkeypatch,
    )
    assert seen["weights_paths"] == ["w4.h5", "w5.h5"]
    for i, (epoch, out) in enumerate(zip([4, 5], outputs, strict=True)):
        data = read_attributions(out)
        attrs = data["attrs"]
        _check(
            attrs, 1234, {"attribution": ATTRIBUTION, "model": MODEL, "max_symbols": 5, "seed": 1234}, "ig-1"
        )
        assert attrs["variant"] == "v" and attrs["epoch"] == epoch and attrs["baseline"] == "blur"
        assert attrs["blur_sigma"].tolist() == [4, 2] and seen["blur_sigma"] == [4, 2]
        assert attrs["input_space"].startswith("log-mel before")
        assert data["items"][0]["f_input"] == -1.0 - i  # each epoch's own attributions
    # the plots read their time axes from the run's model config (the rule's model param)
    pngs = [tmp_path / "epoch_004.png", tmp_path / "epoch_005.png"]
    plots = _snakemake(pngs, {"model": MODEL, "code": "plot-1"}, {"variant": "v"})
    plots["input"] = [
        str(out) for out in outputs
    ]  # the rule's input: the epochs' attribution files, in order
    _run("plot_attribution.py", plots, monkeypatch)
    assert all(png.stat().st_size > 0 for png in pngs)


def test_provenance_needs_the_code_hash():
    from lowrank_asr.errors import PipelineError
    from lowrank_asr.hdf5 import provenance

    with pytest.raises(PipelineError, match="code hash"):
        provenance(seed=1, config={}, code="")
