"""Sharpness from Hessian-vector products: top eigenvalue by Lanczos (with its residual), trace by Hutchinson's
estimator.

The algorithms (Lanczos as in Ghorbani et al. 2019; Hutchinson as in PyHessian, Yao et al. 2020) work on flat float64 vectors and a callable ``hvp(v) -> H v``;
:func:`model_hvp` builds that callable for a Keras model and a loss closure. Two ways to get ``H v``:

- ``double_backprop``: the gradient of ``⟨∇L, v⟩`` (exact; needs a loss with second derivatives).
- ``finite_difference``: ``(∇L(θ + εv) − ∇L(θ − εv)) / 2ε`` (error O(ε²)); for losses whose fused kernel has
  no second derivative (TensorFlow's CTC loss). ε is relative to the weight norm.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from lowrank_asr.errors import PipelineError
from lowrank_asr.trained_run.objective import subset_objective
from lowrank_asr.trained_run.parts import dense_gradient, part_sum, variable_spec

HVP_METHODS = ("double_backprop", "finite_difference")


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise PipelineError("lanczos: the start vector is zero")
    return v / norm


@dataclass
class Lanczos:
    """The extreme eigenvalues found by :func:`lanczos` and how far they can be trusted.

    ``eigenvalue`` is the largest (most positive) Ritz value θ and ``residual`` = ‖H y − θ y‖ for its unit Ritz
    vector y: some eigenvalue of H lies within ``residual`` of θ, and θ ≤ λ_max always, so with a random start
    θ is λ_max to within ``residual`` (and to within ``residual²`` / gap once the gap to the next eigenvalue
    shows). ``converged`` is ``residual <= tol · |θ|``. ``dominant`` is the Ritz value of largest magnitude
    (an estimate of the eigenvalue of largest magnitude, with ``dominant_residual``). ``iterations`` is the
    number of Hessian-vector products; ``history`` the largest Ritz value after each; ``vector`` is y.
    """

    eigenvalue: float
    residual: float
    dominant: float
    dominant_residual: float
    iterations: int
    converged: bool
    tol: float
    history: list[float]
    vector: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


def lanczos(
    hvp: Callable[[np.ndarray], np.ndarray], dim: int, *, max_iter: int = 20, tol: float = 1e-3, seed: int
) -> Lanczos:
    """Lanczos with full reorthogonalisation on the symmetric Hessian behind ``hvp``: one product per iteration,
    stopped once the largest Ritz value's residual is at most ``tol`` times itself, or after ``max_iter``.

    Unlike power iteration it finds the most positive eigenvalue directly, whatever the sign of the dominant one,
    and it converges in far fewer products when eigenvalues crowd at the edge of the spectrum (power iteration's
    rate is |λ₂/λ₁|: 0.98 for eigenvalues 5 and −4.9). The residual of a Ritz pair is |β_m · s_m| (the last
    Lanczos coefficient times the last component of the pair's eigenvector of the tridiagonal matrix): no extra
    product. The basis is kept in float32 (``max_iter × dim × 4`` bytes); rounding then limits the relative
    residual to about 1e-6, far below any tolerance a float32 product could support.
    """
    if max_iter < 1:
        raise PipelineError(f"lanczos: max_iter must be >= 1, got {max_iter}")
    max_iter = min(max_iter, dim)
    v = _unit(np.random.default_rng(seed).standard_normal(dim))
    basis = np.empty((max_iter, dim), dtype=np.float32)
    alphas: list[float] = []
    betas: list[float] = []  # betas[j] couples basis vectors j and j + 1
    history: list[float] = []
    for it in range(1, max_iter + 1):
        basis[it - 1] = v
        w = np.asarray(hvp(v), dtype=np.float64)
        alphas.append(float(v @ w))
        # full reorthogonalisation, twice (enough in floating point): no spurious copies of converged Ritz values.
        # Row by row so that no float64 copy of the whole basis is made.
        for _ in range(2):
            for row in basis[:it]:
                u = row.astype(np.float64)
                w -= (u @ w) * u
        beta = float(np.linalg.norm(w))
        ritz, vectors = np.linalg.eigh(np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1))
        residuals = beta * np.abs(vectors[-1])
        history.append(float(ritz[-1]))
        dom = int(np.argmax(np.abs(ritz)))
        result = Lanczos(
            float(ritz[-1]),
            float(residuals[-1]),
            float(ritz[dom]),
            float(residuals[dom]),
            it,
            bool(residuals[-1] <= tol * abs(ritz[-1])),
            tol,
            history,
        )
        # an invariant subspace (beta ≈ 0): the Ritz values are exact eigenvalues of H
        if result.converged or it == max_iter or beta <= 1e-12 * max(np.abs(ritz).max(), 1e-300):
            result.vector = _unit(vectors[:, -1] @ basis[:it].astype(np.float64))
            return result
        betas.append(beta)
        v = w / beta
    raise AssertionError("unreachable")


def hutchinson_trace(
    hvp: Callable[[np.ndarray], np.ndarray], dim: int, *, samples: int = 4, seed: int
) -> tuple[float, float]:
    """``(mean, standard error)`` of ``vᵀ H v`` over Rademacher vectors ``v`` (unbiased for ``tr H``)."""
    if samples < 1:
        raise PipelineError(f"hutchinson_trace: samples must be >= 1, got {samples}")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    values = []
    for _ in range(samples):
        v = rng.choice([-1.0, 1.0], size=dim)
        values.append(float(v @ np.asarray(hvp(v), dtype=np.float64)))
    err = float(np.std(values, ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return float(np.mean(values)), err


class ModelHVP:
    """``H v`` of a loss with respect to ``model.trainable_variables``.

    The loss is ``loss_fn()`` (a zero-argument closure), or with ``parts`` (argument tuples, e.g. the featurised
    micro-batches of ``SubsetObjective``) the sum of ``loss_fn(*part)`` over them: each product then sums one
    product (or gradient) per part, so no pass holds more than one part; ``loss_fn`` is traced once for all
    part shapes. Vectors are flat float64 arrays in variable order. ``count`` is the number of products computed.
    """

    def __init__(
        self,
        model,
        loss_fn: Callable,
        method: str = "double_backprop",
        fd_scale: float = 1e-3,
        parts: Sequence[tuple] | None = None,
    ):
        if method not in HVP_METHODS:
            raise PipelineError(f"ModelHVP: unknown method {method!r}; use one of {HVP_METHODS}")
        self.variables = list(model.trainable_variables)
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.dim = int(sum(self.sizes))
        self.method = method
        self.count = 0
        self.parts = [()] if parts is None else list(parts)
        if not self.parts:
            raise PipelineError("ModelHVP: no parts given; pass at least one micro-batch")
        variables = self.variables
        vector_spec = variable_spec(variables)
        like = self.parts[0]

        if method == "double_backprop":

            def part_product(vs, *part):
                with tf.GradientTape() as outer:
                    g = dense_gradient(loss_fn, variables, part)
                    dot = tf.add_n(
                        [tf.reduce_sum(a * tf.cast(b, a.dtype)) for a, b in zip(g, vs, strict=True)]
                    )
                return [
                    tf.convert_to_tensor(h)
                    for h in outer.gradient(
                        dot, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO
                    )
                ]

            summed_product = part_sum(part_product, vector_spec, vector_spec, like)

            def product(vs):
                return summed_product(vs, self.parts)
        else:
            w_norm = float(np.sqrt(sum(float(tf.reduce_sum(tf.square(v))) for v in variables)))
            eps = fd_scale * (1.0 + w_norm)
            gradient = part_sum(
                lambda _, *part: dense_gradient(loss_fn, variables, part), vector_spec, [], like
            )

            # Traced moves: eager per-variable ops would cost more than the gradients on a model with hundreds
            # of variables. The weights move once per side; the gradients at each side sum over the parts.
            @tf.function(input_signature=[vector_spec], autograph=False)
            def step(vs):
                v_norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(tf.cast(d, tf.float64))) for d in vs]))
                h = eps / tf.maximum(v_norm, 1e-30)
                steps = [
                    tf.cast(h, v.dtype) * tf.cast(d, v.dtype) for v, d in zip(variables, vs, strict=True)
                ]
                return [tf.identity(v) for v in variables], steps, h

            @tf.function(
                input_signature=[vector_spec, vector_spec, tf.TensorSpec([], tf.float32)], autograph=False
            )
            def place(originals, steps, sign):  # v <- w + sign * d; sign 0 restores w exactly
                for v, w, d in zip(variables, originals, steps, strict=True):
                    v.assign(w + tf.cast(sign, w.dtype) * d)

            @tf.function(
                input_signature=[vector_spec, vector_spec, tf.TensorSpec([], tf.float64)], autograph=False
            )
            def difference(plus, minus, h):
                return [(p - m) / tf.cast(2.0 * h, p.dtype) for p, m in zip(plus, minus, strict=True)]

            def product(vs):
                originals, steps, h = step(vs)
                try:
                    place(originals, steps, 1.0)
                    plus = gradient([], self.parts)
                    place(originals, steps, -1.0)
                    minus = gradient([], self.parts)
                finally:
                    place(originals, steps, 0.0)
                return difference(plus, minus, h)

        self._product = product

    def split(self, flat: np.ndarray) -> list:
        out, start = [], 0
        for v, shape, n in zip(self.variables, self.shapes, self.sizes, strict=True):
            out.append(tf.constant(flat[start : start + n].reshape(shape), dtype=v.dtype))
            start += n
        return out

    def __call__(self, flat: np.ndarray) -> np.ndarray:
        self.count += 1
        result = self._product(self.split(np.asarray(flat, dtype=np.float64)))
        return np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in result])


@dataclass
class SharpnessResult:
    epochs: list[int]
    loss: list[float] = field(default_factory=list)
    eigenvalue: list[float] = field(default_factory=list)
    dominant: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    converged: list[bool] = field(default_factory=list)
    residual: list[float] = field(default_factory=list)
    hvp_count: list[int] = field(default_factory=list)
    trace: list[float] = field(default_factory=list)
    trace_stderr: list[float] = field(default_factory=list)
    hvp_method: str = ""
    hvp_seconds: float = float("nan")
    grad_seconds: float = float("nan")
    subset_ids: list[str] = field(default_factory=list)


def hvp_method_for(model) -> str:
    """Double backprop, except for CTC: TensorFlow's fused CTC kernel blocks second derivatives."""
    return "finite_difference" if getattr(model, "decoder_type", "rnnt") == "ctc" else "double_backprop"


def sharpness(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    weights_paths: Sequence[str | Path],
    epochs: Sequence[int],
    data_files: Sequence[str],
    subset: int,
    max_iter: int,
    tol: float,
    samples: int,
    seed: int,
    batch_seconds: float | None,
) -> SharpnessResult:
    """Largest Hessian eigenvalue (Lanczos, see :func:`lanczos`) and trace (Hutchinson) of the subset loss at each
    epoch; products and gradients sum over the subset's micro-batches (``batch_seconds``). ``hvp_count`` is the
    number of Hessian-vector products of each epoch (Lanczos iterations + Hutchinson samples)."""
    obj = subset_objective(
        model_cfg=model_cfg,
        vocab_path=vocab_path,
        weights_path=weights_paths[0],
        data_files=data_files,
        subset=subset,
        wer=False,  # the loss alone: no decoding
        max_symbols_per_step=None,
        batch_seconds=batch_seconds,
    )
    model = obj.model
    hvp = ModelHVP(model, obj.part_loss, hvp_method_for(model), parts=obj.parts)
    out = SharpnessResult(epochs=list(epochs), hvp_method=hvp.method, subset_ids=obj.subset_ids)

    hvp(np.ones(hvp.dim))  # traces the product, so that the timings below are the steady-state cost
    hvp_times, grad_times = [], []
    for _ in obj.run.epochs(weights_paths):
        out.loss.append(float(obj.loss_fn()))
        count, began = hvp.count, time.perf_counter()
        top = lanczos(hvp, hvp.dim, max_iter=max_iter, tol=tol, seed=seed)
        trace, err = hutchinson_trace(hvp, hvp.dim, samples=samples, seed=seed)
        out.hvp_count.append(hvp.count - count)
        hvp_times.append((time.perf_counter() - began) / (hvp.count - count))
        obj.gradient()  # first call traces
        began = time.perf_counter()
        [tf.convert_to_tensor(g).numpy() for g in obj.gradient()]
        grad_times.append(time.perf_counter() - began)
        out.eigenvalue.append(top.eigenvalue)
        out.dominant.append(top.dominant)
        out.iterations.append(top.iterations)
        out.converged.append(top.converged)
        out.residual.append(top.residual)
        out.trace.append(trace)
        out.trace_stderr.append(err)
    out.hvp_seconds = float(np.median(hvp_times))
    out.grad_seconds = float(np.median(grad_times))
    return out
