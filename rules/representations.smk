# Representation analyses (issue 12): spectra of every conv kernel and block output per variant and epoch, linear
# CKA against the variant's final epoch, and linear CKA between every pair of variants per epoch.
# One job per variant (and one for the pairs) covers all analysed epochs: the cost of a job is TensorFlow start-up
# and tracing (~10 s), the analysis of an epoch a fraction of a second, so per-epoch jobs would cost ~30x more.
# Not yet part of `all`: ask for representation_targets() (or a file below) by name.
REPRESENTATIONS = config["representations"]
REPRESENTATION_EPOCHS = [epoch_tag(e) for e in analysis_epochs(config, "representations")]
# the analysis of an epoch does not depend on which other epochs are analysed: keep `epochs` out of the params
REPRESENTATION_SETTINGS = {k: v for k, v in REPRESENTATIONS.items() if k != "epochs"}


rule representations:
    input:
        weights=expand("results/models/{{variant}}/epoch_{epoch}.weights.h5", epoch=REPRESENTATION_EPOCHS),
        final=model_weights("{variant}", EPOCHS),
        data=tfrecord_files(REPRESENTATIONS["split"]),
        vocab=vocab_files(),
    output:
        expand("results/representations/{{variant}}/epoch_{epoch}.h5", epoch=REPRESENTATION_EPOCHS),
    params:
        representations=REPRESENTATION_SETTINGS,
        model=model_settings,
        epochs=[int(e) for e in REPRESENTATION_EPOCHS],
        final_epoch=EPOCHS,
        code=script_code("representations.py"),
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    log:
        "logs/representations/{variant}.log",
    benchmark:
        "benchmarks/representations/{variant}.tsv"
    conda:
        ENV_TF
    script:
        "../workflow_scripts/representations.py"


rule representation_similarity:
    input:
        weights=[f"results/models/{v}/epoch_{e}.weights.h5" for e in REPRESENTATION_EPOCHS for v in VARIANTS],
        data=tfrecord_files(REPRESENTATIONS["split"]),
        vocab=vocab_files(),
    output:
        [f"results/representations/variants_epoch_{e}.h5" for e in REPRESENTATION_EPOCHS],
    params:
        representations=REPRESENTATION_SETTINGS,
        models={v: variant_model_config(config, v) for v in VARIANTS},
        epochs=[int(e) for e in REPRESENTATION_EPOCHS],
        code=script_code("representation_similarity.py"),
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    log:
        "logs/representation_similarity/similarity.log",
    benchmark:
        "benchmarks/representation_similarity/similarity.tsv"
    conda:
        ENV_TF
    script:
        "../workflow_scripts/representation_similarity.py"


def representation_targets():
    targets = [f"results/representations/{v}/epoch_{e}.h5" for v in VARIANTS for e in REPRESENTATION_EPOCHS]
    if len(VARIANTS) > 1:
        targets += [f"results/representations/variants_epoch_{e}.h5" for e in REPRESENTATION_EPOCHS]
    return targets
