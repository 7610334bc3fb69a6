"""Rule extract: unpack a LibriSpeech-format tarball safely and atomically."""

from pathlib import Path

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.data.extract import extract_split

out = Path(snakemake.output[0])  # resources/corpus/LibriSpeech/{split}
extract_split(snakemake.input[0], snakemake.wildcards.split, out.parent.parent, user_file=snakemake.params.local)
log.info("extracted %s into %s", snakemake.input[0], out)
