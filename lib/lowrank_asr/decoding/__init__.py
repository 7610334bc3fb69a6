"""Decoders: RNN-T greedy / time-synchronous beam search over a model's step functions, CTC greedy / beam."""

from lowrank_asr.decoding.ctc_search import ctc_beam_search, ctc_greedy
from lowrank_asr.decoding.rnnt_search import rnnt_beam_search, rnnt_greedy

__all__ = ["ctc_beam_search", "ctc_greedy", "rnnt_beam_search", "rnnt_greedy"]
