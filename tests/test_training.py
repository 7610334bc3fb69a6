"""Training loop: deterministic, resumable after SIGKILL, guarded against non-finite losses.

Every run trains the tiny model of config/smoke.yaml (with SpecAugment and dropout on, so the model's own
random streams matter, and precise batch norm on) on 8 utterances of eSpeak NG speech (``speech_corpus`` in conftest.py), 2 batches per
epoch. The reference run is a separate process (as Snakemake would start it); the runs compared with it run
in this process or in other processes, so equality holds across processes, not only within one.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.config_files import section_with_defaults
from lowrank_asr.errors import TrainingError
from lowrank_asr.models import build_model
from lowrank_asr.training import TrainSettings, run_training
from lowrank_asr.training import loop as training_loop
from lowrank_asr.training.loop import configure_determinism
from lowrank_asr.training.optimizer import Adam
from lowrank_asr.training.state import (
    HISTORY_COLUMNS,
    TrainingState,
    checkpoint_problem,
    publish,
    write_checksum,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 7
EPOCHS = 3
MODEL = {
    "blocks": [
        {"layers": 1, "channels": 32, "stride": 1, "repeat": 1},
        {"layers": 2, "channels": 32, "stride": 2, "repeat": 1},
        {"layers": 1, "channels": 48, "stride": 2, "repeat": 1},
    ],
    "embed_dim": 16,
    "pred_units": 32,
    "joint_units": 32,
    "dropout": 0.1,
    "specaugment": {"enabled": True, "freq_masks": 2, "freq_width": 8, "time_masks": 2, "time_ratio": 0.1},
}
# the train job's complete `training` params (the schema's defaults filled in; train_job_settings' two keys)
TRAINING = {
    **section_with_defaults(
        "training",
        {
            "epochs": EPOCHS,
            "batch_size": 4,
            "clip_norm": 5.0,
            "precise_bn_batches": 2,
            "dev_max_symbols_per_step": 3,
            "learning_rate": {"schedule": "transformer", "peak": 0.002, "warmup_steps": 4},
        },
    ),
    "evaluation_batch_seconds": None,
    "skip_over_budget": False,
}

# A training job as workflow_scripts/train.py runs it, in its own process. Test hooks: every epoch that
# Trainer.train_epoch starts is appended to the journal, and with "hang_epoch" the training data of that
# epoch blocks before its second batch (after touching the "hanging" flag), so the job can be killed in the
# middle of that epoch, with one optimizer step of it taken in memory and nothing of it on disk.
DRIVER = textwrap.dedent("""
    import json, logging, sys, time
    from pathlib import Path

    job = json.loads(Path(sys.argv[1]).read_text())
    sys.path.insert(0, job["lib"])
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    import tensorflow as tf
    from lowrank_asr.training import TrainSettings, run_training
    from lowrank_asr.training import loop

    def gate(index):
        if index >= 1:
            Path(job["hanging"]).touch()
            time.sleep(600)
        return index

    def hang_before_second_batch(dataset):
        def gated(index, batch):
            index = tf.numpy_function(gate, [index], tf.int64, stateful=True)
            with tf.control_dependencies([index]):
                return {key: tf.identity(value) for key, value in batch.items()}
        return dataset.enumerate().map(gated)

    original_train_epoch = loop.Trainer.train_epoch

    def train_epoch(self, dataset, epoch, progress):
        with open(job["journal"], "a") as f:
            f.write(f"{epoch}\\n")
        if epoch == job.get("hang_epoch"):
            dataset = hang_before_second_batch(dataset)
        return original_train_epoch(self, dataset, epoch, progress)

    loop.Trainer.train_epoch = train_epoch
    run_training(model_cfg=job["model"], vocab_path=job["vocab"], train_files=job["train"], dev_files=job["dev"],
                 settings=TrainSettings.from_config(job["training"], seed=job["seed"], max_duration=None,
                                                    skip_bad_audio=False),
                 state_dir=job["state_dir"], epoch_outputs=job["epoch_outputs"],
                 history_output=job["history_output"], progress=False)
""")


@dataclass(frozen=True)
class Layout:
    """Where one training job keeps its resume state and publishes its outputs (like the train rule)."""

    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "state" / "train-abc123"

    @property
    def out_dir(self) -> Path:
        return self.root / "results" / "models" / "tiny"

    @property
    def epoch_outputs(self) -> list[Path]:
        return [self.out_dir / f"epoch_{e:03d}.weights.h5" for e in range(1, EPOCHS + 1)]

    @property
    def history_output(self) -> Path:
        return self.out_dir / "history.csv"

    @property
    def journal(self) -> Path:
        return self.root / "journal.txt"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    def trained_epochs(self) -> list[int]:
        return [int(line) for line in self.journal.read_text().split()] if self.journal.exists() else []


def settings(**training) -> TrainSettings:
    return TrainSettings.from_config(
        {**TRAINING, **training}, seed=SEED, max_duration=None, skip_bad_audio=False
    )


def start_job(corpus, layout: Layout, *, hang_epoch: int | None = None) -> subprocess.Popen:
    layout.root.mkdir(parents=True, exist_ok=True)
    driver = layout.root / "driver.py"
    driver.write_text(DRIVER)
    job = {
        "lib": str(ROOT / "lib"),
        "model": MODEL,
        "training": TRAINING,
        "seed": SEED,
        "vocab": str(corpus.vocab_path),
        "train": corpus.shards,
        "dev": corpus.shards[:1],
        "state_dir": str(layout.state_dir),
        "epoch_outputs": [str(p) for p in layout.epoch_outputs],
        "history_output": str(layout.history_output),
        "journal": str(layout.journal),
        "hang_epoch": hang_epoch,
        "hanging": str(layout.root / "hanging"),
    }
    (layout.root / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with layout.log.open("a") as log:
        return subprocess.Popen(
            [sys.executable, str(driver), str(layout.root / "job.json")],
            cwd=layout.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def finish_job(proc: subprocess.Popen, layout: Layout, timeout: float = 480) -> None:
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        stop(proc)
    assert rc == 0, f"training job failed (exit {rc}):\n{layout.log.read_text()[-4000:]}"


def train_in_process(corpus, layout: Layout, init_output: Path | None = None, **training) -> list[dict]:
    s = settings(**training)
    return run_training(
        model_cfg=MODEL,
        vocab_path=corpus.vocab_path,
        train_files=corpus.shards,
        dev_files=corpus.shards[:1],
        settings=s,
        state_dir=layout.state_dir,
        epoch_outputs=layout.epoch_outputs[: s.epochs],
        history_output=layout.history_output,
        progress=False,
        init_output=init_output,
    )


def arrays(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file by its path inside the file."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
        )
    return out


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = arrays(a), arrays(b)
    assert wa.keys() == wb.keys()
    assert len(wa) > 30  # every variable of the model, not an empty file
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=f"{key} differs between {a} and {b}")


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(speech_corpus, tmp_path_factory) -> Layout:
    """An uninterrupted run of all epochs in its own process."""
    layout = Layout(tmp_path_factory.mktemp("reference"))
    finish_job(start_job(speech_corpus, layout), layout)
    return layout


# ------------------------------------------------------------------------------------------------ settings
def test_settings_from_config() -> None:
    training = {
        **TRAINING,
        "epochs": 4,
        "batch_size": 16,
        "learning_rate": {"schedule": "constant", "peak": 1e-3, "warmup_steps": 0},
        "clip_norm": 2.5,
        "max_steps_per_epoch": 10,
        "dev_max_symbols_per_step": 2,
    }
    s = TrainSettings.from_config(training, seed=3, max_duration=12.5, skip_bad_audio=False)
    assert (s.epochs, s.batch_size, s.seed, s.clip_norm, s.max_steps_per_epoch) == (4, 16, 3, 2.5, 10)
    assert s.learning_rate == training["learning_rate"]
    assert (s.max_duration, s.dev_max_symbols_per_step, s.mixed_precision) == (12.5, 2, False)


def test_epoch_outputs_must_match_epochs(speech_corpus, tmp_path) -> None:
    with pytest.raises(ValueError, match="2 epoch outputs for 3 epochs"):
        run_training(
            model_cfg=MODEL,
            vocab_path=speech_corpus.vocab_path,
            train_files=speech_corpus.shards,
            dev_files=speech_corpus.shards,
            settings=settings(),
            state_dir=tmp_path / "state",
            epoch_outputs=[tmp_path / "a.weights.h5", tmp_path / "b.weights.h5"],
            history_output=tmp_path / "history.csv",
            progress=False,
        )


def test_configure_determinism_seeds_everything() -> None:
    def draw() -> tuple:
        return (
            tf.random.uniform([4]).numpy().tolist(),
            np.random.rand(3).tolist(),
            keras.random.normal([2], seed=keras.random.SeedGenerator()).numpy().tolist(),
        )

    configure_determinism(123)
    first = draw()
    configure_determinism(123)
    assert draw() == first
    configure_determinism(124)
    assert draw() != first
    from tensorflow.python.framework import config as tf_config

    assert tf_config.is_op_determinism_enabled()


# ------------------------------------------------------------------------------------------------- state
def checkpoint(path: Path, variables: int = 3) -> Path:
    """A sound checkpoint: an HDF5 file of `variables` arrays and its checksum."""
    with h5py.File(path, "w") as f:
        for i in range(variables):
            f.create_dataset(f"{i:05d}", data=np.arange(4.0) + i)
    write_checksum(path)
    return path


def truncate(path: Path) -> None:
    """Damage a file in place, as an interrupted copy or a full disk would."""
    os.truncate(path, os.path.getsize(path) // 2)


def history_rows(epochs: int) -> list[dict]:
    """Well-formed history rows of epochs 1..`epochs`."""
    return [{key: "0.5" for key in HISTORY_COLUMNS} | {"epoch": e, "steps": 3} for e in range(1, epochs + 1)]


def test_resume_point_needs_sound_checkpoints(tmp_path, caplog) -> None:
    state = TrainingState(tmp_path / "state")
    assert state.last_complete_epoch() == 0
    state.write_history(history_rows(2))
    state.mark_complete(2)
    assert state.last_complete_epoch() == 0  # marker without the files it promises
    for epoch in (1, 2):
        checkpoint(state.weights_path(epoch))
    assert state.last_complete_epoch() == 0  # no optimizer state for epoch 2
    checkpoint(state.optimizer_path(2))
    assert state.last_complete_epoch() == 2
    assert state.last_complete_epoch(weight_count=3, optimizer_count=3) == 2
    assert state.last_complete_epoch(weight_count=4) == 0  # a variable missing from every weights file
    assert not list(state.dir.glob("*.tmp"))

    # a damaged optimizer file of epoch 2: back to epoch 1, whose optimizer state is kept too
    checkpoint(state.optimizer_path(1))
    truncate(state.optimizer_path(2))
    with caplog.at_level("WARNING"):
        assert state.last_complete_epoch() == 1
    assert str(state.optimizer_path(2)) in caplog.text
    # damaged weights of epoch 1: epochs 1 and 2 are trained again, although epoch 2's weights are sound
    checkpoint(state.optimizer_path(2))
    state.weights_path(1).write_bytes(state.weights_path(1).read_bytes().replace(b"\x00", b"\x01", 8))
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert state.last_complete_epoch() == 0
    assert str(state.weights_path(1)) in caplog.text and "SHA-256" in caplog.text
    # a file without its checksum is not trusted either
    checkpoint(state.weights_path(1))
    state.weights_path(2).with_name(state.weights_path(2).name + ".sha256").unlink()
    assert state.last_complete_epoch() == 1


def test_changed_inputs_forget_saved_epochs(tmp_path) -> None:
    data = tmp_path / "train.tfrecord"
    data.write_bytes(b"one")
    state = TrainingState(tmp_path / "state")
    with state.lock():
        assert state.match_inputs([str(data)])
        checkpoint(state.weights_path(1))
        checkpoint(state.optimizer_path(1))
        state.write_history(history_rows(1))
        state.mark_complete(1)
        assert state.match_inputs([str(data)])
        assert state.last_complete_epoch() == 1
        data.write_bytes(b"other size")
        assert not state.match_inputs([str(data)])
        assert state.last_complete_epoch() == 0 and not state.weights_path(1).exists()
        assert sorted(p.name for p in state.dir.iterdir()) == ["inputs.json", "train.lock"]  # lock kept


def test_publish_copies_and_checks_the_checksum(tmp_path) -> None:
    src = checkpoint(tmp_path / "epoch_001.weights.h5")
    dest = tmp_path / "out" / "epoch_001.weights.h5"
    publish(src, dest)
    assert dest.read_bytes() == src.read_bytes() and os.stat(dest).st_ino != os.stat(src).st_ino
    truncate(dest)  # damage to an output stays there
    assert checkpoint_problem(src, 3) is None
    publish(src, dest)
    assert dest.read_bytes() == src.read_bytes()
    truncate(src)
    with pytest.raises(TrainingError, match=f"checkpoint {src} does not match its checksum"):
        publish(src, dest)
    assert dest.read_bytes() != src.read_bytes() and not list(dest.parent.glob("*.tmp"))


def test_loading_a_damaged_weights_file_names_it_and_the_remedy(tmp_path) -> None:
    from lowrank_asr.errors import PipelineError
    from lowrank_asr.models import build_model, load_weights, save_weights

    model = build_model(MODEL, 10)
    output = tmp_path / "results" / "models" / "tiny" / "epoch_001.weights.h5"
    state_file = tmp_path / "results" / ".train_state" / "tiny" / "abc" / "epoch_001.weights.h5"
    for path in (output, state_file):
        save_weights(model, path)
        load_weights(model, path)
        truncate(path)
    with pytest.raises(
        PipelineError,
        match=rf"weights file {output} is damaged .*delete it and rerun "
        rf"`snakemake {output}`",
    ):
        load_weights(model, output)
    with pytest.raises(
        PipelineError,
        match=rf"{state_file} is damaged .*delete the training state folder "
        rf"{state_file.parent} ",
    ):
        load_weights(model, state_file)


LOCK_HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from lowrank_asr.training.state import TrainingState

    with TrainingState(sys.argv[2], lock_dir=sys.argv[3]).lock():
        print("locked", flush=True)
        time.sleep(600)
""")


def test_second_trainer_is_locked_out_until_the_first_dies(speech_corpus, tmp_path) -> None:
    # as in the pipeline: one lock per variant, above the per-config state folders
    layout = Layout(tmp_path)
    variant_dir = layout.state_dir.parent
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LOCK_HOLDER,
            str(ROOT / "lib"),
            str(variant_dir / "train-otherconfig"),
            str(variant_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            TrainingError,
            match=rf"another training process \(PID {holder.pid}\) holds the lock "
            rf"{variant_dir / 'train.lock'}.*kill {holder.pid}",
        ):
            run_training(
                model_cfg=MODEL,
                vocab_path=speech_corpus.vocab_path,
                train_files=speech_corpus.shards,
                dev_files=speech_corpus.shards[:1],
                settings=settings(),
                state_dir=layout.state_dir,
                epoch_outputs=layout.epoch_outputs,
                history_output=layout.history_output,
                progress=False,
                lock_dir=variant_dir,
            )
        assert not layout.epoch_outputs[0].exists()  # it stopped before training anything
        with TrainingState(layout.state_dir).lock():  # a lock of another folder is free
            pass
    finally:
        stop(holder)
    # the kernel released the dead holder's lock: the folder can be taken, and it now names this process
    with TrainingState(layout.state_dir, lock_dir=variant_dir).lock():
        assert (variant_dir / "train.lock").read_text().strip() == str(os.getpid())


def test_history_rows_after_resume_point_are_dropped(tmp_path) -> None:
    state = TrainingState(tmp_path)
    rows = [{key: str(e) for key in HISTORY_COLUMNS} | {"epoch": e} for e in (1, 2, 3)]
    state.write_history(rows)
    assert [int(r["epoch"]) for r in state.read_history(2)] == [1, 2]
    assert list(read_csv(state.history_path())[0]) == list(HISTORY_COLUMNS)


# ------------------------------------------------------------------------------------------ determinism
@pytest.mark.slow
def test_two_runs_give_identical_weights(speech_corpus, reference, tmp_path) -> None:
    layout = Layout(tmp_path)
    history = train_in_process(speech_corpus, layout)

    assert [int(r["epoch"]) for r in history] == [1, 2, 3]
    assert all(int(r["steps"]) == 2 for r in history)  # 8 utterances, batches of 4
    for ours, theirs in zip(layout.epoch_outputs, reference.epoch_outputs, strict=True):
        assert_same_weights(ours, theirs)
    ours_rows, ref_rows = read_csv(layout.history_output), read_csv(reference.history_output)
    for key in ("train_loss", "dev_loss", "dev_wer", "learning_rate", "steps"):
        assert [r[key] for r in ours_rows] == [r[key] for r in ref_rows], key
    # it did train: the loss fell and the weights moved
    losses = [float(r["train_loss"]) for r in ours_rows]
    assert losses[-1] < losses[0]
    first, last = arrays(layout.epoch_outputs[0]), arrays(layout.epoch_outputs[-1])
    assert any(not np.array_equal(first[k], last[k]) for k in first)


def test_initial_weights_are_published_as_epoch_zero(speech_corpus, reference, tmp_path) -> None:
    layout = Layout(tmp_path)
    init = layout.out_dir / "epoch_000.weights.h5"
    train_in_process(speech_corpus, layout, init_output=init, epochs=1, max_steps_per_epoch=1)
    # the seeded initialisation: the same in every run, and not the weights after training
    assert_same_weights(init, TrainingState(reference.state_dir).weights_path(0))
    zero, one = arrays(init), arrays(layout.epoch_outputs[0])
    assert any(not np.array_equal(zero[k], one[k]) for k in zero)
    # a rerun after Snakemake deleted the outputs publishes the kept epoch 0 again, unchanged
    init.unlink()
    train_in_process(speech_corpus, layout, init_output=init, epochs=1, max_steps_per_epoch=1)
    assert_same_weights(init, TrainingState(reference.state_dir).weights_path(0))


# ---------------------------------------------------------------------------------------------- resuming
@pytest.mark.slow
def test_killed_run_resumes_after_last_complete_epoch(speech_corpus, reference, tmp_path) -> None:
    layout = Layout(tmp_path)
    state = TrainingState(layout.state_dir)
    proc = start_job(speech_corpus, layout, hang_epoch=2)
    try:
        deadline = time.monotonic() + 300
        while not (layout.root / "hanging").exists():
            assert proc.poll() is None, f"job ended before epoch 2:\n{layout.log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, "job never reached epoch 2"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        stop(proc)

    # killed in epoch 2: epoch 1 is complete in the state directory and published; nothing of epoch 2 is
    assert layout.trained_epochs() == [1, 2]
    assert state.last_complete_epoch() == 1
    assert not state.weights_path(2).exists() and not layout.epoch_outputs[1].exists()
    assert layout.epoch_outputs[0].exists()
    epoch1_row = read_csv(layout.history_output)
    assert [r["epoch"] for r in epoch1_row] == ["1"]
    epoch1_file = os.stat(state.weights_path(1))
    # Snakemake deletes the outputs of a failed job before it runs it again; the state lives elsewhere
    for path in layout.out_dir.iterdir():
        path.unlink()

    layout.journal.unlink()
    finish_job(start_job(speech_corpus, layout), layout)

    assert layout.trained_epochs() == [2, 3]  # epoch 1 was not trained again
    assert "resuming after epoch 1" in layout.log.read_text()
    after = os.stat(state.weights_path(1))
    assert (after.st_ino, after.st_mtime_ns) == (epoch1_file.st_ino, epoch1_file.st_mtime_ns)
    history = read_csv(layout.history_output)
    assert [r["epoch"] for r in history] == ["1", "2", "3"]
    assert history[0] == epoch1_row[0]  # carried over (with its wall time), not recomputed
    assert state.last_complete_epoch() == EPOCHS
    # the interrupted-and-resumed job ends exactly where the uninterrupted one does, epoch by epoch
    for ours, theirs in zip(layout.epoch_outputs, reference.epoch_outputs, strict=True):
        assert_same_weights(ours, theirs)
    ref_history = read_csv(reference.history_output)
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in ref_history]


# ------------------------------------------------------------------------------------------- NaN guard
class JumpSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A small learning rate for the first `steps` optimizer steps, then an absurd one."""

    def __init__(self, steps: int, high: float):
        self.steps, self.high = steps, high

    def __call__(self, step):
        return tf.where(tf.cast(step, tf.int64) < self.steps, 1e-3, self.high)

    def get_config(self) -> dict:
        return {"steps": self.steps, "high": self.high}


@pytest.mark.slow
def test_non_finite_loss_stops_training_and_keeps_earlier_epochs(
    speech_corpus, tmp_path, monkeypatch
) -> None:
    # Epoch 1 (optimizer steps 0 and 1) trains normally; epoch 2's first step applies a learning rate of 1e30,
    # so the loss of its second step is not finite.
    monkeypatch.setattr(training_loop, "make_schedule", lambda spec, d_model: JumpSchedule(2, 1e30))
    layout = Layout(tmp_path)
    with pytest.raises(TrainingError, match=r"non-finite training loss \((nan|inf)\) at epoch 2, step 2\b"):
        train_in_process(speech_corpus, layout)

    state = TrainingState(layout.state_dir)
    assert state.last_complete_epoch() == 1
    assert layout.epoch_outputs[0].exists()
    assert not layout.epoch_outputs[1].exists() and not state.weights_path(2).exists()
    assert_same_weights(layout.epoch_outputs[0], state.weights_path(1))
    assert all(np.isfinite(a).all() for a in arrays(layout.epoch_outputs[0]).values())
    history = read_csv(layout.history_output)
    assert [r["epoch"] for r in history] == ["1"] and np.isfinite(float(history[0]["train_loss"]))


# ------------------------------------------------------------------------------------- damaged checkpoints
def copy_of(layout: Layout, root: Path) -> Layout:
    """The state and outputs of `layout` under `root`, at the same relative paths."""
    copy = Layout(root)
    shutil.copytree(layout.state_dir, copy.state_dir)
    shutil.copytree(layout.out_dir, copy.out_dir)
    return copy


@pytest.fixture
def trained_epochs(monkeypatch) -> list[int]:
    """The epochs that in-process runs train (appended as Trainer.train_epoch starts each)."""
    epochs: list[int] = []
    original = training_loop.Trainer.train_epoch

    def train_epoch(self, dataset, epoch, progress):
        epochs.append(epoch)
        return original(self, dataset, epoch, progress)

    monkeypatch.setattr(training_loop.Trainer, "train_epoch", train_epoch)
    return epochs


@pytest.mark.slow
def test_truncated_output_leaves_resume_state_intact(
    speech_corpus, reference, tmp_path, trained_epochs
) -> None:
    layout = copy_of(reference, tmp_path)
    state = TrainingState(layout.state_dir)
    truncate(layout.epoch_outputs[0])  # in place, as an editor or a full disk would

    assert checkpoint_problem(state.weights_path(1)) is None
    assert_same_weights(state.weights_path(1), reference.epoch_outputs[0])
    # the job run again (Snakemake reruns it once the damaged output is deleted, or with --force) resumes
    # after the last epoch, trains nothing and publishes the sound copy
    train_in_process(speech_corpus, layout)
    assert trained_epochs == []
    for ours, theirs in zip(layout.epoch_outputs, reference.epoch_outputs, strict=True):
        assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.slow
def test_damaged_resume_checkpoint_is_named_and_trained_again(
    speech_corpus, reference, tmp_path, caplog, trained_epochs
) -> None:
    layout = copy_of(reference, tmp_path)
    state = TrainingState(layout.state_dir)
    damaged = state.weights_path(2)
    truncate(damaged)

    with caplog.at_level("WARNING"):
        history = train_in_process(speech_corpus, layout)
    assert f"damaged checkpoint {damaged}" in caplog.text
    assert trained_epochs == [2, 3]  # from the last good epoch on
    assert checkpoint_problem(damaged) is None
    assert [r["epoch"] for r in read_csv(layout.history_output)] == ["1", "2", "3"] and len(history) == 3
    for ours, theirs in zip(layout.epoch_outputs, reference.epoch_outputs, strict=True):
        assert_same_weights(ours, theirs)  # exact: epoch 1's optimizer state was kept


@pytest.mark.slow
def test_damaged_marker_and_history_are_rebuilt_by_the_training_job(
    speech_corpus, reference, tmp_path, caplog, trained_epochs
) -> None:
    layout = copy_of(reference, tmp_path)
    state = TrainingState(layout.state_dir)
    state.marker_path().write_text('{"epo')
    with caplog.at_level("WARNING"):
        train_in_process(speech_corpus, layout)
    assert f"damaged training state file {state.marker_path()}" in caplog.text
    assert trained_epochs == []  # every checkpoint is sound: the marker is rebuilt, nothing trained again
    assert layout.history_output.read_bytes() == reference.history_output.read_bytes()

    history = state.history_path().read_text()
    state.history_path().write_text(history[: history.index("\n2,") + 10])  # cut inside epoch 2's row
    with caplog.at_level("WARNING"):
        train_in_process(speech_corpus, layout)
    assert str(state.history_path()) in caplog.text
    assert trained_epochs == [2, 3]  # from the last epoch whose row is sound
    published = read_csv(layout.history_output)
    assert [r["epoch"] for r in published] == ["1", "2", "3"]
    assert all(row[key] for row in published for key in HISTORY_COLUMNS)  # no blank cells
    for ours, theirs in zip(published, read_csv(reference.history_output), strict=True):
        assert {k: ours[k] for k in ("train_loss", "dev_loss", "dev_wer")} == {
            k: theirs[k] for k in ("train_loss", "dev_loss", "dev_wer")
        }
    for ours, theirs in zip(layout.epoch_outputs, reference.epoch_outputs, strict=True):
        assert_same_weights(ours, theirs)


# ------------------------------------------------------------------------------------- precise batch norm
# SpecAugment and dropout off, so that the training-mode loss is the batch-statistics loss of the same input
PLAIN = {**MODEL, "dropout": 0.0, "specaugment": {**MODEL["specaugment"], "enabled": False}}


@dataclass(frozen=True)
class BatchNormRuns:
    off: Path  # epoch-1 weights trained with precise_bn_batches 0
    on: Path  # ... and with 2
    settings: TrainSettings


@pytest.fixture(scope="module")
def batchnorm_runs(speech_corpus, tmp_path_factory) -> BatchNormRuns:
    outputs = {}
    for name, batches in (("off", 0), ("on", 2)):
        root = tmp_path_factory.mktemp(f"precise_bn_{name}")
        s = TrainSettings.from_config(
            {**TRAINING, "epochs": 1, "precise_bn_batches": batches},
            seed=SEED,
            max_duration=None,
            skip_bad_audio=False,
        )
        run_training(
            model_cfg=PLAIN,
            vocab_path=speech_corpus.vocab_path,
            train_files=speech_corpus.shards,
            dev_files=speech_corpus.shards[:1],
            settings=s,
            state_dir=root / "state",
            epoch_outputs=[root / "epoch_001.weights.h5"],
            history_output=root / "history.csv",
            progress=False,
        )
        outputs[name] = root / "epoch_001.weights.h5"
    return BatchNormRuns(outputs["off"], outputs["on"], s)


def plain_model(corpus, weights: Path):
    from lowrank_asr.models import build_model, load_weights
    from lowrank_asr.text.vocabulary import load_vocabulary

    model = build_model(PLAIN, load_vocabulary(corpus.vocab_path).size)
    load_weights(model, weights)
    return model


def precise_batches(corpus, s: TrainSettings) -> list[dict]:
    from lowrank_asr.text.vocabulary import load_vocabulary

    return list(training_loop.precise_bn_dataset(corpus.shards, load_vocabulary(corpus.vocab_path), s))


@pytest.mark.slow
def test_precise_batchnorm_saves_the_statistics_of_its_batches(
    speech_corpus, batchnorm_runs, monkeypatch
) -> None:
    model = plain_model(speech_corpus, batchnorm_runs.on)
    bn = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bn) == 5  # one per conv layer (4) and the residual of the two-layer block
    saved = {layer.path: (layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in bn}

    off = plain_model(speech_corpus, batchnorm_runs.off)
    off_stats = {
        layer.path: layer.moving_mean.numpy()
        for layer in off._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
    }

    # every BN layer's input frames in a batch-statistics forward pass over the same batches (eager, numpy)
    frames: dict[str, list[np.ndarray]] = {path: [] for path in saved}
    layer_type = type(bn[0])  # the model's BN class (a keras.layers.BatchNormalization)
    original = layer_type.call

    def capture(self, inputs, training=None, mask=None, weight=None):
        valid = mask.numpy() if weight is None else weight.numpy()[..., 0] > 0
        frames[self.path].append(inputs.numpy()[valid].astype(np.float64))
        return original(self, inputs, training=training, mask=mask, weight=weight)

    monkeypatch.setattr(layer_type, "call", capture)
    batches = precise_batches(speech_corpus, batchnorm_runs.settings)
    assert len(batches) == 2
    for batch in batches:
        x, x_len = model.featurize(batch["audio"], batch["audio_len"])
        model.encode(x, x_len, training=True)

    for path, (mean, variance) in saved.items():
        pooled = np.concatenate(frames[path])  # all valid frames of both batches; padding excluded
        assert len(frames[path]) == 2 and pooled.shape[1] == mean.shape[0]
        np.testing.assert_allclose(mean, pooled.mean(axis=0), rtol=1e-4, atol=1e-4, err_msg=path)
        np.testing.assert_allclose(variance, pooled.var(axis=0), rtol=1e-4, atol=1e-4, err_msg=path)
        # without the pass the moving mean is still near its initial zeros, far from these statistics
        assert np.abs(off_stats[path] - pooled.mean(axis=0)).max() > 1e-2, path


@pytest.mark.slow
def test_precise_batchnorm_brings_inference_loss_to_training_loss(speech_corpus, batchnorm_runs) -> None:
    off = plain_model(speech_corpus, batchnorm_runs.off)
    on = plain_model(speech_corpus, batchnorm_runs.on)
    # the pass changes nothing but the moving statistics: training was the same
    for a, b in zip(off.trainable_weights, on.trainable_weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)

    def loss(model, training: bool) -> float:
        values = []
        for batch in precise_batches(speech_corpus, batchnorm_runs.settings):
            x, x_len = model.featurize(batch["audio"], batch["audio_len"])
            values.append(
                model.utterance_loss(
                    x, x_len, batch["labels"], batch["label_len"], training=training, joint_chunk=None
                ).numpy()
            )
        return float(np.mean(np.concatenate(values)))

    training_mode = loss(on, training=True)  # batch statistics (no SpecAugment, no dropout in PLAIN)
    gap_off = abs(loss(off, training=False) - training_mode)
    gap_on = abs(loss(on, training=False) - training_mode)
    assert gap_on < 0.5 * gap_off, (gap_on, gap_off)


# ------------------------------------------------------------------------------------- duration budgets
def _longest(corpus) -> tuple[str, float, float]:
    from lowrank_asr.data.dataset import scan_durations

    utts = sorted(scan_durations(corpus.shards), key=lambda u: u.duration)
    return utts[-1].utt_id, utts[-1].duration, utts[-2].duration


def test_an_utterance_over_the_budget_stops_training_before_any_step(speech_corpus, tmp_path) -> None:
    from lowrank_asr.errors import ConfigError

    utt_id, longest, second = _longest(speech_corpus)
    budget = round((longest + second) / 2, 3)
    layout = Layout(tmp_path)
    with pytest.raises(ConfigError, match=f"training.batch_seconds = {budget} .* utterance {utt_id} "):
        train_in_process(speech_corpus, layout, epochs=1, batch_seconds=budget)
    assert not layout.epoch_outputs[0].exists()
    assert TrainingState(layout.state_dir).last_complete_epoch(1, 1) == 0


def test_duration_batches_train_deterministically_and_skip_what_is_over_budget(
    speech_corpus, tmp_path, caplog
) -> None:
    from lowrank_asr.data.dataset import scan_durations

    _, longest, _ = _longest(speech_corpus)
    dev = sorted(scan_durations(speech_corpus.shards[:1]), key=lambda u: u.duration)
    # training: at least two utterances a batch; dev: its longest utterance is over the budget, hence skipped
    knobs = {
        "epochs": 1,
        "batch_seconds": round(2.5 * longest, 3),
        "evaluation_batch_seconds": round((dev[-1].duration + dev[-2].duration) / 2, 3),
        "skip_over_budget": True,
    }
    runs = [Layout(tmp_path / name) for name in ("a", "b")]
    with caplog.at_level("WARNING", logger="lowrank_asr.data.dataset"):
        histories = [train_in_process(speech_corpus, layout, **knobs) for layout in runs]
    assert f"leaving out utterance {dev[-1].utt_id}" in caplog.text
    assert f"leaving out utterance {dev[-2].utt_id}" not in caplog.text
    assert histories[0] == [{**histories[1][0], "seconds": histories[0][0]["seconds"]}]
    assert_same_weights(runs[0].epoch_outputs[0], runs[1].epoch_outputs[0])


@pytest.mark.parametrize(
    "training", [{}, {"accumulate": 2}, {"mixed_precision": True}], ids=["plain", "accumulate", "mixed"]
)
def test_trainer_adam_is_bit_identical_to_keras_adam(monkeypatch, training) -> None:
    """The trainer's Adam (optimizer.py: one fused op per variable) gives Keras Adam's weights and slots
    exactly, given Keras the β's float32 values (the fused kernel forms 1 - β in float32)."""
    rng = np.random.default_rng(0)
    audio_len = tf.constant([16000, 13000, 11000, 15900])
    batch = {
        "audio": tf.constant(rng.normal(0, 0.1, (4, 16000)).astype(np.float32)),
        "audio_len": audio_len,
        "labels": tf.constant(rng.integers(1, 30, (4, 7)), tf.int32),
        "label_len": tf.constant([7, 5, 6, 2]),
    }
    data = tf.data.Dataset.from_tensors(batch).unbatch().padded_batch(2)

    def train(optimizer_class) -> list[np.ndarray]:
        monkeypatch.setattr(training_loop, "Adam", optimizer_class)
        configure_determinism(SEED)
        keras.mixed_precision.set_dtype_policy(
            "mixed_float16" if training.get("mixed_precision") else "float32"
        )
        try:
            model = build_model(MODEL, 30)
            trainer = training_loop.Trainer(
                model, settings(**training), tf.distribute.get_strategy(), d_model=48
            )
            # mixed precision: the loss scale starts at 2^15 and halves at every step with non-finite scaled
            # gradients (skipped), so it takes a few more epochs to apply more than one update
            for epoch in range(1, 9 if training.get("mixed_precision") else 4):
                trainer.train_epoch(data, epoch, progress=False)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        assert int(trainer.optimizer.iterations) > 1
        return [v.numpy() for v in [*model.weights, *trainer.optimizer.variables]]

    def keras_adam(*args, beta_1, beta_2, **kwargs):
        return keras.optimizers.Adam(
            *args, beta_1=float(np.float32(beta_1)), beta_2=float(np.float32(beta_2)), **kwargs
        )

    ours, theirs = train(Adam), train(keras_adam)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
