"""Rule merge_loss_grid: join the shards of one epoch's grid into the landscape file."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.hdf5 import provenance
from lowrank_asr.landscape.io import merge_landscape_shards

p = snakemake.params
merge_landscape_shards(
    list(snakemake.input),
    snakemake.output[0],
    provenance(seed=p.landscape["seed"], config=[p.model, p.landscape], code=p.code),
)
log.info("merged %d shards into %s", len(snakemake.input), snakemake.output[0])
