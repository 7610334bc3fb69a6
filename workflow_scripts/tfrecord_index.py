"""Rule tfrecord_index: the one file that per-epoch analyses list instead of every shard of a split."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.data.shard_index import write_shard_index

index = write_shard_index(list(snakemake.input), snakemake.output[0])
log.info("index of %s: %d shards", snakemake.wildcards.split, len(index["shards"]))
