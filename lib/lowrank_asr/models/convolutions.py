r"""The 1-D convolution variants of the encoder (config key ``conv``), all without bias (BN follows).

Notation: input x[t, c] with C_in channels, output y[t, o] with C_out channels, kernel size k, stride s.
Every variant is a linear map with a full kernel W[j, c, o] (``full_kernel()``):
y[t, o] = Σ_j Σ_c W[j, c, o] · x[s·t + j - ⌊(k-1)/2⌋, c]  (zero padding; output t centred on input s·t).

- ``separable`` (ContextNet baseline): depthwise D[k, C_in] then pointwise P[C_in, C_out]:
  W[j, c, o] = D[j, c] · P[c, o].  params = k·C_in + C_in·C_out;
  multiply-adds per output frame = k·C_in + C_in·C_out.
- ``lowrank`` (the group's ``lrcn``): pointwise P[C_in, C_out] first, then depthwise D[k, C_out] over each
  output channel: W[j, c, o] = P[c, o] · D[j, o] — every output filter is a rank-1 (time × channel) matrix.
  params = C_in·C_out + k·C_out; multiply-adds = C_in·C_out per *input* frame + k·C_out per output frame.
- ``rank`` (rank r): pointwise P[C_in, r·C_out], depthwise D[k, r·C_out], then output o sums the r channels
  o·r + i, i = 0…r-1: W[j, c, o] = Σ_i P[c, o·r+i] · D[j, o·r+i] — each output filter has rank ≤ r.
  params = r·C_in·C_out + r·k·C_out; multiply-adds = r·C_in·C_out per input frame + r·k·C_out per output
  frame (+ (r-1)·C_out adds). r = 1 is ``lowrank``.
- dense (reference only, ``DenseConv1D``): W free, params = k·C_in·C_out.

The padding is explicit (⌊(k-1)/2⌋ left, ⌊k/2⌋ right, then 'VALID'), never TF's 'SAME': with a stride,
'SAME' shifts the sampling grid with the parity of the padded batch length, so valid outputs would depend on
how much padding the batch has. Output length: ceil(T / s).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def pad_time(x: tf.Tensor, kernel_size: int) -> tf.Tensor:
    """Zero-pad [B, T, C] in time so a 'VALID' conv centres output t on input s·t."""
    return tf.pad(x, [[0, 0], [(kernel_size - 1) // 2, kernel_size // 2], [0, 0]])


def depthwise_conv1d(x: tf.Tensor, kernel: tf.Tensor, stride: int) -> tf.Tensor:
    """Per-channel temporal conv of x [B, T, C] with kernel [k, C]; output [B, ceil(T/stride), C].

    One op with the time padding inside it, as ``pad_time``'s: no Pad, slices or their gradients in the graph
    (six ops and their gradients per layer, ~115 layers in ContextNet-S).
    """
    k = kernel.shape[0]
    kernel = tf.reshape(kernel, [k, 1, -1, 1])
    # The dummy width axis has size 1, so striding it too is a no-op; TF's CPU kernel needs equal strides.
    y = tf.raw_ops.DepthwiseConv2dNative(
        input=tf.expand_dims(x, 2),
        filter=tf.cast(kernel, x.dtype),
        strides=[1, stride, stride, 1],
        padding="EXPLICIT",
        explicit_paddings=[0, 0, (k - 1) // 2, k // 2, 0, 0, 0, 0],
    )
    return tf.squeeze(y, 2)


def pointwise(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """1×1 conv: x [B, T, C_in] · kernel [C_in, C_out]."""
    return tf.einsum("btc,co->bto", x, kernel)


def out_length(lengths: tf.Tensor, stride: int) -> tf.Tensor:
    """Valid output lengths ceil(n / stride)."""
    return (lengths + stride - 1) // stride


class _Conv(keras.layers.Layer):
    """Common constructor and bookkeeping of the conv variants."""

    def __init__(self, filters: int, kernel_size: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.stride = int(filters), int(kernel_size), int(stride)

    def _add(self, name: str, shape: tuple[int, ...]) -> keras.Variable:
        return self.add_weight(name=name, shape=shape, initializer="glorot_uniform", trainable=True)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
        }


class SeparableConv1D(_Conv):
    """Depthwise k then pointwise: W[j, c, o] = D[j, c] · P[c, o]."""

    def build(self, input_shape):
        c_in = int(input_shape[-1])
        self.depthwise = self._add("depthwise", (self.kernel_size, c_in))
        self.pointwise = self._add("pointwise", (c_in, self.filters))

    def call(self, x):
        return pointwise(depthwise_conv1d(x, self.depthwise, self.stride), self.pointwise)

    def full_kernel(self) -> tf.Tensor:
        return tf.convert_to_tensor(self.depthwise)[:, :, None] * tf.convert_to_tensor(self.pointwise)[None]

    @staticmethod
    def param_count(c_in: int, c_out: int, k: int, rank: int) -> int:
        return k * c_in + c_in * c_out

    @staticmethod
    def macs_per_frame(c_in: int, c_out: int, k: int, stride: int, rank: int) -> float:
        """Multiply-adds per *input* frame."""
        return (k * c_in + c_in * c_out) / stride


class LowRankConv1D(_Conv):
    """Pointwise first, then depthwise over each output channel: W[j, c, o] = P[c, o] · D[j, o]."""

    def build(self, input_shape):
        c_in = int(input_shape[-1])
        self.pointwise = self._add("pointwise", (c_in, self.filters))
        self.depthwise = self._add("depthwise", (self.kernel_size, self.filters))

    def call(self, x):
        return depthwise_conv1d(pointwise(x, self.pointwise), self.depthwise, self.stride)

    def full_kernel(self) -> tf.Tensor:
        return tf.convert_to_tensor(self.pointwise)[None] * tf.convert_to_tensor(self.depthwise)[:, None, :]

    @staticmethod
    def param_count(c_in: int, c_out: int, k: int, rank: int) -> int:
        return c_in * c_out + k * c_out

    @staticmethod
    def macs_per_frame(c_in: int, c_out: int, k: int, stride: int, rank: int) -> float:
        return c_in * c_out + k * c_out / stride


class RankConv1D(_Conv):
    """Rank-r filters: W[j, c, o] = Σ_i P[c, o·r+i] · D[j, o·r+i]."""

    def __init__(self, filters: int, kernel_size: int, stride: int = 1, *, rank: int, **kwargs):
        super().__init__(filters, kernel_size, stride, **kwargs)
        self.rank = int(rank)

    def build(self, input_shape):
        c_in = int(input_shape[-1])
        self.pointwise = self._add("pointwise", (c_in, self.rank * self.filters))
        self.depthwise = self._add("depthwise", (self.kernel_size, self.rank * self.filters))

    def call(self, x):
        y = depthwise_conv1d(pointwise(x, self.pointwise), self.depthwise, self.stride)
        if self.rank == 1:
            return y
        shape = tf.shape(y)
        return tf.reduce_sum(tf.reshape(y, [shape[0], shape[1], self.filters, self.rank]), axis=-1)

    def full_kernel(self) -> tf.Tensor:
        w = tf.convert_to_tensor(self.pointwise)[None] * tf.convert_to_tensor(self.depthwise)[:, None, :]
        k, c_in = w.shape[0], w.shape[1]
        return tf.reduce_sum(tf.reshape(w, [k, c_in, self.filters, self.rank]), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "rank": self.rank}

    @staticmethod
    def param_count(c_in: int, c_out: int, k: int, rank: int) -> int:
        return rank * c_in * c_out + rank * k * c_out

    @staticmethod
    def macs_per_frame(c_in: int, c_out: int, k: int, stride: int, rank: int) -> float:
        return rank * c_in * c_out + (rank * k * c_out + (rank - 1) * c_out) / stride


class DenseConv1D(_Conv):
    """Unconstrained conv with kernel W[k, C_in, C_out] (reference for tests; same padding rule)."""

    def build(self, input_shape):
        self.kernel = self._add("kernel", (self.kernel_size, int(input_shape[-1]), self.filters))

    def call(self, x):
        return tf.nn.conv1d(pad_time(x, self.kernel_size), self.kernel, stride=self.stride, padding="VALID")

    def full_kernel(self) -> tf.Tensor:
        return tf.convert_to_tensor(self.kernel)

    @staticmethod
    def param_count(c_in: int, c_out: int, k: int, rank: int) -> int:
        return k * c_in * c_out

    @staticmethod
    def macs_per_frame(c_in: int, c_out: int, k: int, stride: int, rank: int) -> float:
        return k * c_in * c_out / stride


CONV_TYPES: dict[str, type[_Conv]] = {
    "separable": SeparableConv1D,
    "lowrank": LowRankConv1D,
    "rank": RankConv1D,
    "dense": DenseConv1D,
}


def make_conv(conv: str, filters: int, kernel_size: int, stride: int, rank: int, name: str | None = None):
    """The conv layer of type ``conv`` (separable | lowrank | rank | dense)."""
    if conv == "rank":
        return RankConv1D(filters, kernel_size, stride, rank=rank, name=name)
    return CONV_TYPES[conv](filters, kernel_size, stride, name=name)
