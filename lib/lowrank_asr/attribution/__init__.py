"""Integrated gradients (Sundararajan et al. 2017) over model inputs, and their HDF5 files."""

from lowrank_asr.attribution.integrated_gradients import (
    IGResult,
    frame_attribution,
    frame_summary,
    integrated_gradients,
    silence_baseline,
    trapezoid_alphas,
    zero_baseline,
)
from lowrank_asr.attribution.io import AttributionItem, read_attributions, write_attributions

__all__ = [
    "AttributionItem",
    "IGResult",
    "frame_attribution",
    "frame_summary",
    "integrated_gradients",
    "read_attributions",
    "silence_baseline",
    "trapezoid_alphas",
    "write_attributions",
    "zero_baseline",
]
