"""Integrated gradients of a trained ASR variant: the reference transcript's log-likelihood per input bin.

The attributed input x is the log-mel spectrogram BEFORE the per-utterance normalisation (waveform samples
for the wave front end), so that the baselines mean what their names say (see ``baselines``). The
normalisation is part of the attributed function, with the statistics of the attributed utterance held
fixed along the IG path: F(z) = log P(reference | (z - mean_x) * scale_x). F(x) is then exactly the model's
log-likelihood of x. Recomputing the statistics at every path point would map every baseline that is
constant over time (silence, mean) to the same all-zero model input, and squeeze the whole path into
alpha < 0.01 (the normalised input jumps from 0 to x there), which the trapezoid rule cannot integrate.

Wave front end: the same, with the statistics of the front end's log energies of x held fixed; since those
depend on log(α² y² + eps), the path points are spaced geometrically in α (``path_spacing``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from lowrank_asr.attribution.baselines import check_baseline, make_baseline
from lowrank_asr.attribution.integrated_gradients import integrated_gradients
from lowrank_asr.attribution.io import AttributionItem
from lowrank_asr.attribution.result import IGResult
from lowrank_asr.data.micro_batches import points_per_pass
from lowrank_asr.data.subset import subset_micro_batches, subset_utterances
from lowrank_asr.evaluation.transcribe import make_encoder_fn, search
from lowrank_asr.features.logmel import frame_params
from lowrank_asr.trained_run.run import TrainedRun


@dataclass
class AttributedInput:
    """One utterance in the attributed space and what the model does to it before the encoder."""

    x: np.ndarray  # unnormalised log-mel [T, F], or samples [S]
    silence: np.ndarray  # the front end's output for digital silence, shaped like x
    # [F] per-bin mean and 1/std that the model normalises with: of the log-mel x, or of the wave front end's
    # log energies of x (None: features.normalize is off and the model takes x as it is)
    mean: np.ndarray | None
    scale: np.ndarray | None
    samples_per_frame: int  # samples per 10 ms frame: converts blur widths for waveforms


def attributed_input(model, audio, num_samples: int) -> AttributedInput:
    """The attributed input of one utterance ``audio`` ``[1, S]`` with ``num_samples`` valid samples."""
    audio = tf.convert_to_tensor(audio, tf.float32)[:, :num_samples]
    n = tf.constant([num_samples], tf.int32)
    raw, raw_len = model.raw_features(audio, n)
    stats = model.feature_stats(raw, raw_len)
    mean, scale = (
        (None, None) if stats is None else (stats[0].numpy().reshape(-1), stats[1].numpy().reshape(-1))
    )
    if model.wave is not None:  # samples are the input; digital silence is 0 there
        x = audio[0].numpy()
        return AttributedInput(x, np.zeros_like(x), mean, scale, int(model.cfg["wave_frontend"]["stride"]))
    t = int(raw_len[0])
    silence, _ = model.raw_features(tf.zeros_like(audio), n)
    features = model.cfg["features"]
    hop = frame_params(features["sample_rate"], features["frame_ms"], features["hop_ms"])[1]
    return AttributedInput(raw[0, :t].numpy(), silence[0, :t].numpy(), mean, scale, hop)


def path_spacing(frontend: str) -> str:
    """How the IG path points lie on [0, 1] for a front end (see ``integrated_gradients``)."""
    return "geometric" if frontend == "wave" else "uniform"


def log_likelihood_fn(model) -> Callable:
    """``f(zs [K, *x.shape], mean, scale, x_len [1], labels [1, U], label_len [1])`` -> ``(log P(reference) [K],
    its gradient d Σ log P / d zs)``.

    Traced once for every utterance (the signature leaves all sizes open). ``mean``/``scale``: the fixed
    normalisation statistics (ignored for ``features.normalize: false``). The gradient is taken inside the
    traced function: one graph, traced and optimised once (a tape around the call made TensorFlow trace and
    optimise the forward pass a second time, with the values the backward pass needs as extra outputs).
    """
    wave = model.wave is not None
    rank = 2 if wave else 3

    @tf.function(
        input_signature=[
            tf.TensorSpec([None] * rank, tf.float32),
            tf.TensorSpec(None, tf.float32),
            tf.TensorSpec(None, tf.float32),
            tf.TensorSpec([1], tf.int32),
            tf.TensorSpec([1, None], tf.int32),
            tf.TensorSpec([1], tf.int32),
        ],
        autograph=False,
    )
    def log_likelihood(zs, mean, scale, x_len, labels, label_len):
        k = tf.shape(zs)[0]
        lengths = tf.repeat(x_len, k)
        with tf.GradientTape() as tape:
            tape.watch(zs)
            inputs = zs if wave else model.normalize_features(zs, lengths, (mean, scale))
            values = -model.utterance_loss(
                inputs,
                lengths,
                tf.repeat(labels, k, axis=0),
                tf.repeat(label_len, k),
                training=False,
                frontend_stats=(mean, scale) if wave else None,
                joint_chunk=None,
            )
            total = tf.reduce_sum(values)
        return values, tape.gradient(total, zs)

    return log_likelihood


def utterance_attribution(
    model,
    audio,
    num_samples: int,
    labels,
    *,
    baseline: str,
    steps: int,
    blur_sigma: float | Sequence[float],
    batch_size: int | None,
    log_likelihood: Callable | None = None,
    batch_seconds: float | None,
    utt_id: str = "",
) -> tuple[AttributedInput, np.ndarray, IGResult]:
    """IG of log P(``labels`` [U] | utterance) against the named baseline: ``(input, baseline, result)``.

    Path points per forward/backward pass: ``floor(batch_seconds / duration)`` with a budget (``utt_id`` names
    an utterance longer than it in the error), else ``batch_size`` (None: all at once).
    """
    check_baseline(baseline)
    duration = num_samples / float(model.cfg["features"]["sample_rate"])
    batch_size = points_per_pass(duration, batch_seconds, utt_id or "(unnamed)", batch_size)
    inp = attributed_input(model, audio, num_samples)
    base = make_baseline(
        baseline, inp.x, silence=inp.silence, sigma=blur_sigma, samples_per_frame=inp.samples_per_frame
    )
    f_all = log_likelihood or log_likelihood_fn(model)
    labels = tf.reshape(tf.cast(labels, tf.int32), [1, -1])
    x_len = tf.constant([inp.x.shape[0]], tf.int32)
    label_len = tf.shape(labels)[1:]
    mean = tf.constant(0.0 if inp.mean is None else inp.mean, tf.float32)
    scale = tf.constant(1.0 if inp.scale is None else inp.scale, tf.float32)

    def f(zs):
        return f_all(zs, mean, scale, x_len, labels, label_len)

    return (
        inp,
        base,
        integrated_gradients(
            f, inp.x, base, steps=steps, batch_size=batch_size, spacing=path_spacing(model.cfg["frontend"])
        ),
    )


def epoch_attributions(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_path: str | Path,
    data_files: Sequence[str],
    utterances: int,
    steps: int,
    baseline: str,
    blur_sigma: float | Sequence[float],
    batch_size: int,
    max_symbols_per_step: int,
    batch_seconds: float | None,
) -> list[AttributionItem]:
    """Attributions of F(x) = log P(reference | x) (the negative RNN-T/CTC loss) for the first utterances.

    x is the unnormalised log-mel spectrogram [T, F], or waveform samples [S] for the wave front end.
    """
    [items] = variant_attributions(
        model_cfg=model_cfg,
        vocab_path=vocab_path,
        weights_paths=[weights_path],
        data_files=data_files,
        utterances=utterances,
        steps=steps,
        baseline=baseline,
        blur_sigma=blur_sigma,
        batch_size=batch_size,
        max_symbols_per_step=max_symbols_per_step,
        batch_seconds=batch_seconds,
    )
    return items


def variant_attributions(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_paths: Sequence[str | Path],
    data_files: Sequence[str],
    utterances: int,
    steps: int,
    baseline: str,
    blur_sigma: float | Sequence[float],
    batch_size: int,
    max_symbols_per_step: int,
    batch_seconds: float | None,
) -> Iterator[list[AttributionItem]]:
    """:func:`epoch_attributions` for each of one variant's epochs (``weights_paths``, in order), one at a time.

    TensorFlow, the model, the utterances and the traced encoder and log-likelihood are set up once: each
    epoch's weights are loaded into the same variables, which the traced functions read. ``batch_seconds``
    (padded audio per pass; None: ``batch_size`` path points per pass and one decoding batch) bounds both the
    path points per IG pass and the micro-batches the hypotheses are decoded in.
    """
    check_baseline(baseline)  # before loading anything: a bad name fails at once
    run = TrainedRun(model_cfg, vocab_path)
    epochs = run.epochs(weights_paths)  # an empty list fails here, before anything loads
    model, vocab = run.model, run.vocab
    chosen = subset_utterances(data_files, vocab, utterances)
    batches = subset_micro_batches(chosen, batch_seconds)
    encode = make_encoder_fn(model)
    log_likelihood = log_likelihood_fn(model)
    for _ in epochs:  # the traced functions read the loaded variables
        hypotheses = {}
        for batch in batches:
            enc, enc_len = encode(batch["audio"], batch["audio_len"])
            tokens = search(model, enc, enc_len, beam_width=None, max_symbols_per_step=max_symbols_per_step)
            hypotheses.update(
                zip(
                    (v.decode() for v in batch["utt_id"].numpy().tolist()),
                    (vocab.decode(h) for h in tokens),
                    strict=True,
                )
            )
        items = []
        for u in chosen:
            inp, base, result = utterance_attribution(
                model,
                u["audio"][None],
                len(u["audio"]),
                u["labels"],
                baseline=baseline,
                steps=steps,
                blur_sigma=blur_sigma,
                batch_size=batch_size,
                log_likelihood=log_likelihood,
                batch_seconds=batch_seconds,
                utt_id=u["utt_id"],
            )
            items.append(
                AttributionItem.from_result(
                    u["utt_id"],
                    inp.x,
                    base,
                    result,
                    u["transcript"],
                    hypotheses[u["utt_id"]],
                    norm_mean=inp.mean,
                    norm_scale=inp.scale,
                )
            )
        yield items
