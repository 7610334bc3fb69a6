"""The training state's files other than the checkpoints: the resume marker, the history, the inputs record,
and a full disk while checkpoints are written (lowrank_asr.training.state)."""

from __future__ import annotations

import errno
import json
import os
from collections import namedtuple
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from lowrank_asr.errors import TrainingError
from lowrank_asr.training import state as state_module
from lowrank_asr.training.state import HISTORY_COLUMNS, TrainingState, write_checksum


def checkpoint(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        for i in range(3):
            f.create_dataset(f"{i:05d}", data=np.arange(4.0) + i)
    write_checksum(path)
    return path


def trained_state(folder: Path, epochs: int = 3) -> TrainingState:
    """A state folder as a run of `epochs` epochs leaves it: sound files, rows and marker."""
    state = TrainingState(folder)
    for epoch in range(1, epochs + 1):
        checkpoint(state.weights_path(epoch))
        checkpoint(state.optimizer_path(epoch))
    state.write_history(
        [{key: "0.25" for key in HISTORY_COLUMNS} | {"epoch": e, "steps": 4} for e in range(1, epochs + 1)]
    )
    state.mark_complete(epochs)
    return state


@pytest.mark.parametrize(
    "content", [b'{"epo', b"", b'{"epoch": "two"}', b'{"epoch": -1}', b"[2]", b"\xff\xfe"]
)
def test_a_damaged_marker_is_named_and_rebuilt_from_the_epoch_files(tmp_path, caplog, content) -> None:
    state = trained_state(tmp_path)
    state.marker_path().write_bytes(content)
    with caplog.at_level("WARNING"):
        assert state.last_complete_epoch(3, 3) == 3
    assert f"damaged training state file {state.marker_path()}" in caplog.text
    assert json.loads(state.marker_path().read_text()) == {"epoch": 3}  # rebuilt: the next read is quiet
    caplog.clear()
    assert state.last_complete_epoch(3, 3) == 3 and not caplog.text


def test_a_rebuilt_marker_still_needs_sound_files(tmp_path) -> None:
    state = trained_state(tmp_path)
    state.optimizer_path(3).unlink()  # epoch 3 was being saved when the marker broke
    state.marker_path().write_text('{"epo')
    assert state.last_complete_epoch() == 2
    os.truncate(state.weights_path(2), 10)
    state.marker_path().write_text("garbage")
    assert state.last_complete_epoch() == 1
    assert json.loads(state.marker_path().read_text()) == {"epoch": 1}


def test_no_marker_means_no_complete_epoch(tmp_path) -> None:
    state = trained_state(tmp_path)
    state.marker_path().unlink()
    assert state.last_complete_epoch() == 0


@pytest.mark.parametrize(
    ("damage", "sound_rows", "named"),
    [
        (lambda text: text[: text.index("\n2,") + 10], 1, "line 3"),  # cut inside epoch 2's row
        (lambda text: text[:-1], 2, "line 4"),  # the last row lost its newline: it may be cut anywhere
        (lambda text: text.replace("\n2,0.25,0.25,0.25,0.25,4,0.25\n", "\n2,71.66785,,,,,\n"), 1, "line 3"),
        (lambda text: text.replace("\n2,", "\n3,", 1), 1, "line 3"),  # an epoch out of sequence
        (lambda text: text.replace("0.25", "nope", 1), 0, "line 2"),
        (lambda text: text.split("\n", 1)[0] + "\n", 0, None),  # only the header
        (lambda text: "", 0, None),  # emptied
        (lambda text: "epoch;train_loss\n" + text.split("\n", 1)[1], 0, "header"),
    ],
)
def test_history_is_trusted_up_to_its_last_sound_row(tmp_path, caplog, damage, sound_rows, named) -> None:
    state = trained_state(tmp_path)
    history = state.history_path()
    history.write_text(damage(history.read_text()))
    with caplog.at_level("WARNING"):
        rows = state.read_history(3)
        assert [int(r["epoch"]) for r in rows] == list(range(1, sound_rows + 1))
        assert all(r[key] for r in rows for key in HISTORY_COLUMNS)
        # the epochs without a sound row are trained again, so that their rows come back
        assert state.last_complete_epoch(3, 3) == sound_rows
    assert str(history) in caplog.text
    if named:
        assert named in caplog.text
    assert f"no sound row for epoch {sound_rows + 1}" in caplog.text


def test_history_rows_beyond_the_marker_are_not_read(tmp_path) -> None:
    state = trained_state(tmp_path)
    state.mark_complete(2)  # a run killed between writing epoch 3's row and marking it
    assert [r["epoch"] for r in state.read_history(2)] == ["1", "2"]
    assert state.last_complete_epoch() == 2


# ---------------------------------------------------------------------------------------------- inputs
def inputs(tmp_path: Path) -> list[str]:
    paths = [tmp_path / "shard-000.tfrecord", tmp_path / "vocab.txt"]
    for path in paths:
        path.write_bytes(b"data of " + path.name.encode())
    return [str(p) for p in paths]


def test_inputs_rewritten_with_the_same_bytes_keep_the_saved_epochs(tmp_path) -> None:
    paths = inputs(tmp_path)
    state = trained_state(tmp_path / "state")
    assert state.match_inputs(paths)
    shard = Path(paths[0])
    content = shard.read_bytes()
    shard.unlink()
    shard.write_bytes(content)  # made again, byte for byte (e.g. after toggling data.on_bad_audio twice)
    os.utime(shard, ns=(10**18, 10**18))
    assert state.match_inputs(paths)
    assert state.last_complete_epoch() == 3
    record = json.loads(state.inputs_path().read_text())
    assert record[str(shard)]["mtime_ns"] == 10**18  # the record follows the file: no hashing next time


def test_inputs_with_other_bytes_of_the_same_size_and_mtime_are_not_hashed_again(
    tmp_path, monkeypatch
) -> None:
    paths = inputs(tmp_path)
    state = trained_state(tmp_path / "state")
    assert state.match_inputs(paths)
    hashed: list[str] = []
    original = state_module.file_sha256
    monkeypatch.setattr(state_module, "file_sha256", lambda p: hashed.append(str(p)) or original(p))
    assert state.match_inputs(paths)
    assert hashed == []
    Path(paths[1]).write_bytes(b"other of vocab.txt")  # same size, new mtime: read, and found to differ
    assert not state.match_inputs(paths)
    assert hashed == [paths[1]]
    assert state.last_complete_epoch() == 0 and not state.weights_path(1).exists()


def test_an_older_inputs_record_is_compared_by_size_and_mtime(tmp_path) -> None:
    paths = inputs(tmp_path)
    state = trained_state(tmp_path / "state")
    state.inputs_path().write_text(
        json.dumps({p: [os.path.getsize(p), int(os.path.getmtime(p))] for p in sorted(paths)})
    )
    assert state.match_inputs(paths)  # unchanged: kept, and recorded with checksums from now on
    assert all("sha256" in entry for entry in json.loads(state.inputs_path().read_text()).values())
    assert state.last_complete_epoch() == 3


@pytest.mark.parametrize("content", ['{"a": [1', "[]", '{"x": 3}', ""])
def test_a_damaged_inputs_record_stops_with_its_path_and_the_remedy(tmp_path, content) -> None:
    paths = inputs(tmp_path)
    state = trained_state(tmp_path / "state")
    state.inputs_path().write_text(content)
    with pytest.raises(TrainingError) as info:
        state.match_inputs(paths)
    message = str(info.value)
    assert str(state.inputs_path()) in message and f"Delete the folder {state.dir}" in message
    assert state.weights_path(3).exists()  # nothing was deleted
    state.inputs_path().unlink()  # the remedy that keeps the epochs
    assert state.match_inputs(paths) and state.last_complete_epoch() == 3
    # with no trained epoch saved there is nothing to protect: the record is written again
    fresh = TrainingState(tmp_path / "fresh")
    checkpoint(fresh.weights_path(0))
    fresh.inputs_path().write_text(content)
    assert fresh.match_inputs(paths) and set(json.loads(fresh.inputs_path().read_text())) == set(paths)


# ------------------------------------------------------------------------------------------- disk full
@pytest.fixture
def model_and_optimizer():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64), keras.layers.Dense(4)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    return model, optimizer


def test_too_little_space_stops_before_a_checkpoint_is_written(
    tmp_path, monkeypatch, model_and_optimizer
) -> None:
    model, optimizer = model_and_optimizer
    state = TrainingState(tmp_path)
    Usage = namedtuple("Usage", "total used free")
    free = 10_000
    monkeypatch.setattr(state_module.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - free, free))
    before = set(tmp_path.iterdir())
    with pytest.raises(TrainingError) as info:
        state.save_epoch(model, optimizer, 1)
    assert str(info.value) == f"no space left on device: need 1 MB in {tmp_path}"
    with pytest.raises(TrainingError, match="no space left on device: need 1 MB"):
        state.save_initial(model)
    assert set(tmp_path.iterdir()) == before

    free = 10**9
    state.save_epoch(model, optimizer, 1)
    need = sum(os.path.getsize(p) for p in (state.weights_path(1), state.optimizer_path(1)))
    estimate = state.check_space(model.weights, optimizer.variables)
    assert need <= estimate < 4 * need  # the estimate covers the files it stands for


def test_a_disk_filling_up_during_the_write_leaves_no_partial_file(
    tmp_path, monkeypatch, model_and_optimizer
) -> None:
    model, optimizer = model_and_optimizer
    state = TrainingState(tmp_path)
    real_file = h5py.File

    def full_disk(path, mode="r", **kwargs):
        handle = real_file(path, mode, **kwargs)
        if mode == "w" and str(path).endswith(".tmp"):
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr(state_module.h5py, "File", full_disk)
    with pytest.raises(TrainingError, match=f"^no space left on device: need 1 MB in {tmp_path}$"):
        state.save_epoch(model, optimizer, 1)
    assert not list(tmp_path.glob("*.tmp*")) and not state.optimizer_path(1).exists()
    assert state.last_complete_epoch() == 0
