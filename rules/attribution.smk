# Integrated gradients (Sundararajan et al. 2017) per run and epoch: attributions, plots and videos.
ATTRIBUTION = config["attribution"]
ATTRIBUTION_EPOCHS = [epoch_tag(e) for e in analysis_epochs(config, "attribution")]


# One job per run for all analysed epochs, or one per epoch (`attribution.job`).
rule integrated_gradients:
    input:
        weights=analysis_epoch_files("attribution", "results/models/{run}/epoch_{epoch}.weights.h5"),
        data=tfrecord_index(ATTRIBUTION["split"]),
        vocab=vocab_files(),
    output:
        analysis_epoch_files("attribution", "results/attribution/{run}/epoch_{epoch}.h5"),
    log:
        analysis_job_file("logs", "integrated_gradients", "attribution", ".log"),
    benchmark:
        analysis_job_file("benchmarks", "integrated_gradients", "attribution", ".tsv")
    conda:
        ENV_TF
    threads: ANALYSIS_THREADS
    resources:
        gpu=0,
    params:
        attribution={k: v for k, v in ATTRIBUTION.items() if k not in ("epochs", "all_seeds", "job")},
        epochs=analysis_job_epochs("attribution"),
        model=model_settings,
        max_symbols=config["evaluation"]["max_symbols_per_step"],
        batch_seconds=BATCH_SECONDS,
        seed=run_seed,
        code=script_code("integrated_gradients.py"),
    script:
        "../workflow_scripts/integrated_gradients.py"


rule plot_attribution:
    input:
        expand("results/attribution/{{run}}/epoch_{epoch}.h5", epoch=ATTRIBUTION_EPOCHS),
    output:
        _last_epoch_report(
            [f"results/plots/attribution/{{run}}/epoch_{e}.png" for e in ATTRIBUTION_EPOCHS],
            "../report/attribution.rst",
            "3. Integrated gradients",
        ),
    log:
        "logs/plot_attribution/{run}.log",
    benchmark:
        "benchmarks/plot_attribution/{run}.tsv"
    conda:
        ENV_PLOT
    params:
        # the front end's time axes (frame_timing)
        model=model_settings,
        code=script_code("plot_attribution.py"),
    script:
        "../workflow_scripts/plot_attribution.py"


rule attribution_video:
    input:
        expand("results/plots/attribution/{{run}}/epoch_{epoch}.png", epoch=ATTRIBUTION_EPOCHS),
    output:
        report("results/videos/{run}_attribution.mp4", caption="../report/video.rst", category="6. Videos"),
    log:
        "logs/attribution_video/{run}.log",
    benchmark:
        "benchmarks/attribution_video/{run}.tsv"
    conda:
        ENV_PLOT
    params:
        fps=config["video"]["fps"],
        code=script_code("video.py"),
    script:
        "../workflow_scripts/video.py"
