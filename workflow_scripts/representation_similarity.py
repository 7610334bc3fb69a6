"""Rule representation_similarity: linear CKA block × block between every pair of variants, one file per epoch."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.hdf5 import provenance
from lowrank_asr.models.config import expand_blocks, merge_model_config
from lowrank_asr.representations.analysis import variant_similarities
from lowrank_asr.representations.io import write_variant_similarity

p = snakemake.params
rep = p.representations
names = list(p.models)
weights = iter(snakemake.input.weights)  # epoch-major, variants in config order (see the rule)
epoch_weights = {e: {v: next(weights) for v in names} for e in p.epochs}
outputs = dict(zip(p.epochs, snakemake.output, strict=True))
blocks = {}
for name, cfg in p.models.items():
    merged = merge_model_config(cfg)
    blocks[name] = [s.name for s in expand_blocks(merged["blocks"], merged["alpha"])]
results = variant_similarities(
    model_cfgs=p.models,
    vocab_path=snakemake.input.vocab[0],
    epoch_weights=epoch_weights,
    data_files=list(snakemake.input.data),
    subset=rep["subset"],
    batch_size=rep["batch_size"],
    batch_seconds=p.batch_seconds,
)
for epoch, cka, ids in results:
    write_variant_similarity(
        outputs[epoch],
        cka,
        blocks,
        ids,
        provenance(
            seed=p.training_seed,
            config=[p.models, rep],
            code=p.code,
            epoch=epoch,
            training_seed=p.training_seed,
            split=rep["split"],
            subset_size=len(ids),
        ),
    )
    for (a, b), matrix in cka.items():
        log.info(
            "epoch %d: CKA %s vs %s, same block: %s",
            epoch,
            a,
            b,
            [round(float(v), 3) for v in matrix.diagonal()],
        )
