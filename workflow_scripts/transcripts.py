"""Rule transcripts: PATH, DURATION, TRANSCRIPT per utterance of a split (TensorFlowASR's TSV)."""

from pathlib import Path

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.corpus.extract import split_folder
from lowrank_asr.corpus.transcripts import write_transcripts

# The policy comes from the config: the rule's params carry only where it changes the output (rules/data.smk).
stats = write_transcripts(
    split_folder(snakemake.input[0]),
    Path(snakemake.output.tsv),
    on_bad_audio=snakemake.config["data"]["on_bad_audio"],
    skipped_json=Path(snakemake.output.skipped),
)
log.info("transcripts of %s: %s", snakemake.wildcards.split, stats)
