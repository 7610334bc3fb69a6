# Post-hoc compression (rank-r truncation of the dense/pointwise weights, lowrank_asr.compression) of each
# variant's final epoch: WER/CER against parameter count per run, one joint table and its plot.
# `all` asks for compression_targets() (rules/common.smk).
COMPRESSION = config["compression"]
COMPRESSION_SPLITS = COMPRESSION["splits"]
# the first seed's run of every variant, as the representation analyses (variant, or variant/seed_N)
COMPRESSION_RUN_NAMES = [r.name for r in first_seed_runs(config)]


rule compression:
    input:
        weights=model_weights("{run}", EPOCHS),
        train=split_tfrecords(config["data"]["train_splits"]),
        data=prepared_tfrecords(COMPRESSION_SPLITS, "compression.splits"),
        vocab=vocab_files(),
    output:
        "results/compression/{run}.csv",
    log:
        "logs/compression/{run}.log",
    benchmark:
        "benchmarks/compression/{run}.tsv"
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
        batch_size=config["evaluation"]["batch_size"],
        batch_seconds=BATCH_SECONDS,
        max_symbols=config["evaluation"]["max_symbols_per_step"],
        code=script_code("compression.py"),
    script:
        "../workflow_scripts/compression.py"


rule compression_table:
    input:
        [f"results/compression/{v}.csv" for v in COMPRESSION_RUN_NAMES],
    output:
        "results/compression.csv",
    log:
        "logs/compression_table/table.log",
    benchmark:
        "benchmarks/compression_table/table.tsv"
    conda:
        ENV_PLOT
    params:
        code=script_code("compression_table.py"),
    script:
        "../workflow_scripts/compression_table.py"


rule plot_compression:
    input:
        "results/compression.csv",
    output:
        report(
            "results/plots/compression.png",
            caption="../report/compression.rst",
            category="5. Compression",
        ),
    log:
        "logs/plot_compression/compression.log",
    benchmark:
        "benchmarks/plot_compression/compression.tsv"
    conda:
        ENV_PLOT
    params:
        code=script_code("plot_compression.py"),
    script:
        "../workflow_scripts/plot_compression.py"
