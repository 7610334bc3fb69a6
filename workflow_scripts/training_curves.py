"""Rule training_curves: train/dev loss and dev WER per epoch for every variant."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.plotting.training import plot_training_curves

plot_training_curves(dict(zip(snakemake.params.variants, snakemake.input, strict=True)), snakemake.output[0])
