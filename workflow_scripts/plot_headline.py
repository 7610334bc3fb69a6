"""Rule plot_headline: greedy WER with its interval against parameters and RTF, trained and truncated models."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.plotting.headline import plot_headline, read_rows

info = plot_headline(
    read_rows(snakemake.input.table),
    read_rows(snakemake.input.compression),
    snakemake.output[0],
    runs=snakemake.params.runs,
)
log.info("headline figure on %s: %d points", info["splits"], len(info["points"]))
