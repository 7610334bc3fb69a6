# Representation analyses (issue 12): spectra of every conv kernel and block output per variant and epoch, linear
# CKA against the variant's final epoch, and linear CKA between every pair of variants per epoch.
# One job per variant (and one for the pairs) covers all analysed epochs: the cost of a job is TensorFlow start-up
# and tracing (~10 s), the analysis of an epoch a fraction of a second, so per-epoch jobs would cost ~30x more.
# `all` asks for representation_targets() (rules/common.smk): the files below, their plots and the video.
REPRESENTATIONS = config["representations"]
# epoch 0, the seeded initialisation, always comes first: whether training lowers a rank is read against it
REPRESENTATION_EPOCHS = [epoch_tag(e) for e in [0] + analysis_epochs(config, "representations")]
# the analysis of an epoch does not depend on which other epochs are analysed: keep `epochs` out of the params
REPRESENTATION_SETTINGS = {k: v for k, v in REPRESENTATIONS.items() if k != "epochs"}
# the first seed's run of every variant (paths name the run: the variant, or variant/seed_N with several seeds)
REPRESENTATION_RUNS = first_seed_runs(config)
REPRESENTATION_NAMES = [r.name for r in REPRESENTATION_RUNS]
# the heat maps between variants show the first and the last analysed epoch (the files hold every epoch)
SIMILARITY_PLOT_EPOCHS = sorted({REPRESENTATION_EPOCHS[0], REPRESENTATION_EPOCHS[-1]})
# every variant's files, variant-major and epochs ascending (the plotting scripts rely on this order)
REPRESENTATION_FILES = [
    f"results/representations/{v}/epoch_{e}.h5" for v in REPRESENTATION_NAMES for e in REPRESENTATION_EPOCHS
]


rule representations:
    input:
        weights=expand("results/models/{{run}}/epoch_{epoch}.weights.h5", epoch=REPRESENTATION_EPOCHS),
        final=model_weights("{run}", EPOCHS),
        data=prepared_tfrecords([REPRESENTATIONS["split"]], "representations.split"),
        vocab=vocab_files(),
    output:
        expand("results/representations/{{run}}/epoch_{epoch}.h5", epoch=REPRESENTATION_EPOCHS),
    log:
        "logs/representations/{run}.log",
    benchmark:
        "benchmarks/representations/{run}.tsv"
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
        training_seed=run_seed,
        batch_seconds=BATCH_SECONDS,
        code=script_code("representations.py"),
    script:
        "../workflow_scripts/representations.py"


rule representation_similarity:
    input:
        weights=[
            f"results/models/{v}/epoch_{e}.weights.h5"
            for e in REPRESENTATION_EPOCHS
            for v in REPRESENTATION_NAMES
        ],
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
        models={r.name: variant_model_config(config, r.variant) for r in REPRESENTATION_RUNS},
        epochs=[int(e) for e in REPRESENTATION_EPOCHS],
        training_seed=REPRESENTATION_RUNS[0].seed,
        batch_seconds=BATCH_SECONDS,
        code=script_code("representation_similarity.py"),
    script:
        "../workflow_scripts/representation_similarity.py"


rule plot_representations:
    input:
        reps=REPRESENTATION_FILES,
    output:
        effective_rank=report(
            "results/plots/representations/effective_rank.png",
            caption="../report/representations_effective_rank.rst",
            category="4. Representations",
        ),
        cka_final=report(
            "results/plots/representations/cka_final.png",
            caption="../report/representations_cka_final.rst",
            category="4. Representations",
        ),
    log:
        "logs/plot_representations/plots.log",
    benchmark:
        "benchmarks/plot_representations/plots.tsv"
    conda:
        ENV_PLOT
    params:
        variants=REPRESENTATION_NAMES,
        epochs=[int(e) for e in REPRESENTATION_EPOCHS],
        code=script_code("plot_representations.py"),
    script:
        "../workflow_scripts/plot_representations.py"


rule plot_representation_spectra:
    input:
        REPRESENTATION_FILES,
    output:
        _last_epoch_report(
            [f"results/plots/representations/spectra/epoch_{e}.png" for e in REPRESENTATION_EPOCHS],
            "../report/representations_spectra.rst",
            "4. Representations",
        ),
    log:
        "logs/plot_representation_spectra/spectra.log",
    benchmark:
        "benchmarks/plot_representation_spectra/spectra.tsv"
    conda:
        ENV_PLOT
    params:
        variants=REPRESENTATION_NAMES,
        epochs=[int(e) for e in REPRESENTATION_EPOCHS],
        code=script_code("plot_representation_spectra.py"),
    script:
        "../workflow_scripts/plot_representation_spectra.py"


rule plot_representation_similarity:
    input:
        [f"results/representations/variants_epoch_{e}.h5" for e in SIMILARITY_PLOT_EPOCHS],
    output:
        report(
            "results/plots/representations/cka_variants.png",
            caption="../report/representations_cka_variants.rst",
            category="4. Representations",
        ),
    log:
        "logs/plot_representation_similarity/similarity.log",
    benchmark:
        "benchmarks/plot_representation_similarity/similarity.tsv"
    conda:
        ENV_PLOT
    params:
        code=script_code("plot_representation_similarity.py"),
    script:
        "../workflow_scripts/plot_representation_similarity.py"


rule representation_video:
    input:
        [f"results/plots/representations/spectra/epoch_{e}.png" for e in REPRESENTATION_EPOCHS],
    output:
        report(
            "results/videos/representation_spectra.mp4",
            caption="../report/representations_video.rst",
            category="6. Videos",
        ),
    log:
        "logs/representation_video/spectra.log",
    benchmark:
        "benchmarks/representation_video/spectra.tsv"
    conda:
        ENV_PLOT
    params:
        fps=config["video"]["fps"],
        code=script_code("video.py"),
    script:
        "../workflow_scripts/video.py"
