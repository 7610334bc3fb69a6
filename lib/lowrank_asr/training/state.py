"""Resume state of a training run, kept apart from Snakemake's outputs.

Snakemake deletes a job's declared outputs before it reruns the job, so the resumable copy of everything
(weights and optimizer slots per finished epoch, history) lives in a state directory whose name includes a hash
of the run's settings: a changed config starts afresh, an unchanged one continues after the last complete epoch.

Every weights and optimizer file has a SHA-256 checksum beside it (``<file>.sha256``, the format of
``sha256sum``); a file that does not match it, does not open or lacks variables is damaged: the run logs its path
and continues from the last epoch before it whose files are all sound. The optimizer state is kept per epoch so
that this fallback is exact (resuming needs that epoch's Adam slots and step count, not the latest ones).
Outputs are published as copies, so nothing done to an output reaches the state. A lock file held for the life
of a training job keeps a second trainer out of the folder.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from lowrank_asr import locking
from lowrank_asr.errors import TrainingError

HISTORY_COLUMNS = ("epoch", "train_loss", "dev_loss", "dev_wer", "learning_rate", "steps", "seconds")
CHECKSUM_SUFFIX = ".sha256"
LOCK_NAME = locking.LOCK_NAME
TOO_SHORT_NAME = "too_short.json"

log = logging.getLogger(__name__)


class TrainingState:
    def __init__(self, directory: str | Path, lock_dir: str | Path | None = None):
        """`lock_dir`: the folder whose lock file `lock` takes (default: the state folder itself)."""
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock_path = Path(lock_dir or directory) / LOCK_NAME

    def match_inputs(self, paths: list[str]) -> bool:
        """Forget saved epochs when the input files changed since they were trained (size or mtime).

        Returns True when the state was kept. The first call records the inputs.
        """
        current = {str(p): [os.path.getsize(p), int(os.path.getmtime(p))] for p in sorted(map(str, paths))}
        record = self.dir / "inputs.json"
        if record.is_file() and json.loads(record.read_text()) != current:
            for entry in self.dir.iterdir():
                if entry.name == LOCK_NAME:  # held by this process: removing it would let a second one in
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            kept = False
        else:
            kept = True
        record.write_text(json.dumps(current, indent=1))
        return kept

    # lock ----------------------------------------------------------------------------------------------------
    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold an exclusive lock on `lock_path` (flock: the kernel releases it when the process dies)."""
        return locking.exclusive(self.lock_path)

    # epoch files ---------------------------------------------------------------------------------------------
    def weights_path(self, epoch: int) -> Path:
        return self.dir / f"epoch_{epoch:03d}.weights.h5"

    def optimizer_path(self, epoch: int) -> Path:
        return self.dir / f"epoch_{epoch:03d}.optimizer.h5"

    def marker_path(self) -> Path:
        return self.dir / "last_epoch.json"

    def save_epoch(self, model, optimizer, epoch: int) -> None:
        """Write the epoch's weights and optimizer state, each followed by its checksum."""
        from lowrank_asr.models.weights import save_weights

        save_weights(model, self.weights_path(epoch))
        write_checksum(self.weights_path(epoch))
        tmp = self.optimizer_path(epoch).with_suffix(".tmp")
        with h5py.File(tmp, "w") as f:
            for i, var in enumerate(optimizer.variables):
                f.create_dataset(f"{i:05d}", data=np.asarray(var.numpy()))
                f[f"{i:05d}"].attrs["name"] = var.path if hasattr(var, "path") else var.name
        os.replace(tmp, self.optimizer_path(epoch))
        write_checksum(self.optimizer_path(epoch))

    def save_initial(self, model) -> None:
        """The seeded initial weights as epoch 0 (no optimizer state: nothing has been applied yet)."""
        from lowrank_asr.models.weights import save_weights

        save_weights(model, self.weights_path(0))
        write_checksum(self.weights_path(0))

    def last_complete_epoch(self, weight_count: int | None = None, optimizer_count: int | None = None) -> int:
        """The epoch to resume after: the last one marked complete whose files and all earlier epochs' weights
        are sound (0 if none). A damaged file is logged by path; the epochs from it on are trained again.

        ``weight_count``/``optimizer_count``: the number of variables each file must hold (unchecked if None).
        """
        if not self.marker_path().is_file():
            return 0
        marked = int(json.loads(self.marker_path().read_text())["epoch"])
        good = 0
        for epoch in range(1, marked + 1):  # every published epoch must come from a sound file
            problem = checkpoint_problem(self.weights_path(epoch), weight_count)
            if problem:
                log.warning("damaged checkpoint %s (%s): training again from epoch %d", self.weights_path(epoch),
                            problem, epoch)
                break
            good = epoch
        while good:
            problem = checkpoint_problem(self.optimizer_path(good), optimizer_count)
            if not problem:
                break
            log.warning("damaged checkpoint %s (%s): training again from epoch %d", self.optimizer_path(good),
                        problem, good)
            good -= 1
        return good

    def mark_complete(self, epoch: int) -> None:
        """Written last, atomically: a crash before this leaves the previous epoch as the resume point."""
        tmp = self.marker_path().with_suffix(".tmp")
        tmp.write_text(json.dumps({"epoch": epoch}))
        os.replace(tmp, self.marker_path())

    def load_optimizer(self, optimizer, epoch: int) -> None:
        path = self.optimizer_path(epoch)
        with h5py.File(path, "r") as f:
            keys = sorted(f.keys())
            if len(keys) != len(optimizer.variables):
                raise TrainingError(
                    f"{path} holds {len(keys)} optimizer variables but the optimizer has "
                    f"{len(optimizer.variables)}; delete {self.dir} to start this training afresh"
                )
            for key, var in zip(keys, optimizer.variables, strict=True):
                var.assign(f[key][()])

    # history -----------------------------------------------------------------------------------------------
    def too_short_path(self) -> Path:
        """The ids of the utterances the run leaves out as too short for their transcripts (JSON list)."""
        return self.dir / TOO_SHORT_NAME

    def history_path(self) -> Path:
        return self.dir / "history.csv"

    def read_history(self, up_to_epoch: int) -> list[dict]:
        if not self.history_path().is_file():
            return []
        with self.history_path().open(newline="") as f:
            return [row for row in csv.DictReader(f) if int(row["epoch"]) <= up_to_epoch]

    def write_history(self, rows: list[dict]) -> None:
        write_history_csv(rows, self.history_path())


def write_history_csv(rows: list[dict], path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: row[k] for k in HISTORY_COLUMNS} for row in rows)
    os.replace(tmp, path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def write_checksum(path: str | Path) -> None:
    """``<path>.sha256`` in sha256sum's format (``sha256sum -c`` checks it from the same folder), atomically."""
    path = Path(path)
    target = checksum_path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(f"{file_sha256(path)}  {path.name}\n")
    os.replace(tmp, target)


def recorded_checksum(path: str | Path) -> str | None:
    target = checksum_path(path)
    return target.read_text().split()[0] if target.is_file() and target.read_text().strip() else None


def checkpoint_problem(path: str | Path, variable_count: int | None = None) -> str | None:
    """Why the HDF5 checkpoint ``path`` cannot be trusted, or None when it is sound: it exists, matches the
    checksum written beside it, opens, and holds ``variable_count`` arrays (when given)."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    recorded = recorded_checksum(path)
    if recorded is None:
        return f"no checksum {checksum_path(path).name} beside it"
    if file_sha256(path) != recorded:
        return f"its SHA-256 differs from {checksum_path(path).name}"
    try:
        names: list[str] = []
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    except OSError as exc:
        return f"it does not open as HDF5: {exc}"
    if variable_count is not None and len(names) != variable_count:
        return f"it holds {len(names)} variables, the model has {variable_count}"
    return None


def publish(src: Path, dest: str | Path) -> None:
    """Place a finished artefact at its output path as a copy, atomically.

    A copy, never a hard link: an output edited or truncated in place must not reach the resume state. When
    ``src`` has a checksum beside it, the copied bytes are checked against it first.
    """
    src, dest = Path(src), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    shutil.copyfile(src, tmp)
    recorded = recorded_checksum(src)
    if recorded is not None and file_sha256(tmp) != recorded:
        tmp.unlink()
        raise TrainingError(f"checkpoint {src} does not match its checksum {checksum_path(src)}: it is damaged. "
                            f"Rerun the training job, which trains that epoch again")
    os.replace(tmp, dest)
