# Recognition of every evaluation split by every run, and the table that compares them.
EVAL_SPLITS = config["evaluation"]["splits"]
# What a decode depends on; `splits` only chooses which jobs exist, so adding a split reruns no other split.
EVAL_DECODING = evaluation_decoding_settings(config)


rule evaluate:
    input:
        weights=model_weights("{run}", EPOCHS),
        data=lambda w: tfrecord_files(w.split),
        vocab=vocab_files(),
    output:
        decodes="results/decodes/{run}/{split}.tsv",
        scores="results/wer/{run}/{split}.json",
    log:
        "logs/evaluate/{run}/{split}.log",
    benchmark:
        "benchmarks/evaluate/{run}/{split}.tsv"
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        model=model_settings,
        decoding=EVAL_DECODING,
        epoch=EPOCHS,
        code=script_code("evaluate.py"),
    script:
        "../workflow_scripts/evaluate.py"


rule wer_table:
    input:
        scores=expand("results/wer/{run}/{split}.json", run=RUN_NAMES, split=EVAL_SPLITS),
        decodes=expand("results/decodes/{run}/{split}.tsv", run=RUN_NAMES, split=EVAL_SPLITS),
        skipped=expand("resources/transcripts/{split}.skipped.json", split=EVAL_SPLITS),
    output:
        csv=report("results/wer_table.csv", caption="../report/wer_table.rst", category="1. Recognition"),
        md="results/wer_table.md",
        comparisons=report(
            "results/comparisons.csv", caption="../report/comparisons.rst", category="1. Recognition"
        ),
        comparisons_md="results/comparisons.md",
    log:
        "logs/wer_table/wer_table.log",
    benchmark:
        "benchmarks/wer_table/wer_table.tsv"
    conda:
        ENV_PLOT
    params:
        knobs={v: variant_model_config(config, v) for v in VARIANTS},
        variants=VARIANTS,
        runs={r.name: r.variant for r in RUNS},
        splits=EVAL_SPLITS,
        bootstrap=config["evaluation"]["bootstrap"],
        code=script_code("wer_table.py"),
    script:
        "../workflow_scripts/wer_table.py"
