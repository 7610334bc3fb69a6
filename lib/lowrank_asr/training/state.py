"""Resume state of a training run, kept apart from Snakemake's outputs.

Snakemake deletes a job's declared outputs before it reruns the job, so the resumable copy of everything
(weights and optimizer slots per finished epoch, history) lives in a state directory whose name includes a hash
of the run's settings: a changed config starts afresh, an unchanged one continues after the last complete epoch.

Every weights and optimizer file has a SHA-256 checksum beside it (``<file>.sha256``, the format of
``sha256sum``); a file that does not match it, does not open or lacks variables is damaged: the run logs its path
and continues from the last epoch before it whose files are all sound. The optimizer state is kept per epoch so
that this fallback is exact (resuming needs that epoch's Adam slots and step count, not the latest ones).
The other files are checked by parsing them: a damaged ``last_epoch.json`` is rebuilt from the newest epoch whose
files are sound, and ``history.csv`` is trusted up to its last complete, well-formed row (later epochs are trained
again, exactly as before, so their rows come back). ``inputs.json`` (the size, mtime and SHA-256 of every input
file) cannot be rebuilt: a damaged one stops the run, naming it and the remedy.
Outputs are published as copies, so nothing done to an output reaches the state. A lock file held for the life
of a training job keeps a second trainer out of the folder. Before a checkpoint is written, the free space of
the folder is checked against its size, so a full disk stops with one line instead of inside HDF5.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from lowrank_asr import locking
from lowrank_asr.errors import TrainingError
from lowrank_asr.models.weights import save_weights

HISTORY_COLUMNS = ("epoch", "train_loss", "dev_loss", "dev_wer", "learning_rate", "steps", "seconds")
CHECKSUM_SUFFIX = ".sha256"
LOCK_NAME = locking.LOCK_NAME
TOO_SHORT_NAME = "too_short.json"
# bytes of HDF5 headers allowed per variable when a checkpoint's size is estimated (measured: ~2 KiB for the
# weights of a small model)
HDF5_OVERHEAD_PER_VARIABLE = 4096

log = logging.getLogger(__name__)


class TrainingState:
    def __init__(self, directory: str | Path, lock_dir: str | Path | None = None):
        """`lock_dir`: the folder whose lock file `lock` takes (default: the state folder itself)."""
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock_path = Path(lock_dir or directory) / LOCK_NAME

    def inputs_path(self) -> Path:
        return self.dir / "inputs.json"

    def match_inputs(self, paths: list[str]) -> bool:
        """Forget saved epochs when the content of the input files changed since they were trained.

        Content is compared by SHA-256; a file whose size and mtime match the record keeps its recorded
        digest, so only rewritten files are read again (rewriting identical bytes, e.g. TFRecords made again
        after a toggled setting, keeps the saved epochs). Returns True when the state was kept. The first call
        records the inputs; a damaged record raises TrainingError naming it, unless no trained epoch is saved.
        """
        record = self.inputs_path()
        recorded = self._read_inputs() if record.is_file() and self._saved_epochs() else None
        current: dict[str, dict] = {}
        for path in sorted(map(str, paths)):
            stat = os.stat(path)
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            known = (recorded or {}).get(path)
            same_file = isinstance(known, dict) and all(known.get(k) == v for k, v in entry.items())
            current[path] = entry | {"sha256": known["sha256"] if same_file else file_sha256(path)}
        kept = recorded is None or _same_inputs(recorded, current)
        if not kept:
            for entry in self.dir.iterdir():
                if entry.name == LOCK_NAME:  # held by this process: removing it would let a second one in
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        tmp = record.with_name(record.name + ".tmp")
        tmp.write_text(json.dumps(current, indent=1))
        os.replace(tmp, record)
        return kept

    def _saved_epochs(self) -> bool:
        """Whether any trained epoch is on disk (the seeded epoch 0 is no training)."""
        return any(p.name != self.weights_path(0).name for p in self.dir.glob("epoch_[0-9][0-9][0-9].*.h5"))

    def _read_inputs(self) -> dict:
        record = self.inputs_path()
        try:
            data = json.loads(record.read_text())
            if not isinstance(data, dict) or not all(isinstance(v, dict | list) for v in data.values()):
                raise ValueError("not a JSON object of input files")
        except (ValueError, UnicodeDecodeError) as exc:
            raise TrainingError(
                f"damaged training state file {record} ({exc}): it records which inputs the saved epochs were "
                f"trained on, and cannot be rebuilt. Delete the folder {self.dir} to train this variant afresh, "
                f"or, if the training data have not changed since, delete just {record.name} to keep the saved "
                "epochs"
            ) from None
        return data

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
        need = self.check_space(model.weights, optimizer.variables)
        with _no_space_as_error(need, self.dir):
            save_weights(model, self.weights_path(epoch))
            write_checksum(self.weights_path(epoch))
            tmp = self.optimizer_path(epoch).with_suffix(".tmp")
            try:
                with h5py.File(tmp, "w") as f:
                    for i, var in enumerate(optimizer.variables):
                        f.create_dataset(f"{i:05d}", data=np.asarray(var.numpy()))
                        f[f"{i:05d}"].attrs["name"] = var.path if hasattr(var, "path") else var.name
                os.replace(tmp, self.optimizer_path(epoch))
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            write_checksum(self.optimizer_path(epoch))

    def save_initial(self, model) -> None:
        """The seeded initial weights as epoch 0 (no optimizer state: nothing has been applied yet)."""
        need = self.check_space(model.weights)
        with _no_space_as_error(need, self.dir):
            save_weights(model, self.weights_path(0))
            write_checksum(self.weights_path(0))

    def check_space(self, *variable_lists) -> int:
        """The bytes that HDF5 files of these variables need (their bytes plus a per-variable allowance for
        HDF5's headers); raise TrainingError("no space left on device: need N MB in <folder>") unless the
        state folder's file system has that much free."""
        need = sum(
            _nbytes(var) + HDF5_OVERHEAD_PER_VARIABLE for variables in variable_lists for var in variables
        )
        free = shutil.disk_usage(self.dir).free
        if free < need:
            raise TrainingError(no_space_message(need, self.dir))
        return need

    def last_complete_epoch(self, weight_count: int | None = None, optimizer_count: int | None = None) -> int:
        """The epoch to resume after: the last one marked complete whose history row, files and all earlier
        epochs' weights and rows are sound (0 if none). A damaged file is logged by path; the epochs from it on
        are trained again. A damaged ``last_epoch.json`` is rebuilt from the epoch files on disk.

        ``weight_count``/``optimizer_count``: the number of variables each file must hold (unchecked if None).
        """
        marked, marker_damaged = self._marked_epoch()
        rows = self.read_history(marked)
        good = 0
        for epoch in range(1, marked + 1):  # every published epoch must come from a sound file and row
            problem = checkpoint_problem(self.weights_path(epoch), weight_count)
            if problem:
                log.warning(
                    "damaged checkpoint %s (%s): training again from epoch %d",
                    self.weights_path(epoch),
                    problem,
                    epoch,
                )
                break
            if epoch > len(rows):
                log.warning(
                    "training history %s has no sound row for epoch %d: training again from epoch %d",
                    self.history_path(),
                    epoch,
                    epoch,
                )
                break
            good = epoch
        while good:
            problem = checkpoint_problem(self.optimizer_path(good), optimizer_count)
            if not problem:
                break
            log.warning(
                "damaged checkpoint %s (%s): training again from epoch %d",
                self.optimizer_path(good),
                problem,
                good,
            )
            good -= 1
        if marker_damaged:
            self.mark_complete(good)
            log.warning("rebuilt %s: resuming after epoch %d", self.marker_path(), good)
        return good

    def _marked_epoch(self) -> tuple[int, bool]:
        """(the epoch ``last_epoch.json`` marks complete, whether it was damaged). Missing: 0. Damaged: logged,
        and replaced by the newest epoch with both files on disk (last_complete_epoch then checks them)."""
        path = self.marker_path()
        if not path.is_file():
            return 0, False
        try:
            epoch = json.loads(path.read_text())["epoch"]
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise ValueError(f"epoch {epoch!r} is not a count")
            return epoch, False
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            on_disk = [
                int(p.name[6:9])
                for p in self.dir.glob("epoch_[0-9][0-9][0-9].optimizer.h5")
                if self.weights_path(int(p.name[6:9])).is_file()
            ]
            log.warning(
                "damaged training state file %s (%s: %s): rebuilding it from the epoch files",
                path,
                type(exc).__name__,
                exc,
            )
            return max(on_disk, default=0), True

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
        """The history rows of epochs 1..`up_to_epoch` up to the first damaged one: a row must be complete (end
        in a newline, as every write leaves it), hold every column with a number, and follow its predecessor's
        epoch. The first damaged row is logged; the rows after it are not trusted."""
        path = self.history_path()
        if not path.is_file():
            return []
        try:
            *lines, cut = path.read_text(encoding="utf-8").split("\n")  # `cut`: text after the last newline
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("damaged training history %s (%s)", path, exc)
            return []
        if not lines or lines[0] != ",".join(HISTORY_COLUMNS):
            if lines or path.stat().st_size:
                log.warning(
                    "damaged training history %s: its header is not %s", path, ",".join(HISTORY_COLUMNS)
                )
            return []
        rows: list[dict] = []
        for number, line in enumerate(lines[1:], start=2):
            if len(rows) >= up_to_epoch:
                break
            problem = _history_row_problem(line, len(rows) + 1)
            if problem:
                log.warning(
                    "damaged training history %s, line %d (%s): its rows from there on are not used",
                    path,
                    number,
                    problem,
                )
                break
            rows.append(dict(zip(HISTORY_COLUMNS, line.split(","), strict=True)))
        else:
            if cut and len(rows) < up_to_epoch:
                log.warning(
                    "damaged training history %s, line %d (cut: no newline at its end): not used",
                    path,
                    len(lines) + 1,
                )
        return rows

    def write_history(self, rows: list[dict]) -> None:
        write_history_csv(rows, self.history_path())


def _history_row_problem(line: str, epoch: int) -> str | None:
    """Why a history.csv line cannot be the row of `epoch`, or None."""
    cells = line.split(",")
    if len(cells) != len(HISTORY_COLUMNS):
        return f"{len(cells)} cells, expected {len(HISTORY_COLUMNS)}"
    for column, cell in zip(HISTORY_COLUMNS, cells, strict=True):
        try:
            value = int(cell) if column in ("epoch", "steps") else float(cell)
        except ValueError:
            return f"{column} is {cell!r}, not a number"
        if column == "epoch" and value != epoch:
            return f"epoch {value} where epoch {epoch} belongs"
    return None


def _same_inputs(recorded: dict, current: dict[str, dict]) -> bool:
    """Whether a record of inputs (this format, or the older [size, mtime] lists) describes `current`."""
    if recorded.keys() != current.keys():
        return False
    for path, now in current.items():
        was = recorded[path]
        if isinstance(was, list):  # the older record: size and whole-second mtime only
            if was != [now["size"], now["mtime_ns"] // 1_000_000_000]:
                return False
        elif was.get("sha256") != now["sha256"]:
            return False
    return True


def _nbytes(var) -> int:
    dtype = getattr(var.dtype, "name", var.dtype)  # tf.DType or keras's dtype string
    return int(np.prod(var.shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def no_space_message(need_bytes: int, folder: str | Path) -> str:
    return f"no space left on device: need {max(1, math.ceil(need_bytes / 1e6))} MB in {folder}"


@contextlib.contextmanager
def _no_space_as_error(need_bytes: int, folder: Path) -> Iterator[None]:
    """Turn a full disk met while writing (the space taken by someone else meanwhile) into the one-line
    no-space error; the writers remove their partial files themselves."""
    try:
        yield
    except OSError as exc:
        # h5py reports the C library's failure as an OSError whose errno is not set, naming it in the text
        if exc.errno != errno.ENOSPC and "No space left on device" not in str(exc):
            raise
        raise TrainingError(no_space_message(need_bytes, folder)) from exc


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
    try:
        tmp.write_text(f"{file_sha256(path)}  {path.name}\n")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        raise TrainingError(
            f"checkpoint {src} does not match its checksum {checksum_path(src)}: it is damaged. "
            f"Rerun the training job, which trains that epoch again"
        )
    os.replace(tmp, dest)
