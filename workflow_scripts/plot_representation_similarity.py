"""Rule plot_representation_similarity: block × block CKA heat maps between every pair of variants."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.plotting.representations import plot_cka_variants
from lowrank_asr.representations.io import read_variant_similarity

files = [read_variant_similarity(path) for path in snakemake.input]
similarity = {int(f["attrs"]["epoch"]): f for f in files}
info = plot_cka_variants(similarity, snakemake.output[0])
log.info("CKA heat maps of %d pairs at epochs %s", len(info["pairs"]), info["epochs"])
