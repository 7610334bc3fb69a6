"""Training of one model variant: deterministic, resumable per epoch, with a guard against non-finite losses.

Per epoch the run (optionally) recomputes the batch-norm statistics (precise_bn.py), writes the weights, the
optimizer state and a history row into its state directory, marks the epoch complete, then publishes the
epoch's weights and the history at their output paths. A killed run started
again continues after the last complete epoch and ends with the same weights as an uninterrupted one, because
every source of randomness is a function of (seed, epoch): the data order and the model's own RNG streams.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from lowrank_asr.data import feasibility
from lowrank_asr.data.dataset import make_dataset
from lowrank_asr.errors import TrainingError
from lowrank_asr.evaluation.transcribe import greedy_wer
from lowrank_asr.models import build_model
from lowrank_asr.models.weights import load_weights
from lowrank_asr.text.vocabulary import load_vocabulary
from lowrank_asr.training.optimizer import Adam
from lowrank_asr.training.precise_bn import PreciseBatchNorm
from lowrank_asr.training.schedule import make_schedule
from lowrank_asr.training.state import TrainingState, checkpoint_problem, publish, write_history_csv

log = logging.getLogger(__name__)

NUMERIC_KEYS = ("audio", "audio_len", "labels", "label_len")


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    seed: int
    # the config's training section (config/schema.yaml holds every default; lowrank_asr.workflow.config.
    # train_job_settings gives the job's complete section): no defaults here
    learning_rate: dict
    clip_norm: float | None
    mixed_precision: bool
    max_steps_per_epoch: int | None
    max_duration: float | None
    dev_max_symbols_per_step: int
    precise_bn_batches: int
    joint_chunk: int | None
    accumulate: int
    # budgets of padded audio seconds per batch (training.batch_seconds, evaluation.batch_seconds for the dev
    # set); None: batches of batch_size. skip_over_budget: leave out (and log) utterances longer than a budget.
    batch_seconds: float | None
    evaluation_batch_seconds: float | None
    skip_over_budget: bool
    # devices per step (choose_strategy); None: every GPU when there are several
    replicas: int | None
    # data.on_bad_audio = skip: leave out utterances too short for their transcripts (else an error names them)
    skip_bad_audio: bool

    @classmethod
    def from_config(
        cls, training: Mapping, *, seed: int, max_duration: float | None, skip_bad_audio: bool
    ) -> TrainSettings:
        """The settings from the train job's complete ``training`` section (config/schema.yaml's defaults filled
        in, plus ``evaluation_batch_seconds`` and ``skip_over_budget``: lowrank_asr.workflow.config.
        train_job_settings); a missing key is a KeyError, not a default of its own. ``skip_bad_audio``:
        ``data.on_bad_audio == "skip"``."""
        keys = (
            "epochs",
            "batch_size",
            "learning_rate",
            "clip_norm",
            "mixed_precision",
            "max_steps_per_epoch",
            "dev_max_symbols_per_step",
            "precise_bn_batches",
            "joint_chunk",
            "accumulate",
            "batch_seconds",
            "evaluation_batch_seconds",
            "skip_over_budget",
            "replicas",
        )
        return cls(
            seed=seed,
            max_duration=max_duration,
            skip_bad_audio=skip_bad_audio,
            **{k: training[k] for k in keys},
        )


def configure_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def choose_strategy(replicas: int | None) -> tf.distribute.Strategy:
    """`training.replicas`: None, MirroredStrategy over all GPUs when more than one is visible, else the default
    (one device); N > 1, MirroredStrategy over the first N GPUs, or over N logical CPU devices where there is no
    GPU (set up with tf.config.set_logical_device_configuration before TensorFlow starts); 1, one device."""
    gpus = tf.config.list_logical_devices("GPU")
    if replicas is None:
        replicas = len(gpus) if len(gpus) > 1 else 1
    if replicas == 1:
        return tf.distribute.get_strategy()
    devices = gpus or tf.config.list_logical_devices("CPU")
    if len(devices) < replicas:
        raise TrainingError(
            f"training.replicas = {replicas}, but only {len(devices)} "
            f"{'GPU' if gpus else 'CPU'} device(s) are visible: lower it or set it to null"
        )
    names = [d.name for d in devices[:replicas]]
    log.info("training on %d replicas with MirroredStrategy: %s", replicas, ", ".join(names))
    # on CPU devices NCCL is unavailable; one reduction that works on any device
    return tf.distribute.MirroredStrategy(
        names, cross_device_ops=None if gpus else tf.distribute.ReductionToOneDevice()
    )


def reset_seed_generators(model, seed: int) -> None:
    """Restart every Keras SeedGenerator of the model (SpecAugment, dropout) from a state fixed by `seed`."""
    generators = [
        value
        for layer in model._flatten_layers()
        for value in vars(layer).values()
        if isinstance(value, keras.random.SeedGenerator)
    ]
    for index, generator in enumerate(generators):
        generator.state.assign(np.array([seed * 7919 + index, 0], dtype=generator.state.dtype))


def _unless_empty(count: tf.Tensor, grad):
    """`grad` as a dense tensor, zeros where this replica's share of the batch (`count` utterances) is empty."""
    if grad is None:
        return grad
    grad = tf.convert_to_tensor(grad)
    return tf.where(count > 0, grad, tf.zeros_like(grad))


def _numeric(batch: dict) -> dict:
    return {k: batch[k] for k in NUMERIC_KEYS}


class Trainer:
    """Owns the model, optimizer and traced steps of one run."""

    def __init__(self, model, settings: TrainSettings, strategy: tf.distribute.Strategy, d_model: int):
        self.model = model
        self.settings = settings
        self.strategy = strategy
        # Keras clips each replica's part of the gradient before it sums the parts: on several replicas the
        # steps clip the summed gradient themselves (_clip_summed), and the optimizer does not
        self._clip_in_step = settings.clip_norm if strategy.num_replicas_in_sync > 1 else None
        with strategy.scope():
            optimizer = Adam(
                make_schedule(settings.learning_rate, d_model),
                beta_1=0.9,
                beta_2=0.98,
                epsilon=1e-9,
                global_clipnorm=None if self._clip_in_step else settings.clip_norm,
            )
            if settings.mixed_precision:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(model.trainable_variables)
            if settings.accumulate < 1:
                raise ValueError(
                    f"training.accumulate must be >= 1 micro-batch per update, got {settings.accumulate}"
                )
            # gradient sums of the micro-batches of one update: per replica (ON_READ), all-reduced by
            # apply_gradients like a plain step's gradients; zero at every epoch boundary, so not saved
            self._accumulators = (
                [
                    tf.Variable(
                        tf.zeros(v.shape, v.dtype),
                        trainable=False,
                        name="accumulated_gradient",
                        synchronization=tf.VariableSynchronization.ON_READ,
                        aggregation=tf.VariableAggregation.SUM,
                    )
                    for v in model.trainable_variables
                ]
                if settings.accumulate > 1
                else []
            )
        self.optimizer = optimizer
        self._train_step: Callable | None = None
        self._apply_step: Callable | None = None
        self._loss_step: Callable | None = None
        self._precise_bn: PreciseBatchNorm | None = None

    def _clip_summed(self, grads: list) -> list:
        """In a replica context: this replica's gradients scaled so that their sum over the replicas has at most
        the global norm training.clip_norm (what the optimizer does to the whole gradient on one device)."""
        if not self._clip_in_step:
            return grads
        total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
        norm = tf.linalg.global_norm(total)
        if hasattr(self.optimizer, "dynamic_scale"):  # loss scaling: the norm of the unscaled gradient
            norm = norm / tf.cast(self.optimizer.dynamic_scale, norm.dtype)
        factor = tf.minimum(1.0, self._clip_in_step / norm)
        return [g * tf.cast(factor, g.dtype) for g in grads]

    def _per_utterance_loss(self, batch: dict, training: bool):
        x, x_len = self.model.featurize(batch["audio"], batch["audio_len"])
        return self.model.utterance_loss(
            x,
            x_len,
            batch["labels"],
            batch["label_len"],
            training=training,
            joint_chunk=self.settings.joint_chunk,
        )

    def _make_train_step(self, element_spec) -> Callable:
        """The traced step of one batch: an update, or (accumulate > 1) adding its gradients to the sums."""
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        accumulators = self._accumulators

        # The loss of an update is the mean per-utterance NLL over its utterances, whatever the batch sizes
        # (duration budgets make them vary): each batch's backward pass runs on its mean (over all replicas),
        # so mixed-precision gradients keep the magnitudes they had; accumulation multiplies that back to the
        # gradient of the summed losses, which the apply step divides by the update's utterance count.
        def replica_step(batch):
            with tf.GradientTape() as tape:
                per_utt = tf.cast(self._per_utterance_loss(batch, training=True), tf.float32)
                count = tf.cast(tf.shape(per_utt)[0], tf.float32)
                batch_count = tf.distribute.get_replica_context().all_reduce(
                    tf.distribute.ReduceOp.SUM, count
                )
                loss = tf.reduce_sum(per_utt) / batch_count
                scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
            grads = tape.gradient(scaled, model.trainable_variables)
            if strategy.num_replicas_in_sync > 1:
                # a batch of fewer utterances than replicas leaves some replica an empty share, whose gradients
                # come out NaN: it adds nothing to the sum instead
                grads = [_unless_empty(count, g) for g in grads]
            if accumulators:
                for acc, grad in zip(accumulators, grads, strict=True):
                    acc.assign_add(tf.convert_to_tensor(grad) * batch_count)
            else:
                grads = self._clip_summed(grads)
                optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return tf.reduce_sum(per_utt), count

        # One trace for every batch shape: the signature has unknown batch, time and label sizes (without
        # it each bucket's new shape would retrace the whole model, seconds per batch).
        @tf.function(input_signature=[element_spec], autograph=False)
        def step(batch):
            total, count = strategy.run(replica_step, args=(batch,))
            total = strategy.reduce(tf.distribute.ReduceOp.SUM, total, axis=None)
            count = strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None)
            return total, count

        return step

    def _make_apply_step(self) -> Callable:
        """The traced update from the accumulated gradients of summed losses ÷ the update's utterance count
        (a loss-scale optimizer unscales and checks them as it does a plain step's); the sums then restart."""
        model, optimizer, accumulators = self.model, self.optimizer, self._accumulators

        def replica_apply(count):
            grads = self._clip_summed([acc / count for acc in accumulators])
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            for acc in accumulators:
                acc.assign(tf.zeros_like(acc))

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)], autograph=False)
        def apply_step(count):
            self.strategy.run(replica_apply, args=(count,))

        return apply_step

    def _make_loss_step(self, element_spec) -> Callable:
        @tf.function(input_signature=[element_spec], autograph=False)
        def loss_step(batch):
            return self._per_utterance_loss(batch, training=False)

        return loss_step

    def train_epoch(self, dataset: tf.data.Dataset, epoch: int, progress: bool) -> tuple[float, int]:
        """One pass over `dataset` → (mean training loss, optimizer updates). With training.accumulate = k an
        update takes k batches (the epoch's last update the batches left over); max_steps_per_epoch counts
        updates."""
        dist = self.strategy.experimental_distribute_dataset(dataset.map(_numeric))
        if self._train_step is None:
            self._train_step = self._make_train_step(dist.element_spec)
        if self._accumulators and self._apply_step is None:
            self._apply_step = self._make_apply_step()
        per_update = self.settings.accumulate
        total, count, batches, updates = 0.0, 0.0, 0, 0
        pending = 0.0  # utterances accumulated towards the next update
        limit = self.settings.max_steps_per_epoch
        bar = tqdm(
            desc=f"epoch {epoch}",
            unit="batch",
            disable=not progress,
            mininterval=5,
            total=limit * per_update if limit else None,
        )
        for batches, batch in enumerate(dist, start=1):
            batch_total, batch_count = self._train_step(batch)
            batch_total, batch_count = float(batch_total), float(batch_count)
            if not math.isfinite(batch_total):
                raise TrainingError(
                    f"non-finite training loss ({batch_total}) at epoch {epoch}, step {batches}; epochs before "
                    f"{epoch} are kept. Lower training.learning_rate.peak or set training.clip_norm"
                )
            total += batch_total
            count += batch_count
            pending += batch_count
            if batches % per_update == 0:
                updates += 1
                if self._apply_step is not None:
                    self._apply_step(tf.constant(pending, tf.float32))
                pending = 0.0
            bar.update(1)
            bar.set_postfix(loss=f"{total / count:.3f}", lr=f"{self.learning_rate():.2e}")
            if limit and updates >= limit:
                break
        if batches % per_update:  # the epoch's last, shorter accumulation
            updates += 1
            self._apply_step(tf.constant(pending, tf.float32))
        bar.close()
        if batches == 0:
            raise TrainingError(f"epoch {epoch} saw no training batch: is the training split empty?")
        return total / count, updates

    def mean_loss(self, dataset: tf.data.Dataset) -> float:
        dataset = dataset.map(_numeric)
        if self._loss_step is None:
            self._loss_step = self._make_loss_step(dataset.element_spec)
        values = [self._loss_step(batch).numpy() for batch in dataset]
        return float(np.mean(np.concatenate(values))) if values else float("nan")

    def recompute_batchnorm(self, dataset: tf.data.Dataset) -> int:
        """Precise batch norm over `dataset` (see precise_bn.py); returns the number of batches used."""
        dataset = dataset.map(_numeric)
        if self._precise_bn is None:
            self._precise_bn = PreciseBatchNorm(self.model, dataset.element_spec)
        return self._precise_bn.recompute(dataset)

    def learning_rate(self) -> float:
        opt = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        lr = opt.learning_rate
        # through a tensor: a constant rate is a variable, mirrored under MirroredStrategy (no float() of it)
        return float(tf.convert_to_tensor(lr(opt.iterations) if callable(lr) else lr))


def run_training(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    train_files: Sequence[str],
    dev_files: Sequence[str],
    settings: TrainSettings,
    state_dir: str | Path,
    epoch_outputs: Sequence[str | Path],
    history_output: str | Path,
    tensorboard_dir: str | Path | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    lock_dir: str | Path | None = None,
    init_output: str | Path | None = None,
) -> list[dict]:
    """Train one variant for `settings.epochs` epochs, resuming from `state_dir` when it holds earlier epochs.

    `lock_dir` (default `state_dir`) is locked for the life of the run: a second trainer on it fails at once,
    naming the first.
    `init_output`: where to publish the seeded initial weights (epoch 0, before any step), which a fresh run
    saves in the state folder.
    `stop_after_epoch` ends the run early (as a kill would) — used by tests of resumption.
    """
    if len(epoch_outputs) != settings.epochs:
        raise ValueError(f"{len(epoch_outputs)} epoch outputs for {settings.epochs} epochs")
    state = TrainingState(state_dir, lock_dir)
    with state.lock():
        return _train(
            model_cfg=model_cfg,
            vocab_path=vocab_path,
            train_files=train_files,
            dev_files=dev_files,
            settings=settings,
            state=state,
            epoch_outputs=epoch_outputs,
            history_output=history_output,
            tensorboard_dir=tensorboard_dir,
            progress=progress,
            stop_after_epoch=stop_after_epoch,
            init_output=init_output,
        )


def precise_bn_dataset(
    train_files: Sequence[str], vocab, settings: TrainSettings, exclude_ids: Sequence[str] = ()
) -> tf.data.Dataset:
    """The fixed training batches of precise batch norm: the first `precise_bn_batches` batches of the shuffled
    training order for `settings.seed` (the epochs use seed + epoch), the same in every epoch and process."""
    return training_dataset(train_files, vocab, settings, settings.seed, exclude_ids).take(
        settings.precise_bn_batches
    )


def training_dataset(
    train_files: Sequence[str], vocab, settings: TrainSettings, seed: int, exclude_ids: Sequence[str] = ()
) -> tf.data.Dataset:
    """The shuffled training batches for `seed` (by count, or by duration under `settings.batch_seconds`),
    without `exclude_ids`."""
    return make_dataset(
        list(train_files),
        vocab,
        batch_size=settings.batch_size,
        training=True,
        seed=seed,
        max_duration=settings.max_duration,
        batch_seconds=settings.batch_seconds,
        skip_over_budget=settings.skip_over_budget,
        exclude_ids=exclude_ids,
    )


def unalignable_utterances(
    files: Sequence[str], vocab, model, settings: TrainSettings, max_duration: float | None
) -> list[str]:
    """Ids of the utterances of `files` too short for their transcripts under the model's decoder, when
    `settings.skip_bad_audio`; otherwise such an utterance is a CorpusError naming it (data/feasibility.py)."""
    found = feasibility.too_short_utterances(
        files,
        vocab.encode,
        model.encoder_frames,
        model.decoder_type,
        model.cfg["features"]["sample_rate"],
        max_duration,
    )
    return feasibility.apply_policy(found, model.decoder_type, settings.skip_bad_audio, log)


def _train(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    train_files: Sequence[str],
    dev_files: Sequence[str],
    settings: TrainSettings,
    state: TrainingState,
    epoch_outputs: Sequence[str | Path],
    history_output: str | Path,
    tensorboard_dir: str | Path | None,
    progress: bool,
    stop_after_epoch: int | None,
    init_output: str | Path | None,
) -> list[dict]:
    configure_determinism(settings.seed)
    # set both ways: the policy is process-global and would leak into a later run in the same process
    keras.mixed_precision.set_dtype_policy("mixed_float16" if settings.mixed_precision else "float32")
    strategy = choose_strategy(settings.replicas)
    vocab = load_vocabulary(vocab_path)
    with strategy.scope():
        model = build_model(model_cfg, vocab.size)
    trainer = Trainer(model, settings, strategy, d_model=model.specs[-1].channels)
    if not state.match_inputs([*train_files, *dev_files, vocab_path]):
        log.info("training inputs changed since %s was written: starting afresh", state.dir)

    start = state.last_complete_epoch(len(model.weights), len(trainer.optimizer.variables))
    history = state.read_history(start)
    # the seeded initialisation (epoch 0), before any step or loaded weights: the model was just built from the
    # seed, so a missing or damaged copy is written again, identical, on a resume too
    if not start or checkpoint_problem(state.weights_path(0), len(model.weights)):
        state.save_initial(model)
    if init_output is not None:
        publish(state.weights_path(0), init_output)
    if start:
        log.info("resuming after epoch %d from %s", start, state.dir)
        load_weights(model, state.weights_path(start))
        state.load_optimizer(trainer.optimizer, start)
        for epoch in range(1, start + 1):
            publish(state.weights_path(epoch), epoch_outputs[epoch - 1])
        write_history_csv(history, history_output)

    writer = tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None
    # before any step: utterances the loss cannot align (train and dev, whose loss is computed too)
    train_left_out = unalignable_utterances(train_files, vocab, model, settings, settings.max_duration)
    dev_left_out = unalignable_utterances(dev_files, vocab, model, settings, None)
    # what the workflow keys the job by under `fail` (lowrank_asr.workflow.bad_audio.train_bad_audio_key)
    state.too_short_path().write_text(json.dumps(sorted({*train_left_out, *dev_left_out})))
    # each make_dataset checks its budget against the shards' durations as it is built: before any step
    dev_data = make_dataset(
        list(dev_files),
        vocab,
        batch_size=settings.batch_size,
        training=False,
        seed=settings.seed,
        batch_seconds=settings.evaluation_batch_seconds,
        skip_over_budget=settings.skip_over_budget,
        exclude_ids=dev_left_out,
        max_duration=None,  # the whole dev set: data.max_duration filters the training set only
    )
    for epoch in range(start + 1, settings.epochs + 1):
        # every random stream is a function of (seed, epoch), so a resumed run repeats it exactly: the data
        # order (explicit op seeds below, under the global TF seed set once by configure_determinism) and the
        # model's SeedGenerators. Python's and NumPy's RNGs are re-seeded too, but not TensorFlow's global
        # seed: tf.random.set_seed clears TF's kernel caches, which re-instantiates every traced function
        # (train step, loss step, greedy search) at each epoch, seconds each.
        random.seed(settings.seed + 1000 * epoch)
        np.random.seed(settings.seed + 1000 * epoch)
        reset_seed_generators(model, settings.seed + 1000 * epoch)
        began = time.perf_counter()
        train_data = training_dataset(train_files, vocab, settings, settings.seed + epoch, train_left_out)
        train_loss, steps = trainer.train_epoch(train_data, epoch, progress)
        if settings.precise_bn_batches:
            # before dev loss/WER and the save, so every inference-mode use of this epoch sees these statistics
            bn_began = time.perf_counter()
            used = trainer.recompute_batchnorm(
                precise_bn_dataset(train_files, vocab, settings, train_left_out)
            )
            log.info(
                "epoch %d: precise batch norm over %d batches in %.1f s",
                epoch,
                used,
                time.perf_counter() - bn_began,
            )
        dev_loss = trainer.mean_loss(dev_data)
        dev_wer = greedy_wer(model, dev_data, vocab, max_symbols_per_step=settings.dev_max_symbols_per_step)
        row = {
            "epoch": epoch,
            "train_loss": f"{train_loss:.5f}",
            "dev_loss": f"{dev_loss:.5f}",
            "dev_wer": f"{dev_wer:.5f}",
            "learning_rate": f"{trainer.learning_rate():.6g}",
            "steps": steps,
            "seconds": f"{time.perf_counter() - began:.1f}",
        }
        log.info(
            "epoch %d: train loss %.4f, dev loss %.4f, dev greedy WER %.4f",
            epoch,
            train_loss,
            dev_loss,
            dev_wer,
        )
        state.save_epoch(model, trainer.optimizer, epoch)
        history.append(row)
        state.write_history(history)
        state.mark_complete(epoch)
        publish(state.weights_path(epoch), epoch_outputs[epoch - 1])
        publish(state.history_path(), history_output)
        if writer:
            with writer.as_default(step=epoch):
                for key in ("train_loss", "dev_loss", "dev_wer", "learning_rate"):
                    tf.summary.scalar(key, float(row[key]))
            writer.flush()
        if stop_after_epoch and epoch >= stop_after_epoch:
            break
    republish_missing(state, epoch_outputs[: len(history)], init_output, history_output)
    return history


def republish_missing(
    state: TrainingState,
    epoch_outputs: Sequence[str | Path],
    init_output: str | Path | None,
    history_output: str | Path,
) -> list[Path]:
    """Publish again, still under the lock, every output that is gone or differs in size from its state copy.

    Another Snakemake whose train job lost the lock deletes this job's declared outputs (before its job starts and
    when it fails); the workflow refuses such a job while the DAG is built (rules/common.smk), and this check
    catches what slips past it (two runs started at the same moment). Returns the outputs published again."""
    pairs = [(state.weights_path(epoch), out) for epoch, out in enumerate(epoch_outputs, start=1)]
    if init_output is not None:
        pairs.append((state.weights_path(0), init_output))
    if epoch_outputs:
        pairs.append((state.history_path(), history_output))
    again = []
    for src, dest in pairs:
        dest = Path(dest)
        if not dest.is_file() or dest.stat().st_size != src.stat().st_size:
            log.warning(
                "output %s was removed or changed while this job trained (by another snakemake?): "
                "publishing it again",
                dest,
            )
            publish(src, dest)
            again.append(dest)
    return again
