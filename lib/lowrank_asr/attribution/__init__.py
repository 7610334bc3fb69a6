"""Integrated gradients (Sundararajan et al. 2017) over model inputs, and their HDF5 files."""

from lowrank_asr.attribution.baselines import (
    BASELINES,
    blur_baseline,
    make_baseline,
    mean_baseline,
    silence_baseline,
)
from lowrank_asr.attribution.integrated_gradients import (
    IGResult,
    frame_attribution,
    frame_summary,
    integrated_gradients,
    trapezoid_alphas,
    with_input_gradient,
)
from lowrank_asr.attribution.io import AttributionItem, read_attributions, write_attributions

__all__ = [
    "BASELINES",
    "AttributionItem",
    "IGResult",
    "blur_baseline",
    "frame_attribution",
    "frame_summary",
    "integrated_gradients",
    "make_baseline",
    "mean_baseline",
    "read_attributions",
    "silence_baseline",
    "trapezoid_alphas",
    "with_input_gradient",
    "write_attributions",
]
