"""Rule extract: unpack a LibriSpeech-format tarball safely and atomically; the output is a manifest naming the
split folder (a declared folder would be deleted by Snakemake before a bad tarball could be refused)."""

from pathlib import Path

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.corpus.extract import extract_split, write_manifest

manifest = Path(snakemake.output.manifest)  # resources/corpus/{split}.extracted.json
split_dir = extract_split(
    snakemake.input[0], snakemake.wildcards.split, manifest.parent, user_file=snakemake.params.local
)
write_manifest(manifest, split_dir, snakemake.input[0])
log.info("extracted %s into %s", snakemake.input[0], split_dir)
