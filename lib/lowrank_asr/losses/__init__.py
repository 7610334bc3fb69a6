"""Sequence losses: RNN-T (vectorised over anti-diagonals) and CTC, both per-utterance NLL [B]."""

from lowrank_asr.losses.chunked import chunked_rnnt_loss
from lowrank_asr.losses.ctc import ctc_loss
from lowrank_asr.losses.rnnt import rnnt_loss

__all__ = ["chunked_rnnt_loss", "ctc_loss", "rnnt_loss"]
