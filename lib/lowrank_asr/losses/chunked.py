"""Memory-bounded RNN-T: the joint network and the loss run over sub-batches of utterances, forward and backward.

The joint's output [B, T', U+1, V] dominates an RNN-T training step's memory (TensorFlowASR's out-of-memory
reports). ``chunked_rnnt_loss`` computes it for ``chunk`` utterances at a time in a ``tf.while_loop`` (the batch
size is unknown inside a traced step) and keeps none of it: a custom gradient recomputes each sub-batch's joint
and loss in the backward pass (gradient checkpointing), so the 4-D tensors and their gradients exist for one
sub-batch at a time. Encoder and prediction network outputs are inputs here: they run once for the whole batch.
The result and its gradients equal the unchunked ``rnnt_loss(joint(enc, pred), ...)`` up to float summation
order (each utterance's loss is the same computation; variable gradients are summed over sub-batches).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from lowrank_asr.losses.rnnt import rnnt_loss


def chunked_rnnt_loss(
    joint: Callable,
    enc: tf.Tensor,
    pred: tf.Tensor,
    labels: tf.Tensor,
    enc_len: tf.Tensor,
    label_len: tf.Tensor,
    chunk: int,
    blank: int = 0,
) -> tf.Tensor:
    """Per-utterance RNN-T NLL [B] of ``joint(enc, pred)``, ``chunk`` utterances at a time.

    Args:
        joint: (enc [b, T', D], pred [b, U+1, P]) -> logits [b, T', U+1, V]; may read trainable variables
            (their gradients are returned through the custom gradient).
        enc, pred: encoder output [B, T', D] and blank-prefixed prediction output [B, U+1, P].
        labels, enc_len, label_len: as for ``rnnt_loss``.
        chunk: utterances per sub-batch (>= 1).
    """
    if int(chunk) < 1:
        raise ValueError(f"joint chunk must be >= 1 utterance, got {chunk}")
    chunk = int(chunk)
    labels = tf.cast(labels, tf.int32)
    enc_len = tf.cast(enc_len, tf.int32)
    label_len = tf.cast(label_len, tf.int32)
    batch = tf.shape(enc)[0]
    pieces = (batch + chunk - 1) // chunk

    def piece(i, *tensors):
        start = i * chunk
        stop = tf.minimum(start + chunk, batch)
        return [t[start:stop] for t in tensors]

    def piece_loss(e, p, i):
        y, el, yl = piece(i, labels, enc_len, label_len)
        return rnnt_loss(joint(e, p), y, el, yl, blank=blank)

    @tf.custom_gradient
    def losses(enc, pred):
        def forward(i, out):
            e, p = piece(i, enc, pred)
            return i + 1, out.write(i, piece_loss(e, p, i))

        out = tf.TensorArray(tf.float32, size=pieces, infer_shape=False)
        # parallel_iterations=1: the sub-batches are independent, so TensorFlow would otherwise run up to 10
        # of them at once (the default), holding their joint tensors together
        _, out = tf.while_loop(lambda i, _: i < pieces, forward, (tf.constant(0), out), parallel_iterations=1)
        result = tf.reshape(out.concat(), [batch])

        def grad(upstream, variables=None):
            watched = list(variables or [])

            def backward(i, d_enc, d_pred, d_vars):
                e, p, up = piece(i, enc, pred, upstream)
                with tf.GradientTape() as tape:
                    tape.watch([e, p])
                    value = piece_loss(e, p, i)
                g_e, g_p, *g_vars = tape.gradient(
                    value,
                    [e, p, *watched],
                    output_gradients=up,
                    unconnected_gradients=tf.UnconnectedGradients.ZERO,
                )
                return (
                    i + 1,
                    d_enc.write(i, g_e),
                    d_pred.write(i, g_p),
                    [acc + tf.cast(g, acc.dtype) for acc, g in zip(d_vars, g_vars, strict=True)],
                )

            d_enc = tf.TensorArray(enc.dtype, size=pieces, infer_shape=False)
            d_pred = tf.TensorArray(pred.dtype, size=pieces, infer_shape=False)
            d_vars = [tf.zeros(v.shape, v.dtype) for v in watched]
            _, d_enc, d_pred, d_vars = tf.while_loop(
                lambda i, *_: i < pieces,
                backward,
                (tf.constant(0), d_enc, d_pred, d_vars),
                parallel_iterations=1,
            )
            d_enc = tf.reshape(d_enc.concat(), tf.shape(enc))
            d_pred = tf.reshape(d_pred.concat(), tf.shape(pred))
            return ((d_enc, d_pred), d_vars) if variables is not None else (d_enc, d_pred)

        return result, grad

    return losses(enc, pred)
