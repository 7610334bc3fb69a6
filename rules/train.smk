# One training job per variant; resumable state lives outside the declared outputs.
TRAIN_SPLITS = config["data"]["train_splits"]
DEV_SPLITS = config["data"]["dev_splits"]


def train_state_dir(wildcards):
    """Resume state keyed by everything that shapes the run, so a changed setting starts afresh."""
    key = stable_hash([variant_model_config(config, wildcards.variant), config["training"], config["seed"],
                       config["data"].get("max_duration"), script_code("train.py")])
    return f"results/.train_state/{wildcards.variant}/{key}"


rule train:
    input:
        train=split_tfrecords(TRAIN_SPLITS),
        dev=split_tfrecords(DEV_SPLITS),
        vocab=vocab_files(),
    output:
        weights=[f"results/models/{{variant}}/epoch_{e:03d}.weights.h5" for e in range(1, EPOCHS + 1)],
        init="results/models/{variant}/epoch_000.weights.h5",
        history="results/models/{variant}/history.csv",
    params:
        model=model_settings,
        training=config["training"],
        seed=config["seed"],
        max_duration=config["data"].get("max_duration"),
        max_symbols=config["evaluation"].get("max_symbols_per_step", 5),
        state_dir=train_state_dir,
        tensorboard="logs/tensorboard/{variant}",
        code=script_code("train.py"),
    threads: TRAIN_THREADS
    resources:
        gpu=0,
    log:
        "logs/train/{variant}.log",
    benchmark:
        "benchmarks/train/{variant}.tsv"
    conda:
        ENV_TF
    script:
        "../workflow_scripts/train.py"
