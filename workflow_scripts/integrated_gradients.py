"""Rule integrated_gradients: attributions of the reference's log-likelihood for one variant and epoch."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.attribution.asr import epoch_attributions
from lowrank_asr.attribution.io import write_attributions
from lowrank_asr.config import stable_hash
from lowrank_asr.data.shard_index import read_shard_index

p, w = snakemake.params, snakemake.wildcards
ig = p.attribution
items = epoch_attributions(model_cfg=p.model, vocab_path=snakemake.input.vocab[0],
                           weights_path=snakemake.input.weights, data_files=read_shard_index(snakemake.input.data),
                           utterances=ig["utterances"], steps=ig["steps"], baseline=ig.get("baseline", "zero"),
                           batch_size=ig.get("batch_size", 16), max_symbols_per_step=p.max_symbols)
write_attributions(snakemake.output[0], items,
                   {"variant": w.variant, "epoch": int(w.epoch), "seed": 0, "baseline": ig.get("baseline", "zero"),
                    "frontend": p.model.get("frontend", "logmel"), "config_hash": stable_hash([p.model, ig])})
for item in items:
    log.info("%s: completeness error %.4f", item.utt_id, item.completeness_error)
