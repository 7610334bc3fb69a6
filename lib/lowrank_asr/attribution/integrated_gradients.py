"""Integrated gradients (Sundararajan et al. 2017) for one input at a time, batched over the path.

IG_i(x) = (x_i - x'_i) · ∫₀¹ ∂F(x' + α (x - x')) / ∂x_i dα, approximated with the trapezoid rule on
α_j = j / m, j = 0..m (m + 1 points, weights 1/(2m) at the ends, 1/m inside). The m + 1 interpolated inputs
are stacked into batches of ``batch_size`` and each batch costs ONE forward + backward pass of ``f``, so
m = 64 costs a handful of batched passes rather than 64 separate ones. F(x) and F(x') come for free from the
path ends (α = 1 and α = 0).

``spacing="geometric"`` puts the m + 1 points at 0 and at m geometric steps from GEOMETRIC_MIN_ALPHA to 1
(trapezoid weights of that grid): for an F that depends on the log of the input's energy (the wave front
end), F changes as much between α = 0.001 and 0.01 as between 0.1 and 1, which a uniform grid cannot resolve.

``f`` maps a batch ``[K, *x.shape]`` to ``[K]`` scalars (e.g. the log-likelihood of the reference transcript)
and their gradient d Σ values / d batch; it must treat batch rows independently (inference mode: no batch
statistics, no cross-row padding effects). Take the gradient inside one ``tf.function`` (traced and optimised
once; a tape around a traced call makes TensorFlow trace and optimise its forward pass again), or wrap a
function of values only with ``with_input_gradient``. Batches all have the same size (the last one is padded
with zero-weight copies) so a traced ``f`` is traced once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from lowrank_asr.attribution.result import IGResult
from lowrank_asr.errors import PipelineError

SPACINGS = ("uniform", "geometric")
GEOMETRIC_MIN_ALPHA = 1e-6


def trapezoid_alphas(steps: int, spacing: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """``(alphas [m+1], weights [m+1])`` of the trapezoid rule on [0, 1] with ``steps`` = m intervals."""
    if steps < 1:
        raise PipelineError(f"integrated_gradients: steps must be >= 1, got {steps}")
    if spacing == "uniform":
        alphas = np.arange(steps + 1, dtype=np.float64) / steps
    elif spacing == "geometric":
        alphas = (
            np.concatenate([[0.0], np.geomspace(GEOMETRIC_MIN_ALPHA, 1.0, steps)])
            if steps > 1
            else np.array([0.0, 1.0])
        )
    else:
        raise PipelineError(f"integrated_gradients: spacing {spacing!r} is not one of {list(SPACINGS)}")
    gaps = np.diff(alphas)
    weights = np.zeros(steps + 1)
    weights[:-1] += gaps / 2
    weights[1:] += gaps / 2
    return alphas, weights


def with_input_gradient(
    f: Callable[[tf.Tensor], tf.Tensor],
) -> Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """``f`` (batch → values) as ``integrated_gradients`` takes it: batch → (values, d Σ values / d batch)."""

    def value_and_gradient(batch):
        with tf.GradientTape() as tape:
            tape.watch(batch)
            values = f(batch)
            total = tf.reduce_sum(values)
        return values, tape.gradient(total, batch)

    return value_and_gradient


def integrated_gradients(
    f: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]],
    x: np.ndarray,
    baseline: np.ndarray,
    steps: int,
    batch_size: int | None = None,
    mask: np.ndarray | None = None,
    *,
    spacing: str = "uniform",
    progress: bool = False,
) -> IGResult:
    """Integrated gradients of ``f`` (values and input gradient, see the module docstring) at ``x`` against
    ``baseline`` (same shape, no batch axis).

    ``batch_size``: interpolation points per forward/backward pass (default: all m + 1 at once).
    ``spacing``: where the m + 1 points lie on [0, 1] (see the module docstring).
    ``mask``: broadcastable to ``x``; attributions are multiplied by it (zero at padded frames/samples).
    ``completeness_error`` = |Σ IG − (F(x) − F(x'))| / |F(x) − F(x')| is computed on the UNMASKED
    attributions: it checks the numerical integration, not the masking (where the mask removes non-zero
    attributions, Σ of the stored attributions differs from F(x) − F(x') by exactly that mass).
    """
    x = np.asarray(x, dtype=np.float32)
    baseline = np.asarray(baseline, dtype=np.float32)
    if baseline.shape != x.shape:
        raise PipelineError(f"integrated_gradients: baseline shape {baseline.shape} != input shape {x.shape}")
    alphas, weights = trapezoid_alphas(steps, spacing)
    n = len(alphas)
    bs = n if batch_size is None else max(1, min(int(batch_size), n))
    n_chunks = math.ceil(n / bs)
    bs = math.ceil(n / n_chunks)  # even chunks: pad the last one by < n_chunks zero-weight rows
    pad = n_chunks * bs - n
    alphas_p = np.concatenate([alphas, np.ones(pad)]).astype(np.float32)
    weights_p = np.concatenate([weights, np.zeros(pad)])

    delta_t = tf.constant(x - baseline)
    base_t = tf.constant(baseline)
    expand = (slice(None),) + (None,) * x.ndim
    grad_sum = np.zeros(x.shape, dtype=np.float64)
    f_vals = np.empty(n_chunks * bs, dtype=np.float64)
    for c in tqdm(range(n_chunks), desc="IG", disable=None if progress else True, mininterval=5):
        a = tf.constant(alphas_p[c * bs : (c + 1) * bs][expand])
        inputs = base_t[None] + a * delta_t[None]
        y, g = f(inputs)
        y = tf.reshape(y, [-1])
        if g is None:
            raise PipelineError(
                "integrated_gradients: f's output does not depend on its input (no gradient); "
                "f must compute from the batch it is given"
            )
        # Weighted sum over the chunk on the TF side (float32, <= bs terms); chunks accumulate in float64.
        w = tf.constant(weights_p[c * bs : (c + 1) * bs], dtype=g.dtype)
        grad_sum += tf.tensordot(w, g, axes=1).numpy()
        f_vals[c * bs : (c + 1) * bs] = y.numpy()
    raw = (x.astype(np.float64) - baseline.astype(np.float64)) * grad_sum
    f_input, f_baseline = float(f_vals[n - 1]), float(f_vals[0])
    diff = f_input - f_baseline
    err = abs(raw.sum() - diff)
    completeness = err / abs(diff) if abs(diff) > 1e-12 else (0.0 if err <= 1e-12 else math.inf)
    attributions = raw if mask is None else raw * np.broadcast_to(np.asarray(mask, dtype=np.float64), x.shape)
    return IGResult(
        attributions=attributions.astype(np.float32),
        f_input=f_input,
        f_baseline=f_baseline,
        completeness_error=float(completeness),
        steps=int(steps),
    )
