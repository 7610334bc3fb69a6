"""Loss landscapes around trained weights (Li et al. 2018): directions, grid evaluation, HDF5 files."""

from lowrank_asr.landscape.directions import (
    default_filter_axes,
    filter_norms,
    model_directions,
    model_filter_axes,
    model_weights,
    random_directions,
)
from lowrank_asr.landscape.grid import LossGrid, evaluate_grid, grid_points, merge_shards, shard_points
from lowrank_asr.landscape.io import (
    merge_landscape_shards,
    read_landscape,
    read_landscape_shard,
    write_landscape,
    write_landscape_shard,
)

__all__ = [
    "LossGrid",
    "default_filter_axes",
    "evaluate_grid",
    "filter_norms",
    "grid_points",
    "merge_landscape_shards",
    "merge_shards",
    "model_directions",
    "model_filter_axes",
    "model_weights",
    "random_directions",
    "read_landscape",
    "read_landscape_shard",
    "shard_points",
    "write_landscape",
    "write_landscape_shard",
]
