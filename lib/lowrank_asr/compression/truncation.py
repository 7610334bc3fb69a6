"""Post-hoc low-rank approximation: rank-r truncated SVDs of the encoder's pointwise and dense weights.

The weights replaced are every 2-D kernel of the encoder: the pointwise P of each conv layer
(separable / lowrank: [C_in, C_out]; rank r: [C_in, r·C_out]), the residual projections, and the two dense
layers of every squeeze-and-excitation. Depthwise kernels, batch norm, biases, the front end and the decoder
are left as they are. A weight [C, O] at rank fraction f keeps r = ⌈f · min(C, O)⌉ singular
values (Eckart–Young: the best rank-r approximation in Frobenius and spectral norm).

Parameter count: a rank-r layer stored as two factors [C, r]·[r, O] has r·(C + O) parameters; when that is not
fewer than C·O (r ≥ C·O / (C + O)) the approximation is counted as stored densely, C·O. So the count of a
layer is min(C·O, r·(C + O)) and at full rank it is the original C·O (and the weight is left exactly as it is).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.models.summary import trainable_params


def truncated_svd(weight: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors (A [C, r], B [r, O]) with A·B the best rank-r approximation of weight [C, O] (float64)."""
    w = np.asarray(weight, np.float64)
    if w.ndim != 2:
        raise PipelineError(f"truncated_svd: expected a 2-D weight [C, O], got shape {w.shape}")
    if not 1 <= rank <= min(w.shape):
        raise PipelineError(
            f"truncated_svd: rank must be in 1..{min(w.shape)} for a {w.shape} weight, got {rank}"
        )
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return u[:, :rank] * s[:rank], vt[:rank]


def truncate(weight: np.ndarray, rank: int) -> np.ndarray:
    """The rank-r approximation of weight [C, O], same shape (float64)."""
    a, b = truncated_svd(weight, rank)
    return a @ b


def factor_params(c: int, o: int, rank: int) -> int:
    """Parameters of a rank-r layer stored as two factors: r·(C + O)."""
    return rank * (c + o)


def layer_params(c: int, o: int, rank: int) -> int:
    """Parameters of the rank-r approximation stored the cheaper way: min(C·O, r·(C + O))."""
    return min(c * o, factor_params(c, o, rank))


def rank_for_fraction(shape: tuple[int, int], fraction: float) -> int:
    """r = ⌈fraction · min(C, O)⌉ for a rank fraction in (0, 1]: at least the fraction asked for, and >= 1."""
    if not 0.0 < float(fraction) <= 1.0:
        raise PipelineError(f"rank fraction must be in (0, 1], got {fraction!r}")
    # rounded to 9 decimals first: 0.1 · 30 is 3.0000000000000004 in binary, whose ceiling would be 4
    return math.ceil(round(float(fraction) * min(shape), 9))


def encoder_dense_weights(model) -> dict[str, object]:
    """{variable path: variable} of every 2-D kernel of the encoder (see the module docstring)."""
    variables = []
    for block in model.encoder.blocks:
        variables += [layer.conv.pointwise for layer in block.layers_]  # not the (also 2-D) depthwise kernels
        if block.spec.residual:
            variables.append(block.res_conv.kernel)
        if block.se is not None:
            variables += [block.se.fc1.kernel, block.se.fc2.kernel]
    return {var.path: var for var in variables}


@dataclass(frozen=True)
class TruncatedLayer:
    path: str
    shape: tuple[int, int]
    rank: int
    params: int  # min(C·O, r·(C + O))


@dataclass(frozen=True)
class Truncation:
    fraction: float
    layers: list[TruncatedLayer]
    model_params: int  # trainable parameters of the whole model after truncation (as the WER table)
    encoder_params: int  # ... of the encoder

    @property
    def dense_params(self) -> int:
        return sum(layer.params for layer in self.layers)


def truncate_encoder(model, fraction: float, originals: Mapping[str, np.ndarray] | None = None) -> Truncation:
    """Replace every encoder dense/pointwise weight by its rank-r truncation at ``fraction``, in place.

    ``originals`` ({path: array}, from ``snapshot_dense_weights``) are the weights to truncate, so that
    several fractions can be applied one after the other to the same model; without it the current
    values are used.
    """
    variables = encoder_dense_weights(model)
    if originals is not None and set(originals) != set(variables):
        raise PipelineError(
            "truncate_encoder: originals do not match the model's encoder weights; take them "
            "with snapshot_dense_weights(model) from the same model"
        )
    layers: list[TruncatedLayer] = []
    for path, var in variables.items():
        w = np.asarray(originals[path] if originals is not None else var.numpy())
        c, o = w.shape
        rank = rank_for_fraction((c, o), fraction)
        # at full rank the weight itself, not its float64 SVD round trip, so that outputs stay bit-identical
        var.assign(w if rank == min(c, o) else truncate(w, rank).astype(w.dtype))
        layers.append(TruncatedLayer(path, (c, o), rank, layer_params(c, o, rank)))
    saved = sum(c * o - layer.params for layer in layers for c, o in [layer.shape])
    return Truncation(
        float(fraction), layers, trainable_params(model) - saved, trainable_params(model.encoder) - saved
    )


def snapshot_dense_weights(model) -> dict[str, np.ndarray]:
    """Copies of the encoder's dense/pointwise weights (to restore them or truncate from them again)."""
    return {path: var.numpy().copy() for path, var in encoder_dense_weights(model).items()}


def restore_dense_weights(model, originals: Mapping[str, np.ndarray]) -> None:
    for path, var in encoder_dense_weights(model).items():
        var.assign(originals[path])
