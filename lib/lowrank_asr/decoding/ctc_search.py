"""CTC decoding: best-path (greedy) and TensorFlow's prefix beam search, blank at any index (default 0)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lowrank_asr.errors import PipelineError


def ctc_greedy(logits, lengths, blank: int = 0) -> list[list[int]]:
    """Best path per utterance: argmax per frame (frames < length), collapse repeats, drop blanks."""
    best = tf.argmax(logits, axis=-1, output_type=tf.int32).numpy()  # [B, T]
    lengths = np.asarray(tf.convert_to_tensor(lengths)).astype(np.int64)
    out = []
    for row, n in zip(best, lengths, strict=True):
        path = row[: max(int(n), 0)]
        # A token is kept where it differs from its predecessor (repeats collapse) and is not blank.
        keep = np.ones(len(path), bool)
        keep[1:] = path[1:] != path[:-1]
        out.append([int(v) for v in path[keep] if v != blank])
    return out


def ctc_beam_search(logits, lengths, *, beam_width: int, blank: int = 0) -> list[list[int]]:
    """Most probable labelling per utterance by ``tf.nn.ctc_beam_search_decoder`` (prefix beam search).

    TensorFlow's decoder treats the *last* class as blank, so the classes are permuted to move ``blank`` to
    the end and the decoded ids are mapped back.
    """
    if beam_width < 1:
        raise PipelineError(f"beam_width must be >= 1, got {beam_width}.")
    logits = tf.cast(tf.convert_to_tensor(logits), tf.float32)
    num_classes = int(logits.shape[-1]) if logits.shape[-1] is not None else int(tf.shape(logits)[-1])
    if not 0 <= blank < num_classes:
        raise PipelineError(f"blank index {blank} is outside the {num_classes} classes of the logits.")
    order = np.array([c for c in range(num_classes) if c != blank] + [blank], np.int32)
    log_probs = tf.nn.log_softmax(tf.gather(logits, order, axis=-1), axis=-1)
    batch = int(tf.shape(logits)[0])
    lengths = tf.cast(lengths, tf.int32)
    decoded, _ = tf.nn.ctc_beam_search_decoder(
        tf.transpose(log_probs, [1, 0, 2]), lengths, beam_width=beam_width, top_paths=1
    )
    sparse = decoded[0]
    out: list[list[int]] = [[] for _ in range(batch)]
    # SparseTensor indices are row-major ordered, so appending keeps each utterance's token order.
    for (b, _), v in zip(sparse.indices.numpy(), sparse.values.numpy(), strict=True):
        out[int(b)].append(int(order[v]))
    return out
