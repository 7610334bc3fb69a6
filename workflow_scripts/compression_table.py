"""Rule compression_table: every variant's compression rows in one table, results/compression.csv."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.compression.tables import write_compression_table

rows = write_compression_table(list(snakemake.input), snakemake.output[0])
log.info("wrote %d rows", len(rows))
