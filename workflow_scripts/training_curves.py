"""Rule training_curves: train/dev loss and dev WER per epoch for every variant (seeds' spread as a band)."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.plotting.training import plot_training_curves

by_variant: dict[str, list[str]] = {}
for run, history in zip(snakemake.params.runs, snakemake.input, strict=True):
    by_variant.setdefault(snakemake.params.runs[run], []).append(history)
plot_training_curves(by_variant, snakemake.output[0])
