"""ContextNet encoder (Han et al. 2020, arXiv 2005.03191) with masking and the learnable wave front end.

Block (paper fig. 1/eq. 1–3): ``layers`` × [conv variant (k = 5) → batch norm → swish], the stride on the
last conv layer; squeeze-and-excitation θ(x̄) = sigmoid(W₂ swish(W₁ x̄ + b₁) + b₂) with x̄ the mean over
the utterance's *valid* frames; if the block has a residual (``layers`` > 1: C1–C21 in the paper):
y = swish(SE(f(x)) + BN(P x)), P a pointwise conv with the block's stride. Blocks without residual (C0, C22)
output SE(f(x)).

Padding never leaks into valid outputs: after every conv layer and block the padded frames are set to 0
(convs see zeros = the utterance's own zero padding), batch norm gets the mask (its batch statistics
ignore padded frames), SE averages valid frames only, and strided convs keep a fixed sampling grid
(see convolutions.py). Lengths after a stride-s block: ceil(n / s).

Unstated choices (the paper does not give them):
- SE reduction ratio 2 (bottleneck C/2; with it S/M/L come to 11.8 M / 31.2 M / 108.0 M against the paper's
  10.8 M / 31.4 M / 112.7 M), swish inside SE, biases in the SE dense layers only;
- convs without bias (BN follows), BN momentum 0.99, epsilon 1e-3 (Keras defaults);
- ``alpha`` scales every block's channels, rounded to the nearest integer.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lowrank_asr.features.logmel import LOG_EPS, apply_normalization, normalize_per_utterance, num_frames
from lowrank_asr.models.batchnorm import MaskedBatchNorm
from lowrank_asr.models.config import BlockSpec
from lowrank_asr.models.convolutions import make_conv, out_length

SE_REDUCTION = 2


class Composite(keras.layers.Layer):
    """A layer made of sublayers that build on their first (eager) call.

    Defining ``build`` stops Keras 3 from tracing ``call`` symbolically to build the sublayers, which costs
    seconds per nesting level for the paper-sized encoder.
    """

    def build(self, *args, **kwargs):
        self.built = True


def time_mask(lengths: tf.Tensor, maxlen: tf.Tensor, dtype=tf.float32) -> tf.Tensor:
    """[B, T, 1] mask, 1 on valid frames."""
    return tf.expand_dims(tf.sequence_mask(lengths, maxlen, dtype=dtype), -1)


def _swish_gradient(x: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    """dy · swish'(x) in ``tf.nn.silu``'s expression. As there, sigmoid(x) is recomputed once dy exists, not kept
    from the forward pass: that saves the memory of one [B, T, C] tensor per layer."""
    with tf.control_dependencies([dy]):
        sigmoid = tf.sigmoid(x)
    return dy * (sigmoid * (1.0 + x * (1.0 - sigmoid)))


@tf.custom_gradient
def swish(x: tf.Tensor):
    """``tf.nn.silu(x)`` with the same values and gradient in fewer graph ops: without the gradient for the
    constant β that ``tf.nn.silu`` builds and then drops, in every one of the encoder's ~115 layers."""
    return x * tf.sigmoid(x), lambda dy: _swish_gradient(x, dy)


@tf.custom_gradient
def masked_swish(x: tf.Tensor, mask: tf.Tensor):
    """``swish(x) * mask`` (mask [B, T, 1]) with the same values and gradient, without the broadcasting
    multiplication's generic gradient (~8 ops, after each of the encoder's ~140 activations)."""
    return x * tf.sigmoid(x) * mask, lambda dy: (_swish_gradient(x, dy * mask), None)


class ConvLayer(Composite):
    """Conv variant → batch norm (masked statistics) → swish → zero the padded frames.

    ``valid``: the input frames' ``time_mask``; a stride-1 layer's output frames are the same, so the block
    passes one mask down its layers (a mask per layer was ~25 graph nodes, ~115 times in ContextNet-S).
    Returns the output, its lengths and its mask.
    """

    def __init__(self, conv: str, filters: int, kernel_size: int, stride: int, rank: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride
        self.conv = make_conv(conv, filters, kernel_size, stride, rank, name="conv")
        self.bn = MaskedBatchNorm(name="bn")

    def call(self, x, lengths, training=False, valid=None):
        y = self.conv(x)
        mask = valid
        if self.stride > 1 or mask is None:
            lengths = out_length(lengths, self.stride)
            mask = time_mask(lengths, tf.shape(y)[1], y.dtype)
        mask = tf.cast(mask, y.dtype)
        y = self.bn(y, training=training, weight=mask)
        return masked_swish(y, mask), lengths, mask


class SqueezeExcite(Composite):
    """Channel gating from the mean over valid frames."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION, **kwargs):
        super().__init__(**kwargs)
        self.fc1 = keras.layers.Dense(max(1, channels // reduction), name="fc1")
        self.fc2 = keras.layers.Dense(channels, name="fc2")

    def call(self, x, lengths, valid=None):
        """``valid``: ``time_mask(lengths, ...)`` where the caller has it (not ``mask``: Keras reserves it)."""
        mask = time_mask(lengths, tf.shape(x)[1], x.dtype) if valid is None else tf.cast(valid, x.dtype)
        count = tf.expand_dims(tf.maximum(tf.cast(lengths, x.dtype), 1.0), -1)
        mean = tf.reduce_sum(x * mask, axis=1) / count  # [B, C]
        gate = tf.sigmoid(self.fc2(swish(self.fc1(mean))))
        return x * tf.expand_dims(gate, 1)


class ContextNetBlock(Composite):
    """One ContextNet block C_i."""

    def __init__(
        self,
        spec: BlockSpec,
        conv: str,
        kernel_size: int,
        rank: int,
        se: bool,
        dropout: float,
        **kwargs,
    ):
        super().__init__(name=spec.name, **kwargs)
        self.spec = spec
        self.layers_ = [
            ConvLayer(
                conv,
                spec.channels,
                kernel_size,
                spec.stride if i == spec.layers - 1 else 1,
                rank,
                name=f"conv{i}",
            )
            for i in range(spec.layers)
        ]
        self.se = SqueezeExcite(spec.channels, name="se") if se else None
        if spec.residual:
            self.res_conv = Pointwise(spec.channels, spec.stride, name="res_conv")
            self.res_bn = MaskedBatchNorm(name="res_bn")
        self.dropout = keras.layers.Dropout(dropout) if dropout > 0 else None

    def call(self, x, lengths, training=False, valid=None):
        """``valid``: the input frames' ``time_mask``, if the caller has it."""
        y, y_len, mask = x, lengths, valid
        for layer in self.layers_:
            y, y_len, mask = layer(y, y_len, training=training, valid=mask)
        if self.se is not None:
            y = self.se(y, y_len, valid=mask)
        if self.spec.residual:
            r = self.res_conv(x)
            r = self.res_bn(r, training=training, weight=mask)
            y = masked_swish(y + r, mask)
        # the padded frames are 0 already: the layers' and the residual's outputs are masked, SE and dropout
        # scale them
        if self.dropout is not None:
            y = self.dropout(y, training=training)
        return y, y_len


class Pointwise(keras.layers.Layer):
    """Strided 1×1 conv (the residual projection): y[t] = x[s·t] · P."""

    def __init__(self, filters: int, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride = filters, stride

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(int(input_shape[-1]), self.filters), initializer="glorot_uniform"
        )

    def call(self, x):
        return tf.einsum("btc,co->bto", x[:, :: self.stride] if self.stride > 1 else x, self.kernel)


class WaveFrontend(Composite):
    """Learnable front end on the raw waveform: Conv1D(filters, kernel, stride, 'valid', no bias).

    Output frames: ``1 + (n - kernel) // stride`` for n samples (0 if n < kernel) — the same count as the
    log-mel front end with 25 ms / 10 ms at 16 kHz. Compression: log(y² + 1e-6) (a log-energy per filter and
    frame, like log-mel), then per-utterance mean/variance normalisation over valid frames, padding 0.
    """

    def __init__(self, filters: int, kernel: int, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride = kernel, stride
        self.conv = keras.layers.Conv1D(
            filters, kernel, strides=stride, padding="valid", use_bias=False, name="conv"
        )

    def log_energies(self, audio, audio_len):
        """The log energies before the normalisation: ``([B, T, filters], frame counts)``."""
        short = tf.maximum(self.kernel_size - tf.shape(audio)[1], 0)
        audio = tf.pad(audio, [[0, 0], [0, short]])
        y = self.conv(audio[:, :, None])
        return tf.math.log(tf.square(y) + LOG_EPS), num_frames(audio_len, self.kernel_size, self.stride)

    def call(self, audio, audio_len, stats=None):
        """``stats``: fixed ``(mean, scale)`` to normalise with instead of each utterance's own (integrated
        gradients holds them fixed along the path from a baseline)."""
        x, x_len = self.log_energies(audio, audio_len)
        if stats is None:
            return normalize_per_utterance(x, x_len), x_len
        return apply_normalization(x, x_len, stats), x_len


class ContextNetEncoder(Composite):
    """The stack of blocks; input [B, T, F] features and lengths, output [B, T', D] and lengths."""

    def __init__(
        self,
        specs: list[BlockSpec],
        conv: str,
        kernel_size: int,
        rank: int,
        se: bool,
        dropout: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.specs = specs
        self.blocks = [ContextNetBlock(s, conv, kernel_size, rank, se, dropout) for s in specs]

    def call(self, x, lengths, training=False):
        mask = time_mask(lengths, tf.shape(x)[1], x.dtype)
        x = x * mask
        for block in self.blocks:
            x, lengths = block(x, lengths, training=training, valid=mask)
            if block.spec.stride > 1:  # else the frames are the input's: the same mask
                mask = time_mask(lengths, tf.shape(x)[1], x.dtype)
        return x, lengths
