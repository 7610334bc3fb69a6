"""Rule wer_table: results/wer_table.csv/.md (rates with intervals over speakers and seeds, what was scored) and
results/comparisons.csv/.md (paired differences of every two variants, Holm-adjusted) from the decodes and scores."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.metrics import table

bootstrap = table.Bootstrap.from_config(snakemake.params.bootstrap)
evaluations = [
    table.Evaluation.load(s, d) for s, d in zip(snakemake.input.scores, snakemake.input.decodes, strict=True)
]
skipped = {
    split: table.skipped_count(path)
    for split, path in zip(snakemake.params.splits, snakemake.input.skipped, strict=True)
}
runs = snakemake.params.runs
rows = table.table_rows(evaluations, snakemake.params.knobs, skipped, bootstrap, runs)
table.write_table(rows, snakemake.output.csv, snakemake.output.md, confidence=bootstrap.confidence)
pairs = table.comparison_rows(evaluations, snakemake.params.variants, bootstrap, runs)
table.write_comparisons(
    pairs, snakemake.output.comparisons, snakemake.output.comparisons_md, confidence=bootstrap.confidence
)
log.info(
    "wrote %d rows and %d comparisons (%d resamples of each %s; %d findings after Holm)",
    len(rows),
    len(pairs),
    bootstrap.resamples,
    bootstrap.unit,
    sum(p["finding"] for p in pairs),
)
