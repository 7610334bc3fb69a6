"""Rule synthesize_corpus: one split of the embedded corpus as a LibriSpeech-format tarball."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.corpus.synthesis import SplitSpec, synthesize_split_tarball

stats = synthesize_split_tarball(
    snakemake.output[0],
    snakemake.wildcards.split,
    SplitSpec.from_dict(snakemake.params.spec),
    seed=snakemake.params.seed,
)
log.info("synthesised %s: %s", snakemake.wildcards.split, stats)
