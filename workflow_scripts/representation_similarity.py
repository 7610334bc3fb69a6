"""Rule representation_similarity: linear CKA block × block between every pair of variants at one epoch."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.config import stable_hash
from lowrank_asr.models.config import expand_blocks, merge_model_config
from lowrank_asr.representations.analysis import variant_similarity
from lowrank_asr.representations.io import write_variant_similarity

p, w = snakemake.params, snakemake.wildcards
rep = p.representations
weights = dict(zip(p.models, snakemake.input.weights, strict=True))
cka, ids = variant_similarity(model_cfgs=p.models, weights_paths=weights, vocab_path=snakemake.input.vocab[0],
                              data_files=list(snakemake.input.data), subset=rep["subset"], seed=rep["seed"],
                              batch_size=rep.get("batch_size", 16))
blocks = {}
for name, cfg in p.models.items():
    merged = merge_model_config(cfg)
    blocks[name] = [s.name for s in expand_blocks(merged["blocks"], merged["alpha"])]
write_variant_similarity(snakemake.output[0], cka, blocks, ids,
                         {"epoch": int(w.epoch), "seed": rep["seed"], "split": rep["split"],
                          "subset_size": len(ids), "config_hash": stable_hash([p.models, rep])})
for (a, b), matrix in cka.items():
    log.info("CKA %s vs %s, same block: %s", a, b, [round(float(v), 3) for v in matrix.diagonal()])
