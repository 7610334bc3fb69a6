"""Rule trajectory_plane: the loss on the PCA plane of one variant's epoch weights, with every epoch projected."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.geometry.io import write_geometry
from lowrank_asr.geometry.trajectory import trajectory_landscape
from lowrank_asr.hdf5 import provenance

p, w = snakemake.params, snakemake.wildcards
tr, subset = p.trajectory, p.subset
result = trajectory_landscape(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    weights_paths=list(snakemake.input.weights),
    data_files=list(snakemake.input.data),
    subset=subset["subset"],
    grid=tr["grid"],
    margin=tr["margin"],
    batch_seconds=p.batch_seconds,
)
plane = result.plane
write_geometry(
    snakemake.output[0],
    "trajectory",
    {
        "xcoordinates": result.grid.xs,
        "ycoordinates": result.grid.ys,
        "loss": result.grid.loss_array(),
        "epochs": p.epochs,
        "projections": plane.coords,
        "explained_variance": plane.explained,
        "residual": plane.residual,
    },
    provenance(
        seed=p.seed,
        config=[p.model, tr, subset],
        code=p.code,
        variant=w.run,
        eval_loss=result.eval_loss,
        split=subset["split"],
        grid_seconds=result.seconds,
    ),
    subset_ids=result.subset_ids,
)
log.info(
    "%s: PCs explain %.1f %% + %.1f %%; %d grid points in %.1f s",
    w.run,
    100 * plane.explained[0],
    100 * plane.explained[1],
    result.grid.loss.size,
    result.seconds,
)
