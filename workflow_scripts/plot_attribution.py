"""Rule plot_attribution: spectrogram, attribution heat map and per-frame mass, per epoch of a variant."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.attribution.io import read_attributions
from lowrank_asr.plotting.attribution import plot_attribution

for path, png in zip(snakemake.input, snakemake.output, strict=True):
    data = read_attributions(path)
    attrs = data["attrs"]
    plot_attribution(data["items"], png, title=f"{attrs['variant']} · epoch {attrs['epoch']} · integrated gradients")
log.info("%d attribution plots", len(snakemake.output))
