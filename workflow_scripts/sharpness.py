"""Rule sharpness: top Hessian eigenvalue and Hessian trace of one variant's subset loss at every analysed epoch."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.geometry.hessian import sharpness
from lowrank_asr.geometry.io import write_geometry
from lowrank_asr.hdf5 import provenance

p, w = snakemake.params, snakemake.wildcards
sh, subset = p.sharpness, p.subset
r = sharpness(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    weights_paths=list(snakemake.input.weights),
    epochs=p.epochs,
    data_files=list(snakemake.input.data),
    subset=subset["subset"],
    max_iter=sh["iterations"],
    tol=sh["tolerance"],
    samples=sh["hutchinson"],
    seed=sh["seed"],
    batch_seconds=p.batch_seconds,
)
write_geometry(
    snakemake.output[0],
    "sharpness",
    {
        "epochs": r.epochs,
        "loss": r.loss,
        "eigenvalue": r.eigenvalue,
        "dominant_eigenvalue": r.dominant,
        "iterations": r.iterations,
        "converged": r.converged,
        "residual": r.residual,
        "hvp_count": r.hvp_count,
        "trace": r.trace,
        "trace_stderr": r.trace_stderr,
    },
    provenance(
        seed=sh["seed"],
        config=[p.model, sh, subset],
        code=p.code,
        variant=w.run,
        split=subset["split"],
        hvp_method=r.hvp_method,
        tolerance=sh["tolerance"],
        max_iterations=sh["iterations"],
        hutchinson_samples=sh["hutchinson"],
        hvp_seconds=r.hvp_seconds,
        grad_seconds=r.grad_seconds,
    ),
    subset_ids=r.subset_ids,
)
for e, lam, res, it, tr in zip(r.epochs, r.eigenvalue, r.residual, r.iterations, r.trace, strict=True):
    log.info(
        "%s epoch %d: λ_max %.4g ± %.2g (residual; %d Lanczos iterations), trace %.4g",
        w.run,
        e,
        lam,
        res,
        it,
        tr,
    )
log.info(
    "Hessian-vector product %.3f s = %.2f × a forward + backward pass (%.3f s), method %s",
    r.hvp_seconds,
    r.hvp_seconds / r.grad_seconds,
    r.grad_seconds,
    r.hvp_method,
)
