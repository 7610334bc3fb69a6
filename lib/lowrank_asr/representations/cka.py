r"""Linear CKA (Kornblith et al. 2019) between representations, streamed over batches in float64.

For n frames with centred features X [n, p] and Y [n, q]:
  CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F),
which needs only the Gram-free moments XᵀX, YᵀY, YᵀX and the column sums (centring:
XcᵀYc = XᵀY − sₓ s_yᵀ / n). These are accumulated batch by batch, so memory is O(p·q) per pair whatever the
number of frames. CKA is invariant to orthogonal transforms and isotropic scaling of either side and is
symmetric; for independent random features it is ≈ √(p·q) / n, not 0, at finite n.

Both sides must see the same frames in the same order (same utterances, same frame rate: see
``blocks.pool_frames``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lowrank_asr.errors import PipelineError


def _as_rows(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise PipelineError(f"CKA: {name} must be frames [N, D], got shape {a.shape}")
    return a


class StreamingCKA:
    """Linear CKA of every representation in ``xs`` against every one in ``ys`` (a [len(xs), len(ys)] matrix)."""

    def __init__(self, x_dims: Sequence[int], y_dims: Sequence[int]):
        self.x_dims, self.y_dims = [int(d) for d in x_dims], [int(d) for d in y_dims]
        self.count = 0
        self.x_sum = [np.zeros(d) for d in self.x_dims]
        self.y_sum = [np.zeros(d) for d in self.y_dims]
        self.x_gram = [np.zeros((d, d)) for d in self.x_dims]
        self.y_gram = [np.zeros((d, d)) for d in self.y_dims]
        self.cross = [[np.zeros((dy, dx)) for dy in self.y_dims] for dx in self.x_dims]  # [i][j] = YⱼᵀXᵢ

    def update(self, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> None:
        """Add one batch: frames [N, D] of every representation, the same N frames on both sides."""
        xs = [_as_rows(x, f"xs[{i}]") for i, x in enumerate(xs)]
        ys = [_as_rows(y, f"ys[{j}]") for j, y in enumerate(ys)]
        if [x.shape[1] for x in xs] != self.x_dims or [y.shape[1] for y in ys] != self.y_dims:
            raise PipelineError(
                f"StreamingCKA.update: feature sizes {[x.shape[1] for x in xs]} / "
                f"{[y.shape[1] for y in ys]} differ from {self.x_dims} / {self.y_dims}"
            )
        n = {a.shape[0] for a in xs + ys}
        if len(n) != 1:
            raise PipelineError(
                f"StreamingCKA.update: every representation must have the same frames, got counts {sorted(n)}"
            )
        self.count += n.pop()
        for i, x in enumerate(xs):
            self.x_sum[i] += x.sum(axis=0)
            self.x_gram[i] += x.T @ x
            for j, y in enumerate(ys):
                self.cross[i][j] += y.T @ x
        for j, y in enumerate(ys):
            self.y_sum[j] += y.sum(axis=0)
            self.y_gram[j] += y.T @ y

    def _centred(self, moment: np.ndarray, a_sum: np.ndarray, b_sum: np.ndarray) -> np.ndarray:
        return moment - np.outer(a_sum, b_sum) / self.count

    def matrix(self) -> np.ndarray:
        """CKA [len(xs), len(ys)]; NaN where one side is constant (zero variance)."""
        if self.count < 2:
            raise PipelineError(f"CKA needs at least 2 frames, got {self.count}; use a larger subset")
        x_norm = [
            np.linalg.norm(self._centred(g, s, s)) for g, s in zip(self.x_gram, self.x_sum, strict=True)
        ]
        y_norm = [
            np.linalg.norm(self._centred(g, s, s)) for g, s in zip(self.y_gram, self.y_sum, strict=True)
        ]
        out = np.full((len(self.x_dims), len(self.y_dims)), np.nan)
        for i, xn in enumerate(x_norm):
            for j, yn in enumerate(y_norm):
                if xn > 0 and yn > 0:
                    cross = self._centred(self.cross[i][j], self.y_sum[j], self.x_sum[i])
                    out[i, j] = np.sum(cross**2) / (xn * yn)
        return out


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two frame matrices [N, p] and [N, q] (one batch)."""
    acc = StreamingCKA([np.shape(x)[1]], [np.shape(y)[1]])
    acc.update([x], [y])
    return float(acc.matrix()[0, 0])
