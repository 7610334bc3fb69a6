"""Rule tfrecords: the split's audio bytes and transcripts in sharded TFRecord files."""

from pathlib import Path

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.data.tfrecords import write_tfrecords

stats = write_tfrecords(Path(snakemake.input[0]), [Path(p) for p in snakemake.output])
log.info("tfrecords of %s: %s", snakemake.wildcards.split, stats)
