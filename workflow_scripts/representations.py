"""Rule representations: kernel and activation spectra of one variant at one epoch, and CKA against its last."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.config import stable_hash
from lowrank_asr.representations.analysis import epoch_representations
from lowrank_asr.representations.io import write_representations

p, w = snakemake.params, snakemake.wildcards
rep = p.representations
result = epoch_representations(model_cfg=p.model, vocab_path=snakemake.input.vocab[0],
                               weights_path=snakemake.input.weights, final_weights_path=snakemake.input.final,
                               data_files=list(snakemake.input.data), subset=rep["subset"], seed=rep["seed"],
                               batch_size=rep.get("batch_size", 16))
write_representations(snakemake.output[0], result,
                      {"variant": w.variant, "epoch": int(w.epoch), "seed": rep["seed"], "final_epoch": p.final_epoch,
                       "split": rep["split"], "subset_size": len(result.subset_ids),
                       "frontend": p.model.get("frontend", "logmel"), "config_hash": stable_hash([p.model, rep])})
for name, act in zip(result.blocks, result.activations, strict=True):
    log.info("%s: %d frames, effective rank %.1f, components for 90/95/99%% %s, CKA with the final epoch %.3f",
             name, act.frames, act.effective_rank, act.components.tolist(),
             result.cka_final[result.blocks.index(name)][result.blocks.index(name)])
