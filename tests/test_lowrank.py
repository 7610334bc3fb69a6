"""Low-rank filtering: the conv variants' full kernels, ranks and parameter-count formulas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.models import build_model
from lowrank_asr.models.convolutions import (
    DenseConv1D,
    LowRankConv1D,
    RankConv1D,
    SeparableConv1D,
    make_conv,
)

C_IN, C_OUT, K = 6, 8, 5


def _x(t: int = 23, c: int = C_IN, seed: int = 0) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).standard_normal([2, t, c]).astype(np.float32))


def _dense_with(kernel: tf.Tensor, stride: int) -> DenseConv1D:
    dense = DenseConv1D(kernel.shape[2], kernel.shape[0], stride)
    dense.build((None, None, kernel.shape[1]))
    dense.kernel.assign(kernel)
    return dense


@pytest.mark.parametrize("conv,rank", [("separable", 1), ("lowrank", 1), ("rank", 1), ("rank", 3)])
@pytest.mark.parametrize("stride", [1, 2])
def test_layer_equals_dense_conv_with_its_full_kernel(conv, rank, stride):
    keras.utils.set_random_seed(1)
    layer = make_conv(conv, C_OUT, K, stride, rank)
    x = _x()
    y = layer(x)
    assert y.shape == (2, -(-23 // stride), C_OUT)
    w = layer.full_kernel()
    assert w.shape == (K, C_IN, C_OUT)
    np.testing.assert_allclose(y.numpy(), _dense_with(w, stride)(x).numpy(), atol=1e-5)


def test_full_kernels_have_the_stated_rank():
    keras.utils.set_random_seed(2)
    for conv, rank, bound in [("lowrank", 1, 1), ("rank", 2, 2), ("rank", 3, 3)]:
        layer = make_conv(conv, C_OUT, K, 1, rank)
        layer(_x())
        w = layer.full_kernel().numpy()
        ranks = [np.linalg.matrix_rank(w[:, :, o], tol=1e-5) for o in range(C_OUT)]
        assert max(ranks) == bound, (conv, rank, ranks)  # generic weights reach the bound
    dense = DenseConv1D(C_OUT, K)
    dense(_x())
    assert min(np.linalg.matrix_rank(dense.full_kernel().numpy()[:, :, o]) for o in range(C_OUT)) == K


def test_rank_one_is_lowrank_with_the_same_weights():
    keras.utils.set_random_seed(3)
    low, rank1 = LowRankConv1D(C_OUT, K, 2), RankConv1D(C_OUT, K, 2, rank=1)
    x = _x()
    low(x)
    rank1(x)
    rank1.pointwise.assign(low.pointwise)
    rank1.depthwise.assign(low.depthwise)
    np.testing.assert_allclose(rank1(x).numpy(), low(x).numpy(), atol=1e-6)


def test_rank_r_sums_r_lowrank_filters():
    """rank r = Σ_i of r lowrank layers whose weights are the i-th channel of each output group."""
    keras.utils.set_random_seed(4)
    r = 3
    layer = RankConv1D(C_OUT, K, 1, rank=r)
    x = _x()
    y = layer(x).numpy()
    total = 0.0
    for i in range(r):
        low = LowRankConv1D(C_OUT, K, 1)
        low(x)
        low.pointwise.assign(tf.convert_to_tensor(layer.pointwise).numpy()[:, i::r])
        low.depthwise.assign(tf.convert_to_tensor(layer.depthwise).numpy()[:, i::r])
        total = total + low(x).numpy()
    np.testing.assert_allclose(y, total, atol=1e-5)


@pytest.mark.parametrize(
    "cls,rank", [(SeparableConv1D, 1), (LowRankConv1D, 1), (RankConv1D, 2), (RankConv1D, 4), (DenseConv1D, 1)]
)
@pytest.mark.parametrize("c_in,c_out,k", [(6, 8, 5), (80, 32, 3), (17, 5, 7)])
def test_param_count_formula(cls, rank, c_in, c_out, k):
    layer = cls(c_out, k, 1, rank=rank) if cls is RankConv1D else cls(c_out, k, 1)
    layer.build((None, None, c_in))
    assert layer.count_params() == cls.param_count(c_in, c_out, k, rank)


def test_model_variants_parameter_counts_follow_the_formulas():
    blocks = [
        {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
        {"layers": 2, "channels": 24, "stride": 2, "repeat": 1},
    ]
    counts = {}
    for conv, rank in [("separable", 1), ("lowrank", 1), ("rank", 2)]:
        keras.utils.set_random_seed(0)
        model = build_model({"blocks": blocks, "conv": conv, "rank": rank, "decoder": "ctc"}, 29)
        counts[conv] = model.count_params()
    cls = {"separable": SeparableConv1D, "lowrank": LowRankConv1D, "rank": RankConv1D}
    shapes = [(80, 16), (16, 24), (24, 24)]

    def conv_params(conv, rank):
        return sum(cls[conv].param_count(a, b, 5, rank) for a, b in shapes)

    for conv, rank in [("lowrank", 1), ("rank", 2)]:
        assert counts[conv] - counts["separable"] == conv_params(conv, rank) - conv_params("separable", 1)
