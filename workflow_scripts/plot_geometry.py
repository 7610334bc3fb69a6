"""Rule plot_geometry: trajectory planes (per variant and side by side), interpolations per variant, sharpness."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.geometry.io import read_geometry
from lowrank_asr.plotting.geometry import plot_interpolation, plot_sharpness, plot_trajectories

inp, out = snakemake.input, snakemake.output
trajectories = [read_geometry(path, "trajectory") for path in inp.trajectory]
for data, png in zip(trajectories, out.trajectory, strict=True):
    plot_trajectories([data], png)
plot_trajectories(trajectories, out.compare_trajectory)
for path, png in zip(inp.interpolation, out.interpolation, strict=True):
    plot_interpolation(read_geometry(path, "interpolation"), png)
plot_sharpness([read_geometry(path, "sharpness") for path in inp.sharpness], out.sharpness)
log.info("geometry plots for %d variants", len(trajectories))
