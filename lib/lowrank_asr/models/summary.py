"""Per-block parameter counts and multiply-adds per second of audio.

Multiply-adds (MACs) are computed analytically from the layer shapes at each block's frame rate
(100 frames/s for 10 ms hops, halved by every stride): conv layers per convolutions.py's formulas, the
residual projection C_in·C_out per output frame, SE 2·C per frame (mean and gating; its two small dense
layers run once per utterance and are left out), batch norm 0 (folded into the conv at inference).
Front end: logmel counts the mel projection (n_fft/2+1)·F per frame (not the FFT); wave counts its conv.
RNN-T rows assume greedy decoding with one joint evaluation per encoder frame: the joint row is
(D·J + J·V + J) per encoder frame, the prediction row is per emitted token (4·P·(E+P) per LSTM layer + P·J).
These count each projection once per frame (encoder) or token (prediction), as a decoder that caches them would;
rnnt_search's joint_step recomputes both at every joint evaluation, and the extra joint evaluation after each
emitted token (J·V + J) is in no row. tests/test_models.py checks these counts against ones made by hand.
"""

from __future__ import annotations

import numpy as np

from lowrank_asr.features.logmel import frame_params
from lowrank_asr.models.convolutions import CONV_TYPES


def _params(layer) -> int:
    return int(sum(np.prod(w.shape) for w in layer.weights))


def trainable_params(layer) -> int:
    """Trainable parameters: what the WER table and compression report as ``params`` (``count_params`` also
    counts batch-norm moving statistics and the seed generator's state)."""
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights))


def summary_table(model) -> list[dict]:
    """Rows {name, params, macs, channels, stride, frame_rate} for the front end, blocks and decoder."""
    cfg = model.cfg
    feats = cfg["features"]
    win, hop, n_fft = frame_params(feats["sample_rate"], feats["frame_ms"], feats["hop_ms"])
    rate = feats["sample_rate"] / hop
    rows: list[dict] = []
    if model.wave is not None:
        wf = cfg["wave_frontend"]
        rate = feats["sample_rate"] / wf["stride"]
        rows.append(
            {
                "name": "wave_frontend",
                "params": _params(model.wave),
                "channels": wf["filters"],
                "stride": 1,
                "frame_rate": rate,
                "macs": rate * wf["filters"] * wf["kernel"],
            }
        )
    else:
        rows.append(
            {
                "name": "logmel",
                "params": 0,
                "channels": feats["num_mel_bins"],
                "stride": 1,
                "frame_rate": rate,
                "macs": rate * (n_fft // 2 + 1) * feats["num_mel_bins"],
            }
        )
    conv_cls = CONV_TYPES[cfg["conv"]]
    k, r = cfg["kernel_size"], cfg["rank"]
    c_in = model.feature_dim
    for block, spec in zip(model.encoder.blocks, model.specs, strict=True):
        macs, ch = 0.0, c_in
        for i in range(spec.layers):
            stride = spec.stride if i == spec.layers - 1 else 1
            macs += rate * conv_cls.macs_per_frame(ch, spec.channels, k, stride, r)
            ch = spec.channels
        out_rate = rate / spec.stride
        if cfg["se"]:
            macs += out_rate * 2 * spec.channels
        if spec.residual:
            macs += out_rate * c_in * spec.channels
        rows.append(
            {
                "name": spec.name,
                "params": _params(block),
                "channels": spec.channels,
                "stride": spec.stride,
                "frame_rate": out_rate,
                "macs": macs,
            }
        )
        rate, c_in = out_rate, spec.channels
    vocab = model.vocab_size
    if model.decoder_type == "rnnt":
        e, p, j = cfg["embed_dim"], cfg["pred_units"], cfg["joint_units"]
        lstm_macs = sum(4 * p * ((e if i == 0 else p) + p) for i in range(cfg["pred_layers"]))
        rows.append(
            {
                "name": "prediction",
                "params": _params(model.prediction),
                "channels": p,
                "stride": 1,
                "frame_rate": None,
                "macs": float(lstm_macs + p * j),
                "macs_unit": "per token",
            }
        )
        rows.append(
            {
                "name": "joint",
                "params": _params(model.joint_net),
                "channels": j,
                "stride": 1,
                "frame_rate": rate,
                "macs": rate * (c_in * j + j * vocab + j),
            }
        )
    else:
        rows.append(
            {
                "name": "ctc_head",
                "params": _params(model.ctc_head),
                "channels": vocab,
                "stride": 1,
                "frame_rate": rate,
                "macs": rate * c_in * vocab,
            }
        )
    return rows


def format_table(rows: list[dict], total_params: int) -> str:
    """A plain-text table with totals (MACs in millions per second of audio)."""
    lines = [f"{'block':<14}{'channels':>9}{'stride':>7}{'params':>13}{'MMACs/s':>12}"]
    for row in rows:
        unit = " /token" if row.get("macs_unit") == "per token" else ""
        lines.append(
            f"{row['name']:<14}{row['channels']:>9}{row['stride']:>7}{row['params']:>13,}"
            f"{row['macs'] / 1e6:>12.2f}{unit}"
        )
    macs = sum(row["macs"] for row in rows if row.get("macs_unit") != "per token")
    lines.append(f"{'total':<30}{total_params:>13,}{macs / 1e6:>12.2f}")
    return "\n".join(lines)
