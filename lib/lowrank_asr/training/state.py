"""Resume state of a training run, kept apart from Snakemake's outputs.

Snakemake deletes a job's declared outputs before it reruns the job, so the resumable copy of everything
(weights per finished epoch, optimizer slots, history) lives in a state directory whose name includes a hash of
the run's settings: a changed config starts afresh, an unchanged one continues after the last complete epoch.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

HISTORY_COLUMNS = ("epoch", "train_loss", "dev_loss", "dev_wer", "learning_rate", "steps", "seconds")


class TrainingState:
    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def match_inputs(self, paths: list[str]) -> bool:
        """Forget saved epochs when the input files changed since they were trained (size or mtime).

        Returns True when the state was kept. The first call records the inputs.
        """
        current = {str(p): [os.path.getsize(p), int(os.path.getmtime(p))] for p in sorted(map(str, paths))}
        record = self.dir / "inputs.json"
        if record.is_file() and json.loads(record.read_text()) != current:
            shutil.rmtree(self.dir)
            self.dir.mkdir(parents=True)
            kept = False
        else:
            kept = True
        record.write_text(json.dumps(current, indent=1))
        return kept

    # epoch weights ---------------------------------------------------------------------------------------
    def weights_path(self, epoch: int) -> Path:
        return self.dir / f"epoch_{epoch:03d}.weights.h5"

    def optimizer_path(self) -> Path:
        return self.dir / "optimizer.h5"

    def marker_path(self) -> Path:
        return self.dir / "last_epoch.json"

    def last_complete_epoch(self) -> int:
        """The last epoch whose weights, optimizer state and history row were all written (0 if none)."""
        if not self.marker_path().is_file():
            return 0
        epoch = int(json.loads(self.marker_path().read_text())["epoch"])
        if not self.weights_path(epoch).is_file() or not self.optimizer_path().is_file():
            return 0
        return epoch

    def mark_complete(self, epoch: int) -> None:
        """Written last, atomically: a crash before this leaves the previous epoch as the resume point."""
        tmp = self.marker_path().with_suffix(".tmp")
        tmp.write_text(json.dumps({"epoch": epoch}))
        os.replace(tmp, self.marker_path())

    # optimizer ---------------------------------------------------------------------------------------------
    def save_optimizer(self, optimizer) -> None:
        tmp = self.optimizer_path().with_suffix(".tmp")
        with h5py.File(tmp, "w") as f:
            for i, var in enumerate(optimizer.variables):
                f.create_dataset(f"{i:05d}", data=np.asarray(var.numpy()))
                f[f"{i:05d}"].attrs["name"] = var.path if hasattr(var, "path") else var.name
        os.replace(tmp, self.optimizer_path())

    def load_optimizer(self, optimizer) -> None:
        with h5py.File(self.optimizer_path(), "r") as f:
            keys = sorted(f.keys())
            if len(keys) != len(optimizer.variables):
                raise RuntimeError(
                    f"{self.optimizer_path()} holds {len(keys)} optimizer variables but the optimizer has "
                    f"{len(optimizer.variables)}; delete {self.dir} to start this training afresh"
                )
            for key, var in zip(keys, optimizer.variables, strict=True):
                var.assign(f[key][()])

    # history -----------------------------------------------------------------------------------------------
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


def publish(src: Path, dest: str | Path) -> None:
    """Place a finished artefact at its output path (hard link when possible, else a copy), atomically."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
