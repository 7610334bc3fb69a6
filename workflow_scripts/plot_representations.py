"""Rule plot_representations: effective rank per block over epochs and CKA of every epoch with the final one."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.plotting.representations import plot_cka_final, plot_effective_rank
from lowrank_asr.representations.io import read_representations

p = snakemake.params
files = iter(snakemake.input.reps)  # variant-major, epochs ascending (see the rule)
series = {v: {e: read_representations(next(files)) for e in p.epochs} for v in p.variants}
plot_effective_rank(series, snakemake.output.effective_rank)
plot_cka_final(series, snakemake.output.cka_final)
log.info("plotted %d variants × %d epochs", len(p.variants), len(p.epochs))
