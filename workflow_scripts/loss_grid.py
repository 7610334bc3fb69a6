"""Rule loss_grid: the loss around each of a job's epochs' weights (the whole grid, or one shard of it).

One job handles one epoch (`landscape.job: epoch`) or all of a run's analysed epochs (`job: variant`): the
pairs (params.epochs, input.weights, output) line up, and the model is built and traced once per job.
"""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

import numpy as np

from lowrank_asr.data.shard_index import read_shard_index
from lowrank_asr.hdf5 import provenance
from lowrank_asr.landscape.asr import variant_landscapes
from lowrank_asr.landscape.io import write_landscape, write_landscape_shard

p, w = snakemake.params, snakemake.wildcards
ls = p.landscape
shard = int(w.get("shard", 0))
results = variant_landscapes(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    weights_paths=list(snakemake.input.weights),
    data_files=read_shard_index(snakemake.input.data),
    grid=ls["grid"],
    span=ls["range"],
    subset=ls["subset"],
    seed=ls["seed"],
    shard=shard,
    n_shards=p.shards,
    wer=ls["wer"],
    max_symbols_per_step=p.max_symbols,
    batch_seconds=p.batch_seconds,
)
for epoch, output, result in zip(p.epochs, snakemake.output, results, strict=True):
    attrs = provenance(
        seed=ls["seed"],
        config=[p.model, ls],
        code=p.code,
        variant=w.run,
        epoch=int(epoch),
        eval_loss=result.eval_loss,
        split=ls["split"],
    )
    if p.shards == 1:
        write_landscape(
            output,
            result.grid.xs,
            result.grid.ys,
            result.grid.loss_array(),
            result.grid.metric_array(),
            attrs,
            subset_ids=result.subset_ids,
            status=result.grid.status_array(),
        )
    else:
        write_landscape_shard(
            output, result.grid, attrs, shard=shard, n_shards=p.shards, subset_ids=result.subset_ids
        )
    log.info(
        "%s epoch %s: eval loss %.4f; %d points recomputed in float64 (float32 overflowed), %d not finite "
        "(+inf)",
        w.run,
        epoch,
        result.eval_loss,
        np.count_nonzero(np.asarray(result.grid.status) == 1),
        np.count_nonzero(np.asarray(result.grid.status) == 2),
    )
