"""Rule loss_grid: the loss around one epoch's weights (the whole grid, or one shard of it)."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.data.shard_index import read_shard_index
from lowrank_asr.hdf5 import provenance
from lowrank_asr.landscape.asr import epoch_landscape
from lowrank_asr.landscape.io import write_landscape, write_landscape_shard

p, w = snakemake.params, snakemake.wildcards
ls = p.landscape
shard = int(w.get("shard", 0))
result = epoch_landscape(model_cfg=p.model, vocab_path=snakemake.input.vocab[0], weights_path=snakemake.input.weights,
                         data_files=read_shard_index(snakemake.input.data), grid=ls["grid"], span=ls["range"],
                         subset=ls["subset"], seed=ls["seed"], shard=shard, n_shards=p.shards,
                         wer=ls.get("wer", False))
attrs = provenance(seed=ls["seed"], config=[p.model, ls], code=p.code, variant=w.variant, epoch=int(w.epoch),
                   eval_loss=result.eval_loss, split=ls["split"])
if p.shards == 1:
    write_landscape(snakemake.output[0], result.grid.xs, result.grid.ys, result.grid.loss_array(),
                    result.grid.metric_array(), attrs, subset_ids=result.subset_ids)
else:
    write_landscape_shard(snakemake.output[0], result.grid, attrs, shard=shard, n_shards=p.shards,
                          subset_ids=result.subset_ids)
log.info("%s epoch %s: eval loss %.4f", w.variant, w.epoch, result.eval_loss)
