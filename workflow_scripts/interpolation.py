"""Rule interpolation: loss and WER from θ_init to θ_final, and along the consecutive epochs, of one variant."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

import time

from lowrank_asr.geometry.interpolation import interpolations
from lowrank_asr.geometry.io import write_geometry
from lowrank_asr.hdf5 import provenance

p, w = snakemake.params, snakemake.wildcards
ip, subset = p.interpolation, p.subset
began = time.perf_counter()
r = interpolations(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    weights_paths=list(snakemake.input.weights),
    data_files=list(snakemake.input.data),
    subset=subset["subset"],
    points=ip["points"],
    span=ip["range"],
    per_epoch=ip["per_epoch"],
    wer=ip["wer"],
    max_symbols_per_step=p.max_symbols,
    batch_seconds=p.batch_seconds,
)
seconds = time.perf_counter() - began
write_geometry(
    snakemake.output[0],
    "interpolation",
    {
        "t": r.t,
        "loss": r.loss,
        "wer": r.wer,
        "path_position": r.position,
        "path_segment": r.segment,
        "path_t": r.segment_t,
        "path_loss": r.path_loss,
        "path_wer": r.path_wer,
    },
    provenance(
        seed=p.seed,
        config=[p.model, ip, subset],
        code=p.code,
        variant=w.run,
        split=subset["split"],
        seconds=seconds,
    ),
    subset_ids=r.subset_ids,
)
log.info("%s: %d + %d points in %.1f s", w.run, len(r.t), len(r.position), seconds)
