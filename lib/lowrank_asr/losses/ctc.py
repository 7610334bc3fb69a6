"""CTC loss: a thin wrapper around ``tf.nn.ctc_loss`` with the project's batch-major conventions."""

from __future__ import annotations

import tensorflow as tf


def ctc_loss(
    logits: tf.Tensor, labels: tf.Tensor, logit_length: tf.Tensor, label_length: tf.Tensor, blank: int = 0
) -> tf.Tensor:
    """Per-utterance CTC negative log-likelihood [B].

    Args:
        logits: [B, T, V] unnormalised (float16/bfloat16 are computed in float32).
        labels: [B, U] token ids, padded with anything beyond label_length.
        logit_length: [B] valid frames; label_length: [B] valid labels.
        blank: index of the blank class.

    Utterances with no valid alignment (too few frames) get an infinite loss, as ``tf.nn.ctc_loss`` gives.
    """
    logits = tf.convert_to_tensor(logits)
    if logits.dtype not in (tf.float32, tf.float64):
        logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    logit_length = tf.cast(logit_length, tf.int32)
    label_length = tf.cast(label_length, tf.int32)
    # Sparse labels select TF's fused CTC kernel (much faster than the dense scan implementation) and, being
    # built from label_length, do not depend on the padding value.
    mask = tf.sequence_mask(label_length, tf.shape(labels)[1])
    indices = tf.where(mask)
    sparse = tf.SparseTensor(indices, tf.gather_nd(labels, indices), tf.cast(tf.shape(labels), tf.int64))
    return tf.nn.ctc_loss(
        labels=sparse,
        logits=logits,
        label_length=None,
        logit_length=logit_length,
        logits_time_major=False,
        blank_index=blank,
    )
