"""Rule plot_representation_spectra: one frame per epoch of every block's normalised spectra, all variants,
on the y range shared by every frame (frames of the spectra video)."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.plotting.representations import plot_spectra, spectra_limits
from lowrank_asr.representations.io import read_representations

p = snakemake.params
files = iter(snakemake.input)  # variant-major, epochs ascending (see the rule)
series = {v: {e: read_representations(next(files)) for e in p.epochs} for v in p.variants}
ylim = spectra_limits([rep for reps in series.values() for rep in reps.values()])
for epoch, png in zip(p.epochs, snakemake.output, strict=True):
    plot_spectra(
        {v: series[v][epoch] for v in p.variants},
        png,
        ylim=ylim,
        title=f"Normalised spectra per block · epoch {epoch}",
    )
log.info("%d spectra frames, shared y range %s", len(snakemake.output), ylim)
