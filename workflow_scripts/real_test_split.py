"""Rule real_test_split: the real-speech split from Debian packages, as a LibriSpeech-format tarball."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.corpus.packaged import build_from_packages
from lowrank_asr.corpus.synthesis import planned_texts

stats = build_from_packages(
    snakemake.output.tarball,
    snakemake.output.sources,
    training_texts=planned_texts(snakemake.params.training_specs, snakemake.params.seed),
    marker=snakemake.params.marker,
)
stats.pop("transcripts")
stats.pop("names")
log.info("built real-test: %s", stats)
