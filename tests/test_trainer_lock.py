"""A second trainer of a run, from a second `snakemake --nolock`, harms nothing that the first has published.

Snakemake deletes a job's outputs before the job starts and after it fails, so a trainer that loses the lock
inside its job has already cost the winner its outputs. The workflow therefore probes the lock while it builds
the DAG; these tests hold the lock in a helper process (as a running trainer does) and run Snakemake beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lowrank_asr import locking
from lowrank_asr.errors import TrainingError
from lowrank_asr.training.loop import republish_missing
from lowrank_asr.training.state import TrainingState

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.yaml"

HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from lowrank_asr.locking import exclusive

    with exclusive(sys.argv[2]):
        print("locked", flush=True)
        time.sleep(600)
""")


@pytest.fixture
def held_lock(tmp_path):
    """(lock path, holder process): another process holds the ctc run's lock, as its running trainer would."""
    lock = tmp_path / "ws" / "results" / ".train_state" / "ctc" / locking.LOCK_NAME
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ROOT / "lib"), str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield lock, proc
    finally:
        proc.kill()
        proc.wait()


def test_probe_names_the_holder_and_leaves_the_lock_to_it(held_lock, tmp_path) -> None:
    lock, proc = held_lock
    assert locking.holder(lock) == str(proc.pid)
    with pytest.raises(TrainingError, match=rf"PID {proc.pid}\) holds the lock {lock}.*kill {proc.pid}"):
        locking.check_free(lock)
    with pytest.raises(TrainingError, match=rf"PID {proc.pid}"), locking.exclusive(lock):
        pass
    assert lock.read_text().strip() == str(proc.pid)  # the loser did not overwrite the holder's PID
    absent = tmp_path / "none" / locking.LOCK_NAME
    assert locking.holder(absent) is None and not absent.parent.exists()  # probing creates nothing
    free = tmp_path / "free.lock"
    with locking.exclusive(free):
        assert free.read_text().strip() == str(os.getpid())
    assert locking.holder(free) is None  # released with its descriptor


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--configfile", str(SMOKE), "--directory", str(workdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_second_snakemake_refuses_before_deleting_the_running_trainers_outputs(held_lock) -> None:
    lock, proc = held_lock
    workspace = lock.parents[3]
    published = {
        workspace / "results" / "models" / "ctc" / name: name.encode()
        for name in ("epoch_000.weights.h5", "epoch_001.weights.h5", "history.csv")
    }
    for path, content in published.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    target = "results/models/ctc/history.csv"
    result = snakemake(workspace, target, "--cores", "1", "--nolock")
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"another training process (PID {proc.pid}) holds the lock" in text and f"kill {proc.pid}" in text
    assert {path: path.read_bytes() for path in published} == published  # the running trainer's files stay
    # a dry run warns and still shows the plan
    result = snakemake(workspace, target, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Warning: another training process (PID {proc.pid})" in result.stdout + result.stderr
    # once the trainer is gone, the same command gets past the check (a dry run, to stay cheap)
    proc.kill()
    proc.wait()
    result = snakemake(workspace, target, "-n")
    assert result.returncode == 0 and "another training process" not in result.stdout + result.stderr


def test_outputs_deleted_during_training_are_published_again(tmp_path) -> None:
    state = TrainingState(tmp_path / "state")
    for epoch in (0, 1, 2):
        state.weights_path(epoch).write_bytes(f"weights {epoch}".encode())
    state.history_path().write_text("epoch\n1\n2\n")
    outputs = [tmp_path / "out" / f"epoch_{e:03d}.weights.h5" for e in (1, 2)]
    init, history = tmp_path / "out" / "epoch_000.weights.h5", tmp_path / "out" / "history.csv"
    outputs[1].parent.mkdir()
    outputs[1].write_bytes(b"weights 2")  # intact: left alone
    history.write_text("epoch\n")  # cut: published again
    assert republish_missing(state, outputs, init, history) == [outputs[0], init, history]
    assert [p.read_bytes() for p in (*outputs, init)] == [b"weights 1", b"weights 2", b"weights 0"]
    assert history.read_text() == "epoch\n1\n2\n"
    assert republish_missing(state, outputs, init, history) == []
