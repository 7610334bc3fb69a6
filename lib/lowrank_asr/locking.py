"""The per-variant trainer lock: taken by the trainer, probed by the workflow before Snakemake touches outputs.

A trainer holds an exclusive ``flock`` on ``results/.train_state/<variant>/train.lock`` for its whole life (the
kernel drops it when the process dies) and writes its PID into the file. A refusal inside the job comes too late
to protect anything: Snakemake deletes a job's declared outputs before the job starts and again after it fails,
and those are the outputs the running trainer has published. So the workflow also probes the lock while it
builds the DAG (``check_free``), before any job is prepared. Light enough for that: no TensorFlow, no files
created.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from lowrank_asr.errors import TrainingError

LOCK_NAME = "train.lock"
# A probe holds a shared lock for microseconds; a trainer that meets one retries for this long before it
# concludes that another trainer holds the lock.
ACQUIRE_PATIENCE_S = 2.0
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


def held_message(path: str | Path, holder: str) -> str:
    return (
        f"another training process (PID {holder}) holds the lock {path}: it is still training this variant. "
        f"Wait for it to finish, or stop it (kill {holder}) and rerun"
    )


def _recorded_pid(fd: int) -> str:
    return os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"


def holder(path: str | Path) -> str | None:
    """The PID recorded in `path` while a live process holds its lock; None when it is free or absent."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in _BUSY:
                raise
            return _recorded_pid(fd)
        return None
    finally:
        os.close(fd)  # releases the probe's shared lock


def check_free(path: str | Path) -> None:
    """Raise TrainingError naming the holder and the remedy when a live process holds the lock `path`."""
    pid = holder(path)
    if pid is not None:
        raise TrainingError(held_message(path, pid))


@contextlib.contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` and record this process's PID in it; TrainingError when another
    process holds it (after `ACQUIRE_PATIENCE_S` of retries, which outlast any probe)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + ACQUIRE_PATIENCE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in _BUSY:
                    raise
                if time.monotonic() >= deadline:
                    raise TrainingError(held_message(path, _recorded_pid(fd))) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
