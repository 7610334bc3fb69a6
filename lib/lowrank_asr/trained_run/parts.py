"""Sums over the micro-batches ("parts") of an analysis subset, one traced function for every part shape.

A loss over a subset is the sum of its parts' shares; so are its gradient and Hessian-vector products, which are
therefore computed one part at a time (one pass holds one micro-batch) and added up. The running total is added
inside the traced function, so summing costs no eager op per variable and part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf


def open_signature(part: Sequence) -> list:
    """A ``tf.function`` input signature for tensors like ``part`` with every size left open: one trace serves
    micro-batches of every batch size and padded length."""
    return [tf.TensorSpec([None] * t.shape.rank, t.dtype) for t in part]


def variable_spec(variables: Sequence) -> list:
    return [tf.TensorSpec(v.shape, v.dtype) for v in variables]


def dense_gradient(loss_fn: Callable, variables: Sequence, part: Sequence) -> list:
    """Gradients of ``loss_fn(*part)`` for ``variables``, dense and zero where unconnected."""
    with tf.GradientTape() as tape:
        loss = loss_fn(*part)
    # embedding gradients arrive as IndexedSlices: densify them for products and sums
    return [
        tf.convert_to_tensor(g)
        for g in tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    ]


def part_sum(term: Callable, out_spec: Sequence, extra_spec: Sequence, like: Sequence) -> Callable:
    """``summed(extra, parts) = Σ term(extra, *part)`` over ``parts`` for a ``term`` that returns tensors shaped
    as ``out_spec``; ``extra`` (shaped as ``extra_spec``, e.g. the vector of a Hessian-vector product) is the
    same for every part, and ``like`` is a part whose ranks and dtypes all parts share."""
    out_spec = list(out_spec)

    @tf.function(input_signature=[out_spec, list(extra_spec), *open_signature(like)], autograph=False)
    def add(total, extra, *part):
        return [t + tf.cast(x, t.dtype) for t, x in zip(total, term(extra, *part), strict=True)]

    @tf.function(input_signature=[], autograph=False)
    def zeros():
        return [tf.zeros(s.shape, s.dtype) for s in out_spec]

    def summed(extra: Sequence, parts: Sequence[Sequence]) -> list:
        total = zeros()
        for part in parts:
            total = add(total, list(extra), *part)
        return total

    return summed
