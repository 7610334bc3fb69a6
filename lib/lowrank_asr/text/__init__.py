"""Text normalisation and vocabularies."""

from lowrank_asr.text.normalize import normalize

__all__ = ["normalize"]
