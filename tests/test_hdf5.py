"""Every array-file reader opens its file through lowrank_asr.hdf5.open_array_file: a file that is not HDF5
(truncated by a crash, overwritten) or missing gives a PipelineError naming the file and the rule to rerun."""

import re
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pytest

import lowrank_asr
from lowrank_asr.attribution.io import read_attributions
from lowrank_asr.errors import PipelineError
from lowrank_asr.geometry.io import FORMATS as GEOMETRY_FORMATS
from lowrank_asr.geometry.io import read_geometry
from lowrank_asr.landscape.io import read_landscape, read_landscape_shard
from lowrank_asr.representations.io import read_representations, read_variant_similarity

READERS = {
    "attributions": (read_attributions, "attribution file", "integrated_gradients"),
    "landscape": (read_landscape, "landscape file", "rerun the rule"),
    "landscape_shard": (read_landscape_shard, "landscape file", "rerun the rule"),
    "representations": (read_representations, "representations file", "rerun the rule"),
    "variant_similarity": (read_variant_similarity, "representations file", "rerun the rule"),
    **{
        f"geometry_{kind}": (partial(read_geometry, kind=kind), f"{kind} file", "rerun the rule")
        for kind in GEOMETRY_FORMATS
    },
}


def _truncated_hdf5(path) -> None:
    """A real HDF5 file cut short, as a crash mid-copy leaves it."""
    full = path.with_name("full.h5")
    with h5py.File(full, "w") as f:
        f.create_dataset("x", data=np.arange(1000.0))
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_unreadable_array_file_names_the_file_and_the_rule_to_rerun(reader, damage, tmp_path):
    read, what, remedy = READERS[reader]
    path = tmp_path / "sub" / "file.h5"
    path.parent.mkdir()
    if damage == "truncated":
        _truncated_hdf5(path)
    elif damage == "garbage":
        path.write_bytes(b"not an HDF5 file\n" * 20)
    with pytest.raises(PipelineError, match="cannot open") as err:
        read(path)
    message = str(err.value)
    assert str(path) in message and what in message and remedy in message


def test_array_file_readers_open_files_only_through_open_array_file():
    """One way to open an array file: no io module opens HDF5 for reading itself."""
    lib = Path(lowrank_asr.__file__).parent
    modules = sorted(lib.glob("*/io.py"))
    assert {m.parent.name for m in modules} >= {"attribution", "geometry", "landscape", "representations"}
    for module in modules:
        source = module.read_text()
        assert not re.search(r"h5py\.File\([^)]*[\"']r[\"']", source), f"{module} opens HDF5 itself"
