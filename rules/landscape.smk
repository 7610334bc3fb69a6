# Loss landscapes (Li et al. 2018) per run and epoch: grids, plots and videos.
LANDSCAPE = config["landscape"]
LANDSCAPE_SHARDS = LANDSCAPE["shards"]
LANDSCAPE_EPOCHS = [epoch_tag(e) for e in analysis_epochs(config, "landscape")]
# the grid's content depends neither on which epochs are analysed nor on how jobs split them: keep those out
LANDSCAPE_GRID = {k: v for k, v in LANDSCAPE.items() if k not in ("epochs", "shards", "all_seeds", "job")}
LANDSCAPE_SHARD = "" if LANDSCAPE_SHARDS == 1 else ".shard{shard}"
# the report's section for the landscapes and the training geometry (rules/geometry.smk), which share its subset
LANDSCAPE_CATEGORY = "2. Loss landscapes and training geometry"
# the side-by-side video compares the variants' first-seed runs
COMPARED_RUNS = [r.name for r in RUNS if r.seed == RUNS[0].seed]


# One job per run (and shard) for all analysed epochs, or one per epoch (`landscape.job`).
rule loss_grid:
    input:
        weights=analysis_epoch_files("landscape", "results/models/{run}/epoch_{epoch}.weights.h5"),
        data=tfrecord_index(LANDSCAPE["split"]),
        vocab=vocab_files(),
        # its outputs follow landscape.epochs: rerun for every target when they change (common.smk)
        outputs=output_list(
            "loss_grid", analysis_epoch_files("landscape", landscape_grid_output(LANDSCAPE_SHARDS))
        ),
    output:
        analysis_epoch_files("landscape", landscape_grid_output(LANDSCAPE_SHARDS)),
    log:
        analysis_job_file("logs", "loss_grid", "landscape", f"{LANDSCAPE_SHARD}.log"),
    benchmark:
        analysis_job_file("benchmarks", "loss_grid", "landscape", f"{LANDSCAPE_SHARD}.tsv")
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        landscape=LANDSCAPE_GRID,
        shards=LANDSCAPE_SHARDS,
        epochs=analysis_job_epochs("landscape"),
        batch_seconds=BATCH_SECONDS,
        # the greedy decode's limit for the WER surface (none without one: nothing decodes)
        max_symbols=config["evaluation"]["max_symbols_per_step"] if LANDSCAPE["wer"] else None,
        model=model_settings,
        code=script_code("loss_grid.py"),
    script:
        "../workflow_scripts/loss_grid.py"


if LANDSCAPE_SHARDS > 1:

    rule merge_loss_grid:
        input:
            expand(
                "results/landscape/{{run}}/shards/epoch_{{epoch}}.shard{shard}.h5",
                shard=range(LANDSCAPE_SHARDS),
            ),
        output:
            "results/landscape/{run}/epoch_{epoch}.h5",
        log:
            "logs/merge_loss_grid/{run}/epoch_{epoch}.log",
        benchmark:
            "benchmarks/merge_loss_grid/{run}/epoch_{epoch}.tsv"
        conda:
            ENV_TF
        params:
            landscape=LANDSCAPE_GRID,
            model=model_settings,
            code=script_code("merge_loss_grid.py"),
        script:
            "../workflow_scripts/merge_loss_grid.py"


rule plot_landscape:
    input:
        expand("results/landscape/{{run}}/epoch_{epoch}.h5", epoch=LANDSCAPE_EPOCHS),
    output:
        _last_epoch_report(
            [f"results/plots/landscape/{{run}}/epoch_{e}.png" for e in LANDSCAPE_EPOCHS],
            "../report/landscape.rst",
            LANDSCAPE_CATEGORY,
        ),
    log:
        "logs/plot_landscape/{run}.log",
    benchmark:
        "benchmarks/plot_landscape/{run}.tsv"
    conda:
        ENV_PLOT
    params:
        code=script_code("plot_landscape.py"),
    script:
        "../workflow_scripts/plot_landscape.py"


rule landscape_video:
    input:
        expand("results/plots/landscape/{{run}}/epoch_{epoch}.png", epoch=LANDSCAPE_EPOCHS),
    output:
        report("results/videos/{run}_landscape.mp4", caption="../report/video.rst", category="6. Videos"),
    log:
        "logs/landscape_video/{run}.log",
    benchmark:
        "benchmarks/landscape_video/{run}.tsv"
    conda:
        ENV_PLOT
    params:
        fps=config["video"]["fps"],
        code=script_code("video.py"),
    script:
        "../workflow_scripts/video.py"


rule compare_landscape_video:
    input:
        [f"results/plots/landscape/{r}/epoch_{e}.png" for r in COMPARED_RUNS for e in LANDSCAPE_EPOCHS],
    output:
        report("results/videos/compare_landscape.mp4", caption="../report/video.rst", category="6. Videos"),
    log:
        "logs/compare_landscape_video/compare.log",
    benchmark:
        "benchmarks/compare_landscape_video/compare.tsv"
    conda:
        ENV_PLOT
    params:
        variants=VARIANTS,
        fps=config["video"]["fps"],
        code=script_code("video.py"),
    script:
        "../workflow_scripts/video.py"
