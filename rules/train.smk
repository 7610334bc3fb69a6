# One training job per variant; resumable state lives outside the declared outputs.
TRAIN_SPLITS = config["data"]["train_splits"]
DEV_SPLITS = config["data"]["dev_splits"]


rule train:
    input:
        # no files: refuses while another trainer holds the run's lock
        unpack(trainer_lock_free),
        train=split_tfrecords(TRAIN_SPLITS),
        dev=split_tfrecords(DEV_SPLITS),
        vocab=vocab_files(),
    output:
        weights=[f"results/models/{{variant}}/epoch_{e:03d}.weights.h5" for e in range(1, EPOCHS + 1)],
        init="results/models/{variant}/epoch_000.weights.h5",
        history="results/models/{variant}/history.csv",
    log:
        "logs/train/{variant}.log",
    benchmark:
        "benchmarks/train/{variant}.tsv"
    conda:
        ENV_TF
    threads: TRAIN_THREADS
    resources:
        gpu=0,
    params:
        model=model_settings,
        training=train_job_settings(config),
        seed=run_seed,
        max_duration=config["data"].get("max_duration"),
        state_dir=train_state_dir,
        tensorboard="logs/tensorboard/{variant}",
        code=script_code("train.py"),
    script:
        "../workflow_scripts/train.py"
