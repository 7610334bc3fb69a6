"""Rule download_librispeech: one official LibriSpeech tarball, MD5-checked, resumable."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.corpus.download import LIBRISPEECH_MD5, download_file, split_url

split = snakemake.wildcards.split
download_file(split_url(snakemake.params.url, split), snakemake.output[0], md5=LIBRISPEECH_MD5.get(split))
log.info("downloaded %s", split)
