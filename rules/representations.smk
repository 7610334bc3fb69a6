# Representation analyses (issue 12): spectra of every conv kernel and block output per variant and epoch, linear
# CKA against the variant's final epoch, and linear CKA between every pair of variants per epoch.
# One job per variant (and one for the pairs) covers all analysed epochs: the cost of a job is TensorFlow start-up
# and tracing (~10 s), the analysis of an epoch a fraction of a second, so per-epoch jobs would cost ~30x more.
# Not yet part of `all`: ask for representation_targets() (or a file below) by name.
# Defaults for configs without the sections (config/config.yaml documents the keys with the same values).
REPRESENTATIONS = {
    "epochs": "all",
    "split": "dev-clean",
    "subset": 64,
    "seed": 5,
    "batch_size": 16,
    **(config.get("representations") or {}),
}
REPRESENTATION_EPOCHS = [
    epoch_tag(e) for e in analysis_epochs({**config, "representations": REPRESENTATIONS}, "representations")
]
# the analysis of an epoch does not depend on which other epochs are analysed: keep `epochs` out of the params
REPRESENTATION_SETTINGS = {k: v for k, v in REPRESENTATIONS.items() if k != "epochs"}


def prepared_tfrecords(splits, key):
    """Input function: the splits' TFRecords, or a clear error when a split is not among the prepared ones."""

    def files(wildcards):
        missing = [s for s in splits if s not in SPLITS]
        if missing:
            raise ValueError(
                f"{key} names split(s) {missing}, which the config does not prepare; "
                f"use one of {SPLITS} or add it to data.dev_splits / data.test_splits"
            )
        return split_tfrecords(splits)

    return files


rule representations:
    input:
        weights=expand("results/models/{{variant}}/epoch_{epoch}.weights.h5", epoch=REPRESENTATION_EPOCHS),
        final=model_weights("{variant}", EPOCHS),
        data=prepared_tfrecords([REPRESENTATIONS["split"]], "representations.split"),
        vocab=vocab_files(),
    output:
        expand("results/representations/{{variant}}/epoch_{epoch}.h5", epoch=REPRESENTATION_EPOCHS),
    log:
        "logs/representations/{variant}.log",
    benchmark:
        "benchmarks/representations/{variant}.tsv"
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        representations=REPRESENTATION_SETTINGS,
        model=model_settings,
        epochs=[int(e) for e in REPRESENTATION_EPOCHS],
        final_epoch=EPOCHS,
        code=script_code("representations.py"),
    script:
        "../workflow_scripts/representations.py"


rule representation_similarity:
    input:
        weights=[f"results/models/{v}/epoch_{e}.weights.h5" for e in REPRESENTATION_EPOCHS for v in VARIANTS],
        data=prepared_tfrecords([REPRESENTATIONS["split"]], "representations.split"),
        vocab=vocab_files(),
    output:
        [f"results/representations/variants_epoch_{e}.h5" for e in REPRESENTATION_EPOCHS],
    log:
        "logs/representation_similarity/similarity.log",
    benchmark:
        "benchmarks/representation_similarity/similarity.tsv"
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        representations=REPRESENTATION_SETTINGS,
        models={v: variant_model_config(config, v) for v in VARIANTS},
        epochs=[int(e) for e in REPRESENTATION_EPOCHS],
        code=script_code("representation_similarity.py"),
    script:
        "../workflow_scripts/representation_similarity.py"


def representation_targets():
    targets = [f"results/representations/{v}/epoch_{e}.h5" for v in VARIANTS for e in REPRESENTATION_EPOCHS]
    if len(VARIANTS) > 1:
        targets += [f"results/representations/variants_epoch_{e}.h5" for e in REPRESENTATION_EPOCHS]
    return targets


# Post-hoc low-rank approximation of each variant's final epoch: WER/CER against parameter count.
COMPRESSION = {
    "fractions": [1.0, 0.5, 0.25, 0.125],
    "calibration_batches": 20,
    "calibration_batch_size": 16,
    **(config.get("compression") or {}),
}
COMPRESSION_SPLITS = COMPRESSION.get("splits") or EVAL_SPLITS


rule compression:
    input:
        weights=model_weights("{variant}", EPOCHS),
        train=split_tfrecords(config["data"]["train_splits"]),
        data=prepared_tfrecords(COMPRESSION_SPLITS, "compression.splits"),
        vocab=vocab_files(),
    output:
        "results/compression/{variant}.csv",
    log:
        "logs/compression/{variant}.log",
    benchmark:
        "benchmarks/compression/{variant}.tsv"
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        compression=COMPRESSION,
        split_files={s: tfrecord_files(s) for s in COMPRESSION_SPLITS},
        model=model_settings,
        seed=config["seed"],
        batch_size=config["evaluation"].get("batch_size", 32),
        max_symbols=config["evaluation"].get("max_symbols_per_step", 5),
        code=script_code("compression.py"),
    script:
        "../workflow_scripts/compression.py"
