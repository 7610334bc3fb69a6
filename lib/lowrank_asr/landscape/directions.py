"""Filter-normalised random directions in weight space (Li et al. 2018, "Visualizing the Loss Landscape").

Conventions (other code relies on them):

- Only the model's *trainable* variables get a direction, in ``model.trainable_variables`` order. Non-trainable
  state (batch-norm moving mean/variance, step counters) is never perturbed, so the landscape shows the loss
  as a function of the learned parameters with the inference-time normalisation fixed.
- A "filter" is the slice of a kernel that produces one output channel. Keras kernels put the output channel
  LAST (``Dense [in, out]``, ``Conv1D [k, in, out]``, LSTM ``[in, 4*units]``), so by default the filter index
  is the last axis and the norm is taken over all other axes.
- Depthwise kernels ``[k, C, multiplier]`` produce one output channel per (C, multiplier) pair, so their
  filters are indexed by the last TWO axes (the norm runs over the taps ``k`` only). Known Keras depthwise
  layers are recognised by :func:`model_filter_axes`; for bare arrays the heuristic "ndim >= 3 and last axis
  of size 1" selects this rule (a depthwise kernel with multiplier 1, the case in ContextNet).
- Embedding tables ``[vocab, dim]`` are normalised per ROW (one token vector = one filter), which is what Li et
  al.'s reference code does for PyTorch embeddings (filter = dim 0 there).
- 1-D parameters (biases, batch/layer-norm gamma and beta, scalars) get a ZERO direction ("ignore biasbn"):
  they stay at their trained values at every grid point.
- Directions are Gaussian, drawn with a numpy ``Generator`` seeded from ``seed`` only: d1 and d2 come from two
  independent child streams of ``SeedSequence(seed)``, variable by variable in order, so the same seed and
  the same variable shapes give bit-identical directions on any machine and for every epoch of a variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from lowrank_asr.errors import PipelineError

# Filter spec per variable: the axes that index filters (kept), or None for a zero direction.
FilterAxes = tuple[int, ...] | None


def default_filter_axes(shape: Sequence[int]) -> FilterAxes:
    """Filter axes for a bare array of ``shape`` (see the module docstring for the rules)."""
    ndim = len(shape)
    if ndim <= 1:
        return None
    if ndim >= 3 and shape[-1] == 1:
        return (ndim - 2, ndim - 1)  # depthwise kernel [..., C, 1]: one filter per channel
    return (ndim - 1,)


def model_filter_axes(model) -> list[FilterAxes]:
    """Filter axes for each of ``model.trainable_variables``, using the layer type where it is known.

    Depthwise kernels (``DepthwiseConv1D/2D``, the depthwise half of ``SeparableConv``) -> last two axes;
    ``Embedding`` tables -> rows; everything else -> :func:`default_filter_axes`.
    """
    special: dict[int, str] = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.DepthwiseConv1D | keras.layers.DepthwiseConv2D):
            special[id(layer.kernel)] = "depthwise"
        elif isinstance(layer, keras.layers.SeparableConv1D | keras.layers.SeparableConv2D):
            special[id(layer.depthwise_kernel)] = "depthwise"
            special[id(layer.pointwise_kernel)] = "dense"
        elif isinstance(layer, keras.layers.Embedding):
            special[id(layer.embeddings)] = "embedding"
        elif isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Dense):
            # A conv with a single output channel is NOT depthwise, whatever its shape suggests.
            special[id(layer.kernel)] = "dense"
    axes: list[FilterAxes] = []
    for v in model.trainable_variables:
        shape = tuple(v.shape)
        kind = special.get(id(v))
        if len(shape) <= 1:
            axes.append(None)
        elif kind == "depthwise":
            axes.append((len(shape) - 2, len(shape) - 1))
        elif kind == "embedding":
            axes.append((0,))
        elif kind == "dense":
            axes.append((len(shape) - 1,))
        else:
            axes.append(default_filter_axes(shape))
    return axes


def model_weights(model) -> list[np.ndarray]:
    """Copies of the model's trainable weights (the centre of the landscape), in variable order."""
    return [np.array(v.numpy(), copy=True) for v in model.trainable_variables]


def filter_norms(array: np.ndarray, axes: FilterAxes) -> np.ndarray:
    """Euclidean norm of each filter of ``array`` (shape: the filter axes, others reduced to size 1)."""
    if axes is None:
        raise PipelineError("filter_norms: a parameter with a zero direction has no filters")
    reduce = tuple(i for i in range(array.ndim) if i not in axes)
    return np.sqrt(np.sum(np.square(array.astype(np.float64)), axis=reduce, keepdims=True))


def _normalise(direction: np.ndarray, weight: np.ndarray, axes: FilterAxes) -> np.ndarray:
    if axes is None:
        return np.zeros_like(weight)
    d_norm = filter_norms(direction, axes)
    w_norm = filter_norms(weight, axes)
    # A Gaussian filter has norm 0 with probability 0, but guard anyway; an all-zero weight filter
    # (e.g. pruned) gets a zero direction, as in Li et al. (d * 0 / |d|).
    scale = np.divide(w_norm, d_norm, out=np.zeros_like(d_norm), where=d_norm > 0)
    return (direction * scale).astype(weight.dtype)


def random_directions(
    weights: Sequence[np.ndarray],
    seed: int,
    *,
    filter_axes: Sequence[FilterAxes] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two filter-normalised Gaussian directions ``(d1, d2)`` with the shapes and dtypes of ``weights``.

    ``weights``: the trainable weights (see :func:`model_weights`). ``filter_axes``: one spec per weight
    (see :func:`model_filter_axes`); default :func:`default_filter_axes` per shape. Deterministic in ``seed``.
    """
    weights = [np.asarray(w) for w in weights]
    if filter_axes is None:
        filter_axes = [default_filter_axes(w.shape) for w in weights]
    if len(filter_axes) != len(weights):
        raise PipelineError(
            f"random_directions: {len(filter_axes)} filter-axes specs for {len(weights)} weights; "
            "pass one spec per trainable variable (model_filter_axes(model))"
        )
    rng1, rng2 = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2))
    d1: list[np.ndarray] = []
    d2: list[np.ndarray] = []
    for w, axes in zip(weights, filter_axes, strict=True):
        # Draw for every variable, zero-direction ones included, so that changing the filter rule for one
        # variable does not shift the random stream of all the following ones.
        g1 = rng1.standard_normal(w.shape)
        g2 = rng2.standard_normal(w.shape)
        d1.append(_normalise(g1, w, axes))
        d2.append(_normalise(g2, w, axes))
    return d1, d2


def model_directions(model, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """:func:`random_directions` for ``model``'s trainable weights with layer-aware filter axes."""
    return random_directions(model_weights(model), seed, filter_axes=model_filter_axes(model))
