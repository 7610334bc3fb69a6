# Training geometry per run (Li et al. 2018 §3, §7): the optimiser's path on its PCA plane, 1-D
# interpolations from the initialisation, sharpness (Hessian top eigenvalue and trace) per epoch. One job per
# run and analysis: each pays the TensorFlow start-up once for all epochs. It is part of the landscape stage: the
# landscape's subset, runs and epochs, its files beside the grids (results/landscape/{run}/) and its figures beside
# theirs (results/plots/landscape/), in the report's landscape section.
GEOMETRY = config["geometry"]
GEOMETRY_SUBSET = {k: LANDSCAPE[k] for k in ("split", "subset")}
TRAJECTORY_EPOCHS = list(range(GEOMETRY["trajectory"]["from_epoch"], EPOCHS + 1))
SHARPNESS_EPOCHS = analysis_epochs(config, "landscape")


rule trajectory_plane:
    input:
        weights=[model_weights("{run}", e) for e in TRAJECTORY_EPOCHS],
        data=tfrecord_files(LANDSCAPE["split"]),
        vocab=vocab_files(),
    output:
        "results/landscape/{run}/trajectory.h5",
    log:
        "logs/trajectory_plane/{run}.log",
    benchmark:
        "benchmarks/trajectory_plane/{run}.tsv"
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        trajectory=GEOMETRY["trajectory"],
        subset=GEOMETRY_SUBSET,
        batch_seconds=BATCH_SECONDS,
        epochs=TRAJECTORY_EPOCHS,
        seed=config["seed"],
        model=model_settings,
        code=script_code("trajectory_plane.py"),
    script:
        "../workflow_scripts/trajectory_plane.py"


rule interpolation:
    input:
        weights=[model_weights("{run}", e) for e in range(0, EPOCHS + 1)],
        data=tfrecord_files(LANDSCAPE["split"]),
        vocab=vocab_files(),
    output:
        "results/landscape/{run}/interpolation.h5",
    log:
        "logs/interpolation/{run}.log",
    benchmark:
        "benchmarks/interpolation/{run}.tsv"
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        interpolation=GEOMETRY["interpolation"],
        subset=GEOMETRY_SUBSET,
        batch_seconds=BATCH_SECONDS,
        seed=config["seed"],
        max_symbols=config["evaluation"]["max_symbols_per_step"],
        model=model_settings,
        code=script_code("interpolation.py"),
    script:
        "../workflow_scripts/interpolation.py"


rule sharpness:
    input:
        weights=[model_weights("{run}", e) for e in SHARPNESS_EPOCHS],
        data=tfrecord_files(LANDSCAPE["split"]),
        vocab=vocab_files(),
    output:
        "results/landscape/{run}/sharpness.h5",
    log:
        "logs/sharpness/{run}.log",
    benchmark:
        "benchmarks/sharpness/{run}.tsv"
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        sharpness=GEOMETRY["sharpness"],
        subset=GEOMETRY_SUBSET,
        batch_seconds=BATCH_SECONDS,
        epochs=SHARPNESS_EPOCHS,
        model=model_settings,
        code=script_code("sharpness.py"),
    script:
        "../workflow_scripts/sharpness.py"


rule plot_geometry:
    input:
        trajectory=[f"results/landscape/{v}/trajectory.h5" for v in GEOMETRY_RUN_NAMES],
        interpolation=[f"results/landscape/{v}/interpolation.h5" for v in GEOMETRY_RUN_NAMES],
        sharpness=[f"results/landscape/{v}/sharpness.h5" for v in GEOMETRY_RUN_NAMES],
    output:
        trajectory=[
            report(
                f"results/plots/landscape/{v}/trajectory.png",
                caption="../report/trajectory.rst",
                category=LANDSCAPE_CATEGORY,
                labels={"figure": f"trajectory plane, {v}"},
            )
            for v in GEOMETRY_RUN_NAMES
        ],
        compare_trajectory=report(
            "results/plots/landscape/trajectory.png",
            caption="../report/trajectory.rst",
            category=LANDSCAPE_CATEGORY,
            labels={"figure": "trajectory planes, all"},
        ),
        interpolation=[
            report(
                f"results/plots/landscape/{v}/interpolation.png",
                caption="../report/interpolation.rst",
                category=LANDSCAPE_CATEGORY,
                labels={"figure": f"interpolation, {v}"},
            )
            for v in GEOMETRY_RUN_NAMES
        ],
        sharpness=report(
            "results/plots/landscape/sharpness.png",
            caption="../report/sharpness.rst",
            category=LANDSCAPE_CATEGORY,
            labels={"figure": "sharpness"},
        ),
    log:
        "logs/plot_geometry/plot_geometry.log",
    benchmark:
        "benchmarks/plot_geometry/plot_geometry.tsv"
    conda:
        ENV_PLOT
    params:
        code=script_code("plot_geometry.py"),
    script:
        "../workflow_scripts/plot_geometry.py"
