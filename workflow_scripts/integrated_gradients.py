"""Rule integrated_gradients: attributions of the reference's log-likelihood for each of a job's epochs.

One job handles one epoch (`attribution.job: epoch`) or all of a run's analysed epochs (`job: variant`): the
pairs (params.epochs, input.weights, output) line up, and the model is built and traced once per job.
"""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.attribution.asr import path_spacing, variant_attributions
from lowrank_asr.attribution.baselines import blur_sigma
from lowrank_asr.attribution.io import write_attributions
from lowrank_asr.data.shard_index import read_shard_index
from lowrank_asr.hdf5 import provenance

p, w = snakemake.params, snakemake.wildcards
ig = p.attribution
baseline, sigma = ig["baseline"], ig["blur_sigma"]
frontend = p.model["frontend"]
results = variant_attributions(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    weights_paths=list(snakemake.input.weights),
    data_files=read_shard_index(snakemake.input.data),
    utterances=ig["utterances"],
    steps=ig["steps"],
    baseline=baseline,
    blur_sigma=sigma,
    batch_size=ig["batch_size"],
    max_symbols_per_step=p.max_symbols,
    batch_seconds=p.batch_seconds,
)
for epoch, output, items in zip(p.epochs, snakemake.output, results, strict=True):
    write_attributions(
        output,
        items,
        provenance(
            seed=p.seed,
            config={"attribution": ig, "model": p.model, "max_symbols": p.max_symbols, "seed": p.seed},
            code=p.code,
            variant=w.run,
            epoch=int(epoch),
            baseline=baseline,
            frontend=frontend,
            blur_sigma=list(blur_sigma(sigma)) if baseline == "blur" else None,
            alpha_spacing=path_spacing(frontend),
            input_space="waveform samples"
            if frontend == "wave"
            else "log-mel before per-utterance normalisation",
        ),
    )
    for item in items:
        log.info(
            "%s epoch %s, %s: completeness error %.4f", w.run, epoch, item.utt_id, item.completeness_error
        )
