"""Spectra of weight matrices and of activations: singular values, effective and stable rank, variance counts.

- Effective rank (Roy & Vetterli 2007): exp(H(p)) with p_i = σ_i / Σσ and H the Shannon entropy (0·log 0 = 0);
  it lies in [1, rank] and equals the rank when the non-zero singular values are equal. 0 for a zero matrix.
- Stable rank: ‖W‖²_F / ‖W‖²₂ = Σσ² / σ_max²; in [1, rank]. 0 for a zero matrix.
- Activations: the covariance of a block's output over valid frames, accumulated in float64 batch by batch.
  Its effective rank is taken over the singular values of the centred data matrix, i.e. √eigenvalues, so that
  it is the same definition as for weights; ``components`` is the fewest leading eigenvalues whose sum reaches
  a fraction (0.90 / 0.95 / 0.99) of the total variance.

All arithmetic is float64: float32 weights are converted before the SVD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lowrank_asr.errors import PipelineError

VARIANCE_FRACTIONS: tuple[float, ...] = (0.90, 0.95, 0.99)
# Relative tolerance for a numerical rank of float32 weights: products of float32 factors are exact to
# ~1e-7 relative, so a rank-1 filter's second singular value is ~1e-7·σ₁; generic weights are far above 1e-5.
RANK_RTOL = 1e-5


def singular_values(matrix: np.ndarray) -> np.ndarray:
    """Singular values (descending, float64) of a 2-D array."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2:
        raise PipelineError(f"singular_values: expected a 2-D matrix, got shape {m.shape}")
    return np.linalg.svd(m, compute_uv=False)


def effective_rank(values: np.ndarray) -> float:
    """Roy & Vetterli's effective rank exp(entropy(σ / Σσ)) of non-negative singular values."""
    s = np.asarray(values, dtype=np.float64)
    if np.any(s < 0):
        raise PipelineError("effective_rank: singular values must be non-negative")
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def stable_rank(values: np.ndarray) -> float:
    """Σσ² / σ_max² of singular values (0 for a zero matrix)."""
    s = np.asarray(values, dtype=np.float64)
    top = s.max(initial=0.0)
    return float(np.sum(s**2) / top**2) if top > 0 else 0.0


def numerical_rank(values: np.ndarray, rtol: float = RANK_RTOL) -> int:
    """Number of singular values above rtol · σ_max."""
    s = np.asarray(values, dtype=np.float64)
    top = s.max(initial=0.0)
    return int(np.sum(s > rtol * top)) if top > 0 else 0


@dataclass(frozen=True)
class KernelSpectrum:
    """Spectra of a conv kernel W[k, c, o]: as the matrix [k·c, o] and per output filter [k, c]."""

    singular_values: np.ndarray  # [min(k·c, o)]
    effective_rank: float
    stable_rank: float
    filter_singular_values: np.ndarray  # [o, min(k, c)]
    filter_effective_rank: np.ndarray  # [o]
    filter_stable_rank: np.ndarray  # [o]
    filter_rank: np.ndarray  # [o] numerical rank (RANK_RTOL)


def kernel_spectrum(kernel: np.ndarray, rtol: float = RANK_RTOL) -> KernelSpectrum:
    """Spectra of a full kernel W[k, c, o] (row j·c + c of the [k·c, o] matrix is tap j, input channel c)."""
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 3:
        raise PipelineError(f"kernel_spectrum: expected a kernel [k, c_in, c_out], got shape {w.shape}")
    k, c, o = w.shape
    s = singular_values(w.reshape(k * c, o))
    per_filter = np.linalg.svd(np.moveaxis(w, 2, 0), compute_uv=False)  # [o, min(k, c)]
    return KernelSpectrum(
        singular_values=s,
        effective_rank=effective_rank(s),
        stable_rank=stable_rank(s),
        filter_singular_values=per_filter,
        filter_effective_rank=np.array([effective_rank(f) for f in per_filter]),
        filter_stable_rank=np.array([stable_rank(f) for f in per_filter]),
        filter_rank=np.array([numerical_rank(f, rtol) for f in per_filter], dtype=np.int64),
    )


def components_for_variance(
    eigenvalues: np.ndarray, fractions: Sequence[float] = VARIANCE_FRACTIONS
) -> np.ndarray:
    """Fewest leading eigenvalues whose sum reaches each fraction of the total (0 when the total is 0)."""
    lam = np.clip(np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1], 0.0, None)
    total = lam.sum()
    if total <= 0:
        return np.zeros(len(fractions), dtype=np.int64)
    cum = np.cumsum(lam) / total
    # 1e-12 absorbs the rounding of the cumulative sum when the fraction is reached exactly.
    return np.array([int(np.argmax(cum >= f - 1e-12)) + 1 for f in fractions], dtype=np.int64)


@dataclass(frozen=True)
class ActivationSpectrum:
    eigenvalues: np.ndarray  # [D] covariance eigenvalues, descending, clipped at 0
    effective_rank: float  # of √eigenvalues (singular values of the centred frames)
    components: np.ndarray  # [len(fractions)] for VARIANCE_FRACTIONS
    frames: int


class CovarianceAccumulator:
    """Streaming covariance of D-dimensional frames in float64; memory O(D²) whatever the number of frames."""

    def __init__(self, dim: int):
        self.dim = int(dim)
        self.count = 0
        self.total = np.zeros(self.dim)
        self.gram = np.zeros((self.dim, self.dim))

    def update(self, frames: np.ndarray) -> None:
        """Add frames [N, D] (valid frames only: see ``valid_frames``)."""
        x = np.asarray(frames, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise PipelineError(f"CovarianceAccumulator: frames must be [N, {self.dim}], got {x.shape}")
        self.count += x.shape[0]
        self.total += x.sum(axis=0)
        self.gram += x.T @ x

    def covariance(self) -> np.ndarray:
        """Sample covariance (divisor N - 1)."""
        if self.count < 2:
            raise PipelineError(f"covariance needs at least 2 frames, got {self.count}; use a larger subset")
        centred = self.gram - np.outer(self.total, self.total) / self.count
        return (centred + centred.T) / (2 * (self.count - 1))

    def spectrum(self, fractions: Sequence[float] = VARIANCE_FRACTIONS) -> ActivationSpectrum:
        lam = np.clip(np.linalg.eigvalsh(self.covariance())[::-1], 0.0, None)
        return ActivationSpectrum(
            eigenvalues=lam,
            effective_rank=effective_rank(np.sqrt(lam)),
            components=components_for_variance(lam, fractions),
            frames=self.count,
        )


def valid_frames(outputs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rows [Σ lengths, D] of a padded batch [B, T, D]: frames t < lengths[b] only, in (b, t) order."""
    y = np.asarray(outputs)
    lengths = np.asarray(lengths)
    if y.ndim != 3 or lengths.shape != (y.shape[0],):
        raise PipelineError(
            f"valid_frames: outputs [B, T, D] and lengths [B] expected, got {y.shape} and {lengths.shape}"
        )
    mask = np.arange(y.shape[1])[None, :] < lengths[:, None]
    return y[mask]
