"""Re-estimate the encoder's batch-norm statistics after its weights changed (e.g. low-rank truncation).

Every BN layer of the encoder gets its moving mean and variance reset and then
replaced by the equal-weight average of the masked batch statistics over ``batches`` (momentum (n−1)/n at
the n-th batch), in training mode so that padded frames are excluded as in training; SpecAugment is not
applied. Only the BN moving statistics change (no gradients are taken).
"""

from __future__ import annotations

from collections.abc import Iterable

import keras

from lowrank_asr.errors import PipelineError


def encoder_batch_norms(model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in model.encoder._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate_batch_norm(model, batches: Iterable[dict], max_batches: int | None = None) -> int:
    """Recompute the encoder's BN statistics from batches with ``audio`` and ``audio_len``; returns the count."""
    norms = encoder_batch_norms(model)
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.moving_mean.assign(keras.ops.zeros_like(bn.moving_mean))
        bn.moving_variance.assign(keras.ops.ones_like(bn.moving_variance))
    n = 0
    try:
        for batch in batches:
            if max_batches is not None and n >= max_batches:
                break
            n += 1
            for bn in norms:
                bn.momentum = (n - 1) / n  # read at call time (eager): the n-th batch weighs 1/n
            x, x_len = model.featurize(batch["audio"], batch["audio_len"])
            if model.wave is not None:
                x, x_len = model.wave(x, x_len)
            model.encoder(x, x_len, training=True)
    finally:
        for bn, m in zip(norms, momenta, strict=True):
            bn.momentum = m
    if n == 0:
        raise PipelineError("recalibrate_batch_norm: no batches given; pass training batches")
    return n
