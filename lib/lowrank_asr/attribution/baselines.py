"""Integrated-gradients baselines x' in the attributed input space (unnormalised log-mel, or samples).

``silence``: what the front end makes of digital silence: the log-mel floor ``log(LOG_EPS)`` in every bin
(zeros for the wave front end). ``mean``: the utterance's own mean over time, per mel bin (the waveform's
DC value for the wave front end); after the per-utterance normalisation this is the all-zero model input.
``blur``: the input blurred with a Gaussian over time and frequency (Sturmfels et al. 2020, "Visualizing
the impact of feature attribution baselines"): it keeps the coarse energy envelope and removes the detail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from lowrank_asr.errors import PipelineError

BASELINES = ("silence", "mean", "blur")


def check_baseline(name: str) -> str:
    """``name`` if it is one of :data:`BASELINES`, else a PipelineError that says what to use."""
    if name in BASELINES:
        return name
    hint = (
        " 'zero' was removed: attributions are now taken on log-mel features before the per-utterance "
        "normalisation, where 0 means no baseline at all; 'mean' is the old zero (the normalised mean), "
        "'silence' the old zero of the wave front end."
        if name == "zero"
        else ""
    )
    raise PipelineError(f"attribution.baseline is {name!r}; use one of {list(BASELINES)}.{hint}")


def mean_baseline(x: np.ndarray) -> np.ndarray:
    """The utterance mean over time (axis 0), per feature; a constant for a 1-D waveform."""
    x = np.asarray(x, dtype=np.float32)
    return np.broadcast_to(x.mean(axis=0, dtype=np.float64).astype(np.float32), x.shape).copy()


def blur_sigma(sigma: float | Sequence[float]) -> tuple[float, float]:
    """``(time, frequency)`` Gaussian widths from one number (both axes) or a pair; both must be >= 0."""
    pair = (float(sigma), float(sigma)) if np.isscalar(sigma) else tuple(float(s) for s in sigma)
    if len(pair) != 2 or min(pair) < 0 or max(pair) <= 0:
        raise PipelineError(
            f"attribution.blur_sigma is {sigma!r}; give a positive number or [time frames, mel "
            "bins] (>= 0, not both 0)"
        )
    return pair


def blur_baseline(x: np.ndarray, sigma: float | Sequence[float], *, samples_per_frame: int = 1) -> np.ndarray:
    """``x`` smoothed by a Gaussian: ``[T, F]`` with widths ``(time frames, bins)``; ``[S]`` samples with the
    time width ``sigma[0] * samples_per_frame`` samples (frequency does not apply to a waveform).

    Edges repeat the nearest value ('nearest'), so the blur does not pull the utterance's ends to 0.
    """
    st, sf = blur_sigma(sigma)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        widths = (st, sf)
    elif x.ndim == 1:
        widths = (st * samples_per_frame,)
    else:
        raise PipelineError(f"blur_baseline: expected [T, F] features or a [S] waveform, got shape {x.shape}")
    return gaussian_filter(x.astype(np.float64), sigma=widths, mode="nearest").astype(np.float32)


def make_baseline(
    name: str,
    x: np.ndarray,
    *,
    silence: np.ndarray,
    sigma: float | Sequence[float],
    samples_per_frame: int = 1,
) -> np.ndarray:
    """The baseline called ``name`` for input ``x``; ``silence``: the front end's output for digital silence."""
    name = check_baseline(name)
    if name == "silence":
        return silence_baseline(x, silence)
    if name == "mean":
        return mean_baseline(x)
    return blur_baseline(x, sigma, samples_per_frame=samples_per_frame)


def silence_baseline(
    x: np.ndarray,
    silence: np.ndarray | None = None,
    *,
    featurize: Callable[[np.ndarray], np.ndarray] | None = None,
    num_samples: int | None = None,
) -> np.ndarray:
    """The features of digital silence, shaped like ``x`` ``[T, F]``.

    Give either ``silence`` (precomputed: ``[T, F]`` like ``x``, or one ``[F]`` frame repeated over time) or
    ``featurize`` (waveform ``[S]`` -> features ``[T', F]``, e.g. the model's front end on one utterance) and
    ``num_samples`` (the utterance's length; zeros of that length are featurised). A time length off by a
    frame or two (framing conventions) is cropped or edge-padded to ``T``.
    """
    x = np.asarray(x, dtype=np.float32)
    if silence is None:
        if featurize is None or num_samples is None:
            raise PipelineError(
                "silence_baseline: pass a precomputed `silence` array, or `featurize` and `num_samples`"
            )
        silence = np.asarray(featurize(np.zeros(int(num_samples), dtype=np.float32)), dtype=np.float32)
    silence = np.asarray(silence, dtype=np.float32)
    if silence.shape == x.shape:
        return silence.copy()
    if silence.ndim == x.ndim - 1 and silence.shape == x.shape[1:]:
        return np.broadcast_to(silence, x.shape).copy()
    if silence.ndim == x.ndim and silence.shape[1:] == x.shape[1:] and len(silence) > 0:
        t = x.shape[0]
        if len(silence) >= t:
            return silence[:t].copy()
        return np.concatenate([silence, np.repeat(silence[-1:], t - len(silence), axis=0)])
    raise PipelineError(
        f"silence_baseline: silence features of shape {silence.shape} do not fit input {x.shape}; "
        "featurize silence with the same front end as the input"
    )
