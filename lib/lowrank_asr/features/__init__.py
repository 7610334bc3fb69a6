"""Acoustic features (log-mel) and SpecAugment, in TensorFlow."""

from lowrank_asr.features.logmel import frame_params, log_mel, mel_basis, normalize_per_utterance, num_frames
from lowrank_asr.features.specaugment import SpecAugment, spec_augment

__all__ = [
    "SpecAugment",
    "frame_params",
    "log_mel",
    "mel_basis",
    "normalize_per_utterance",
    "num_frames",
    "spec_augment",
]
