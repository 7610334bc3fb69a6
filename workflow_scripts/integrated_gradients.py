"""Rule integrated_gradients: attributions of the reference's log-likelihood for one variant and epoch."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.attribution.asr import epoch_attributions, path_spacing
from lowrank_asr.attribution.baselines import DEFAULT_BLUR_SIGMA, blur_sigma
from lowrank_asr.attribution.io import write_attributions
from lowrank_asr.data.shard_index import read_shard_index
from lowrank_asr.hdf5 import provenance

p, w = snakemake.params, snakemake.wildcards
ig = p.attribution
baseline, sigma = ig.get("baseline", "silence"), ig.get("blur_sigma", list(DEFAULT_BLUR_SIGMA))
items = epoch_attributions(model_cfg=p.model, vocab_path=snakemake.input.vocab[0],
                           weights_path=snakemake.input.weights, data_files=read_shard_index(snakemake.input.data),
                           utterances=ig["utterances"], steps=ig["steps"], baseline=baseline, blur_sigma=sigma,
                           batch_size=ig.get("batch_size", 16), max_symbols_per_step=p.max_symbols)
frontend = p.model.get("frontend", "logmel")
write_attributions(snakemake.output[0], items, provenance(
    seed=p.seed, config={"attribution": ig, "model": p.model, "max_symbols": p.max_symbols, "seed": p.seed},
    code=p.code, variant=w.variant, epoch=int(w.epoch), baseline=baseline, frontend=frontend,
    blur_sigma=list(blur_sigma(sigma)) if baseline == "blur" else None, alpha_spacing=path_spacing(frontend),
    input_space="waveform samples" if frontend == "wave" else "log-mel before per-utterance normalisation"))
for item in items:
    log.info("%s: completeness error %.4f", item.utt_id, item.completeness_error)
