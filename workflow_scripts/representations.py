"""Rule representations: kernel and activation spectra of one variant at each analysed epoch, and CKA against its
final epoch; one HDF5 file per epoch."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.hdf5 import provenance
from lowrank_asr.representations.analysis import variant_representations
from lowrank_asr.representations.io import write_representations

p, w = snakemake.params, snakemake.wildcards
rep = p.representations
outputs = dict(zip(p.epochs, snakemake.output, strict=True))
results = variant_representations(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    epoch_weights=dict(zip(p.epochs, snakemake.input.weights, strict=True)),
    final_weights_path=snakemake.input.final,
    data_files=list(snakemake.input.data),
    subset=rep["subset"],
    batch_size=rep["batch_size"],
    batch_seconds=p.batch_seconds,
)
for epoch, result in results:
    write_representations(
        outputs[epoch],
        result,
        provenance(
            seed=p.training_seed,
            config=[p.model, rep],
            code=p.code,
            variant=w.run,
            epoch=epoch,
            training_seed=p.training_seed,
            final_epoch=p.final_epoch,
            split=rep["split"],
            subset_size=len(result.subset_ids),
            frontend=p.model["frontend"],
        ),
    )
    for i, (name, act) in enumerate(zip(result.blocks, result.activations, strict=True)):
        log.info(
            "epoch %d %s: %d frames, effective rank %.1f, components for 90/95/99%% %s, CKA with the final "
            "epoch %.3f",
            epoch,
            name,
            act.frames,
            act.effective_rank,
            act.components.tolist(),
            result.cka_final[i, i],
        )
