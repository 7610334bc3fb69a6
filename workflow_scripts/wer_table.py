"""Rule wer_table: results/wer_table.csv and .md from every variant's per-split scores."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.metrics.table import table_rows, write_table

rows = table_rows(list(snakemake.input), snakemake.params.knobs)
write_table(rows, snakemake.output.csv, snakemake.output.md)
log.info("wrote %d rows", len(rows))
