"""ContextNet models with separable, low-rank and rank-r convolutions; RNN-T and CTC decoders."""

from lowrank_asr.models.asr_model import ASRModel, build_model
from lowrank_asr.models.config import DEFAULT_MODEL, PAPER_BLOCKS, merge_model_config
from lowrank_asr.models.weights import load_weights, save_weights

__all__ = [
    "ASRModel",
    "DEFAULT_MODEL",
    "PAPER_BLOCKS",
    "build_model",
    "load_weights",
    "merge_model_config",
    "save_weights",
]
