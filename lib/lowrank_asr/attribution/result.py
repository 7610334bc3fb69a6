"""What integrated gradients returns and its per-frame summaries: NumPy only, so that the plot environment reads
and draws attribution files without TensorFlow (``integrated_gradients`` computes them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lowrank_asr.errors import PipelineError


@dataclass
class IGResult:
    """Attributions (shape of ``x``) and the completeness check Σ attributions ≈ F(x) − F(x')."""

    attributions: np.ndarray
    f_input: float
    f_baseline: float
    completeness_error: float
    steps: int


def frame_summary(attr_wave: np.ndarray, hop: int = 160, *, signed: bool = True) -> np.ndarray:
    """Per-frame attribution mass of a waveform attribution ``[S]``: ``[ceil(S / hop)]``.

    Frame j covers samples ``[j*hop, (j+1)*hop)`` (10 ms at 16 kHz for hop 160, the hop of the log-mel front
    end, so wave and log-mel plots share a time axis). ``signed=True`` sums the signed attributions (their sum
    over frames is Σ IG, so completeness carries over); ``signed=False`` sums |attr| (where the model looks,
    regardless of direction).
    """
    a = np.asarray(attr_wave, dtype=np.float64)
    if a.ndim != 1 or hop < 1:
        raise PipelineError(
            f"frame_summary: expected a 1-D waveform attribution and hop >= 1, got {a.shape}, {hop}"
        )
    if not signed:
        a = np.abs(a)
    n = math.ceil(len(a) / hop)
    padded = np.zeros(n * hop)
    padded[: len(a)] = a
    return padded.reshape(n, hop).sum(axis=1)


def frame_attribution(attributions: np.ndarray, hop: int = 160, *, signed: bool = True) -> np.ndarray:
    """Per-frame mass for either front end: ``[T, F]`` -> sum over features; ``[S]`` -> :func:`frame_summary`."""
    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim == 1:
        return frame_summary(a, hop, signed=signed)
    return (a if signed else np.abs(a)).reshape(a.shape[0], -1).sum(axis=1)
