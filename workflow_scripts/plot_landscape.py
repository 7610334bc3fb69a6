"""Rule plot_landscape: contour + 3-D surface per epoch, one colour and z scale for all epochs of a variant."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.landscape.io import read_landscape
from lowrank_asr.plotting.landscape import landscape_limits, plot_landscape

grids = [read_landscape(path) for path in snakemake.input]
zlim = landscape_limits([g["loss"] for g in grids])
for grid, png in zip(grids, snakemake.output, strict=True):
    plot_landscape(grid, png, zlim=zlim)
log.info("%d landscape plots with z range %s", len(grids), zlim)
