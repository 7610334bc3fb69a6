"""Figures for the research workflow (matplotlib, Agg canvas, no pyplot): landscapes, attributions, training."""

from lowrank_asr.plotting.attribution import plot_attribution, symmetric_limit
from lowrank_asr.plotting.landscape import landscape_limits, plot_landscape
from lowrank_asr.plotting.training import plot_training_curves, read_history

__all__ = [
    "landscape_limits",
    "plot_attribution",
    "plot_landscape",
    "plot_training_curves",
    "read_history",
    "symmetric_limit",
]
