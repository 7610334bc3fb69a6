# Training curves of every variant, for the HTML report (`snakemake --report report.html`).


rule training_curves:
    input:
        expand("results/models/{run}/history.csv", run=RUN_NAMES),
    output:
        report(
            "results/plots/training_curves.png",
            caption="../report/training_curves.rst",
            category="1. Recognition",
        ),
    log:
        "logs/training_curves/curves.log",
    benchmark:
        "benchmarks/training_curves/curves.tsv"
    conda:
        ENV_PLOT
    params:
        runs={r.name: r.variant for r in RUNS},
        code=script_code("training_curves.py"),
    script:
        "../workflow_scripts/training_curves.py"


# The study's headline figure, first in the report: greedy WER of every variant and truncation against size and RTF.
rule plot_headline:
    input:
        table="results/wer_table.csv",
        compression="results/compression.csv",
    output:
        report(
            "results/plots/headline.png", caption="../report/headline.rst", category="0. What low rank buys"
        ),
    log:
        "logs/plot_headline/headline.log",
    benchmark:
        "benchmarks/plot_headline/headline.tsv"
    conda:
        ENV_PLOT
    params:
        runs={r.name: r.variant for r in RUNS},
        code=script_code("plot_headline.py"),
    script:
        "../workflow_scripts/plot_headline.py"
