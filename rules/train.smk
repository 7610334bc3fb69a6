# One training job per run (a variant with one seed); resumable state lives outside the declared outputs.
TRAIN_SPLITS = config["data"]["train_splits"]
DEV_SPLITS = config["data"]["dev_splits"]


TRAIN_WEIGHTS = [f"results/models/{{run}}/epoch_{e:03d}.weights.h5" for e in range(1, EPOCHS + 1)]
TRAIN_INIT = "results/models/{run}/epoch_000.weights.h5"
TRAIN_HISTORY = "results/models/{run}/history.csv"


rule train:
    input:
        # no files: refuses while another trainer holds the run's lock
        unpack(trainer_lock_free),
        train=split_tfrecords(TRAIN_SPLITS),
        dev=split_tfrecords(DEV_SPLITS),
        vocab=vocab_files(),
        # more epochs, more outputs: rerun for every target (common.smk)
        outputs=output_list("train", [*TRAIN_WEIGHTS, TRAIN_INIT, TRAIN_HISTORY]),
    output:
        weights=TRAIN_WEIGHTS,
        init=TRAIN_INIT,
        history=TRAIN_HISTORY,
    log:
        "logs/train/{run}.log",
    benchmark:
        "benchmarks/train/{run}.tsv"
    conda:
        ENV_TF
    threads: TRAIN_THREADS
    resources:
        gpu=0,
    params:
        model=model_settings,
        training=train_job_settings(config),
        seed=run_seed,
        max_duration=config["data"]["max_duration"],
        # the job reads data.on_bad_audio from the config; this changes only where it matters
        bad_audio=train_bad_audio,
        state_dir=train_state_dir,
        tensorboard="logs/tensorboard/{run}",
        code=script_code("train.py"),
    script:
        "../workflow_scripts/train.py"
