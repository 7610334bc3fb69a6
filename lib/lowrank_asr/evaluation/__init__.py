"""Decoding a dataset with a trained model, decode TSVs and their scores."""

from lowrank_asr.evaluation.transcribe import (
    Decoded,
    Timing,
    read_decodes,
    score_decodes,
    transcribe,
    write_decodes,
)

__all__ = ["Decoded", "Timing", "read_decodes", "score_decodes", "transcribe", "write_decodes"]
