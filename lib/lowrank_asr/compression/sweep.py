"""Post-hoc compression sweep: WER and CER of a trained model against its parameter count under rank-r truncation.

For each rank fraction (truncation.py) the encoder's dense/pointwise weights are replaced by their truncated
SVDs, every batch-norm layer's statistics are re-estimated on training batches as precise batch norm does in
training (training/precise_bn.py: pooled over all valid frames) unless nothing was truncated (fraction 1: the
model is then exactly the evaluated one), and every split is decoded greedily with the evaluation's traced
encoder (evaluation.transcribe, one trace per model: only variable values change). The model's weights and BN
statistics are restored afterwards. The CSV files are tables.py's: the table and plot rules read them in the plot
environment, without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice

from lowrank_asr.compression.truncation import (
    restore_dense_weights,
    snapshot_dense_weights,
    truncate_encoder,
)
from lowrank_asr.evaluation.transcribe import transcribe
from lowrank_asr.metrics import error_rates
from lowrank_asr.training.precise_bn import PreciseBatchNorm, batchnorm_layers


def compression_sweep(
    model,
    vocab,
    fractions: Sequence[float],
    splits: Mapping[str, Callable[[], Iterable[dict]]],
    calibration: Callable[[], Iterable[dict]],
    *,
    calibration_batches: int,
    max_symbols_per_step: int,
) -> list[dict]:
    """Rows {fraction, split, greedy_wer, greedy_cer, params, encoder_params, truncated_params, recalibrated}.

    ``splits`` maps a split name to a function returning its batches (a fresh iterable per call);
    ``calibration`` returns training batches for BN re-estimation.
    """
    originals = snapshot_dense_weights(model)
    norms = batchnorm_layers(model)
    precise: PreciseBatchNorm | None = None  # built once (one trace) at the first truncated fraction
    bn_stats = [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in norms]
    rows: list[dict] = []
    try:
        for fraction in sorted({float(f) for f in fractions}, reverse=True):
            for bn, (mean, var) in zip(norms, bn_stats, strict=True):
                bn.moving_mean.assign(mean)
                bn.moving_variance.assign(var)
            result = truncate_encoder(model, fraction, originals)
            truncated = any(layer.rank < min(layer.shape) for layer in result.layers)
            used = 0
            if truncated:
                training_batches = calibration()
                if precise is None:
                    precise = PreciseBatchNorm(model, getattr(training_batches, "element_spec", None))
                used = precise.recompute(islice(training_batches, calibration_batches))
            for split, batches in splits.items():
                decoded, _ = transcribe(
                    model,
                    batches(),
                    vocab,
                    beam_width=None,
                    max_symbols_per_step=max_symbols_per_step,
                    progress=False,
                )
                rates = error_rates([r.reference for r in decoded], [r.greedy for r in decoded])
                rows.append(
                    {
                        "fraction": fraction,
                        "split": split,
                        "greedy_wer": rates.wer,
                        "greedy_cer": rates.cer,
                        "params": result.model_params,
                        "encoder_params": result.encoder_params,
                        "truncated_params": result.dense_params,
                        "ranks": [layer.rank for layer in result.layers],
                        "recalibration_batches": used,
                        "utterances": len(decoded),
                    }
                )
    finally:
        restore_dense_weights(model, originals)
        for bn, (mean, var) in zip(norms, bn_stats, strict=True):
            bn.moving_mean.assign(mean)
            bn.moving_variance.assign(var)
    return rows
