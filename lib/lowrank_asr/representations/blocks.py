"""Every encoder block's output on a batch, from one traced function per model, and frame-rate alignment.

``make_block_outputs_fn(model)`` traces features → (wave front end) → encoder once and returns the output and
valid lengths of *every* block (the same computation as ``ASRModel.encode(training=False)``, whose last
block output it reproduces: tested), so no model is rebuilt or re-traced per block. Padded frames are 0 in
the outputs; ``valid_frames`` (spectra.py) keeps frames t < length only.

Blocks after a stride run at a lower frame rate. To compare blocks frame by frame (CKA), ``pool_frames``
averages each block's valid frames over windows of ``factor`` frames down to a common rate (the encoder's
output rate): window t of a block with cumulative reduction R_b covers its frames [t·f, t·f + f) with
f = R / R_b, and the pooled lengths are ceil(n_b / f) = ceil(n / R), the encoder's output lengths.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from lowrank_asr.errors import PipelineError
from lowrank_asr.models.contextnet import time_mask

_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def make_block_outputs_fn(model):
    """tf.function (audio [B, S], audio_len [B]) → (outputs tuple of [B, T_b, C_b], lengths tuple of [B]).

    Cached per model (weights may change between calls: they are read, not baked in).
    """
    if model in _FNS:
        return _FNS[model]

    @tf.function(reduce_retracing=True, autograph=False)
    def block_outputs(audio, audio_len):
        x, x_len = model.featurize(audio, audio_len)
        x_len = tf.cast(x_len, tf.int32)
        if model.wave is not None:
            x, x_len = model.wave(x, x_len)
        x = model.specaugment(x, x_len, training=False)
        x = x * time_mask(x_len, tf.shape(x)[1], x.dtype)  # as ContextNetEncoder.call
        outputs, lengths = [], []
        for block in model.encoder.blocks:
            x, x_len = block(x, x_len, training=False)
            outputs.append(x)
            lengths.append(x_len)
        return tuple(outputs), tuple(lengths)

    _FNS[model] = block_outputs
    return block_outputs


def block_names(model) -> list[str]:
    return [spec.name for spec in model.specs]


def block_reductions(model) -> list[int]:
    """Cumulative time reduction after each block (1, 2, 2, 4, ...)."""
    return [int(r) for r in np.cumprod([spec.stride for spec in model.specs])]


def block_outputs(model, audio, audio_len) -> list[tuple[np.ndarray, np.ndarray]]:
    """(outputs [B, T_b, C_b] float32, lengths [B]) of every block, as numpy."""
    outs, lens = make_block_outputs_fn(model)(
        tf.convert_to_tensor(audio, tf.float32), tf.convert_to_tensor(audio_len, tf.int32)
    )
    return [(o.numpy(), n.numpy()) for o, n in zip(outs, lens, strict=True)]


def pool_frames(outputs: np.ndarray, lengths: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over valid frames of each window of ``factor`` frames: ([B, ceil(T/f), D] float64, ceil(n/f))."""
    if factor < 1:
        raise PipelineError(f"pool_frames: factor must be a positive integer, got {factor}")
    y = np.asarray(outputs, np.float64)
    lengths = np.asarray(lengths, np.int64)
    b, t, d = y.shape
    n_out = -(-t // factor)
    mask = (np.arange(n_out * factor)[None, :] < lengths[:, None]).astype(np.float64)  # [B, T_pad]
    y = np.pad(y, [(0, 0), (0, n_out * factor - t), (0, 0)]) * mask[:, :, None]
    sums = y.reshape(b, n_out, factor, d).sum(axis=2)
    counts = mask.reshape(b, n_out, factor).sum(axis=2)[:, :, None]
    return sums / np.maximum(counts, 1.0), -(-lengths // factor)
