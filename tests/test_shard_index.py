"""The TFRecord shard index: per-epoch analyses list it instead of every shard, which keeps the DAG small."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lowrank_asr.data.shard_index import read_shard_index, write_shard_index
from lowrank_asr.errors import CorpusError

ROOT = Path(__file__).resolve().parents[1]


def shards(tmp_path: Path, n: int = 3) -> list[str]:
    paths = []
    for i in range(n):
        path = tmp_path / f"shard-{i:03d}-of-{n:03d}.tfrecord"
        path.write_bytes(b"x" * (i + 1))
        paths.append(str(path))
    return paths


def test_the_index_lists_the_shards_in_order(tmp_path: Path) -> None:
    paths = shards(tmp_path)
    write_shard_index(paths, tmp_path / "index.json")
    assert read_shard_index(tmp_path / "index.json") == paths
    assert [e["bytes"] for e in json.loads((tmp_path / "index.json").read_text())["shards"]] == [1, 2, 3]


def test_indexing_a_missing_shard_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="do not exist: .*shard-009"):
        write_shard_index([*shards(tmp_path), str(tmp_path / "shard-009.tfrecord")], tmp_path / "index.json")


@pytest.mark.parametrize("change", ["deleted", "rewritten"])
def test_reading_names_a_shard_that_changed_since_indexing(tmp_path: Path, change: str) -> None:
    paths = shards(tmp_path)
    write_shard_index(paths, tmp_path / "index.json")
    if change == "deleted":
        Path(paths[1]).unlink()
    else:
        Path(paths[1]).write_bytes(b"longer than before")
    with pytest.raises(CorpusError, match=r"shard-001-of-003\.tfrecord; rerun with `--forcerun tfrecords`"):
        read_shard_index(tmp_path / "index.json")


def test_an_unreadable_index_says_how_to_rebuild_it(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(CorpusError, match="delete it and rerun"):
        read_shard_index(tmp_path / "index.json")


def test_per_epoch_analyses_list_the_index_not_the_shards(tmp_path: Path) -> None:
    """With 64 shards per split, listing them made 3 000 analysis jobs cost ~200 000 input files to resolve."""
    targets = [
        "results/landscape/contextnet_s/shards/epoch_001.shard0.h5",
        "results/attribution/contextnet_s/epoch_001.h5",
    ]
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--configfile",
            "config/librispeech.yaml",
            "--directory",
            str(tmp_path),
            *targets,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = dry.stdout + dry.stderr
    assert dry.returncode == 0, output[-4000:]
    inputs = {}
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("rule ") and line.rstrip(":").split()[1] in ("loss_grid", "integrated_gradients"):
            inputs[line.rstrip(":").split()[1]] = next(x for x in lines[i:] if x.strip().startswith("input:"))
    assert set(inputs) == {"loss_grid", "integrated_gradients"}
    for rule, listed in inputs.items():
        assert ".tfrecord" not in listed, (rule, listed)
    assert "resources/tfrecords/dev-clean/index.json" in inputs["loss_grid"]
    assert "resources/tfrecords/test-clean/index.json" in inputs["integrated_gradients"]
