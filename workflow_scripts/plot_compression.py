"""Rule plot_compression: greedy WER against parameter count, one curve per variant, one panel per test split."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.compression.tables import read_compression_csv
from lowrank_asr.plotting.compression import plot_compression

info = plot_compression(read_compression_csv(snakemake.input[0]), snakemake.output[0])
log.info("compression curves for %s", sorted(info["curves"]))
