"""Figures for the research workflow (matplotlib, Agg canvas, no pyplot): landscapes, attributions, training."""

from lowrank_asr.plotting.attribution import (
    AttributionScale,
    plot_attribution,
    shared_scales,
    symmetric_limit,
)
from lowrank_asr.plotting.landscape import landscape_limits, plot_landscape
from lowrank_asr.plotting.training import plot_training_curves, read_history

__all__ = [
    "AttributionScale",
    "landscape_limits",
    "plot_attribution",
    "plot_landscape",
    "plot_training_curves",
    "read_history",
    "shared_scales",
    "symmetric_limit",
]
