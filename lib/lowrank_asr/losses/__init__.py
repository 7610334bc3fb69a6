"""Sequence losses: RNN-T (vectorised over anti-diagonals) and CTC, both per-utterance NLL [B]."""

from lowrank_asr.losses.ctc import ctc_loss
from lowrank_asr.losses.rnnt import rnnt_loss

__all__ = ["ctc_loss", "rnnt_loss"]
