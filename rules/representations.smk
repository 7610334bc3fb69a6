# Representation analyses (issue 12) per variant and epoch: spectra of every conv kernel and block output, linear
# CKA against the final epoch; and per epoch, linear CKA between every pair of variants. Not yet part of `all`:
# ask for representation_targets() (or a file below) by name.
REPRESENTATIONS = config["representations"]
REPRESENTATION_EPOCHS = [epoch_tag(e) for e in analysis_epochs(config, "representations")]
# the analysis does not depend on which epochs are analysed: keep `epochs` out of the params
REPRESENTATION_SETTINGS = {k: v for k, v in REPRESENTATIONS.items() if k != "epochs"}


rule representations:
    input:
        weights="results/models/{variant}/epoch_{epoch}.weights.h5",
        final=model_weights("{variant}", EPOCHS),
        data=tfrecord_files(REPRESENTATIONS["split"]),
        vocab=vocab_files(),
    output:
        "results/representations/{variant}/epoch_{epoch}.h5",
    params:
        representations=REPRESENTATION_SETTINGS,
        model=model_settings,
        final_epoch=EPOCHS,
        code=script_code("representations.py"),
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    log:
        "logs/representations/{variant}/epoch_{epoch}.log",
    benchmark:
        "benchmarks/representations/{variant}/epoch_{epoch}.tsv"
    conda:
        ENV_TF
    script:
        "../workflow_scripts/representations.py"


rule representation_similarity:
    input:
        weights=[f"results/models/{v}/epoch_{{epoch}}.weights.h5" for v in VARIANTS],
        data=tfrecord_files(REPRESENTATIONS["split"]),
        vocab=vocab_files(),
    output:
        "results/representations/variants_epoch_{epoch}.h5",
    params:
        representations=REPRESENTATION_SETTINGS,
        models={v: variant_model_config(config, v) for v in VARIANTS},
        code=script_code("representation_similarity.py"),
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    log:
        "logs/representation_similarity/epoch_{epoch}.log",
    benchmark:
        "benchmarks/representation_similarity/epoch_{epoch}.tsv"
    conda:
        ENV_TF
    script:
        "../workflow_scripts/representation_similarity.py"


def representation_targets():
    targets = [f"results/representations/{v}/epoch_{e}.h5" for v in VARIANTS for e in REPRESENTATION_EPOCHS]
    if len(VARIANTS) > 1:
        targets += [f"results/representations/variants_epoch_{e}.h5" for e in REPRESENTATION_EPOCHS]
    return targets
