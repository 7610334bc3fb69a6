# Corpus → transcripts → TFRecords → vocabulary.
SOURCE = config["corpus"]["source"]
TARBALL_SPLITS = [s for s in SPLITS if s not in LOCAL and s not in PACKAGED_SPLITS]
SYNTH_SPLITS = TARBALL_SPLITS if SOURCE == "synthetic" else []
DOWNLOAD_SPLITS = TARBALL_SPLITS if SOURCE == "librispeech" else []
SYNTHETIC_TRAINING_SPECS = {
    s: config["corpus"]["synthetic"][s] for s in config["data"]["train_splits"] if s in SYNTH_SPLITS
}


rule synthesize_corpus:
    output:
        "resources/downloads/{split}.tar.gz",
    log:
        "logs/synthesize_corpus/{split}.log",
    benchmark:
        "benchmarks/synthesize_corpus/{split}.tsv"
    wildcard_constraints:
        split=one_of(SYNTH_SPLITS),
    conda:
        ENV_DATA
    params:
        spec=lambda w: config["corpus"]["synthetic"][w.split],
        seed=config["seed"],
        code=script_code("synthesize_corpus.py"),
    script:
        "../workflow_scripts/synthesize_corpus.py"


rule download_librispeech:
    output:
        "resources/downloads/{split}.tar.gz",
    log:
        "logs/download_librispeech/{split}.log",
    benchmark:
        "benchmarks/download_librispeech/{split}.tsv"
    wildcard_constraints:
        split=one_of(DOWNLOAD_SPLITS),
    retries: 2
    conda:
        ENV_DATA
    params:
        url=config["corpus"]["url"],
        code=script_code("download_librispeech.py"),
    script:
        "../workflow_scripts/download_librispeech.py"


# Recorded human speech from Debian packages (apt-get download + dpkg-deb -x, nothing installed); joins the DAG
# only where common.smk's gate found the packages (lowrank_asr.corpus.packaged).
rule real_test_split:
    output:
        tarball=REAL_TEST_TARBALL,
        sources="resources/downloads/real-test.sources.json",
    log:
        "logs/real_test_split/real-test.log",
    benchmark:
        "benchmarks/real_test_split/real-test.tsv"
    conda:
        ENV_DATA
    params:
        marker=REAL_TEST_UNAVAILABLE,
        # the synthetic training text, which must not hold a real-test sentence verbatim
        training_specs=SYNTHETIC_TRAINING_SPECS,
        seed=config["seed"],
        code=script_code("real_test_split.py"),
    script:
        "../workflow_scripts/real_test_split.py"


rule extract:
    input:
        tarball,
    output:
        # a manifest naming resources/corpus/LibriSpeech/{split}/: Snakemake deletes declared outputs before a
        # job runs, so the folder itself is kept out of them and replaced only by a successful extraction
        manifest="resources/corpus/{split}.extracted.json",
    log:
        "logs/extract/{split}.log",
    benchmark:
        "benchmarks/extract/{split}.tsv"
    conda:
        ENV_DATA
    params:
        local=lambda w: w.split in LOCAL,
        code=script_code("extract.py"),
    script:
        "../workflow_scripts/extract.py"


rule transcripts:
    input:
        lambda w: split_source(w.split),
    output:
        tsv="resources/transcripts/{split}.tsv",
        skipped="resources/transcripts/{split}.skipped.json",
    log:
        "logs/transcripts/{split}.log",
    benchmark:
        "benchmarks/transcripts/{split}.tsv"
    conda:
        ENV_DATA
    params:
        # not the policy itself: toggling it reruns only splits with bad audio (lowrank_asr.workflow.bad_audio)
        on_bad_audio=lambda w: bad_audio_rerun_key(
            BAD_AUDIO_POLICY, f"resources/transcripts/{w.split}.skipped.json"
        ),
        code=script_code("transcripts.py"),
    script:
        "../workflow_scripts/transcripts.py"


rule tfrecords:
    input:
        "resources/transcripts/{split}.tsv",
    output:
        [f"resources/tfrecords/{{split}}/shard-{i:03d}-of-{SHARDS:03d}.tfrecord" for i in range(SHARDS)],
    log:
        "logs/tfrecords/{split}.log",
    benchmark:
        "benchmarks/tfrecords/{split}.tsv"
    conda:
        ENV_DATA
    params:
        code=script_code("tfrecords.py"),
    script:
        "../workflow_scripts/tfrecords.py"


# Thousands of per-epoch analysis jobs list this one file instead of every shard: the DAG build's cost grows with
# the input files of every job (tests/benchmarks/results/report.md, DAG build).
rule tfrecord_index:
    input:
        tfrecord_files("{split}"),
    output:
        tfrecord_index("{split}"),
    log:
        "logs/tfrecord_index/{split}.log",
    benchmark:
        "benchmarks/tfrecord_index/{split}.tsv"
    conda:
        ENV_DATA
    params:
        code=script_code("tfrecord_index.py"),
    script:
        "../workflow_scripts/tfrecord_index.py"


rule vocabulary:
    input:
        expand("resources/transcripts/{split}.tsv", split=config["data"]["train_splits"]),
    output:
        vocab_files(),
    log:
        "logs/vocabulary/vocab.log",
    benchmark:
        "benchmarks/vocabulary/vocab.tsv"
    conda:
        ENV_DATA
    params:
        vocabulary=config["vocabulary"],
        code=script_code("vocabulary.py"),
    script:
        "../workflow_scripts/vocabulary.py"


rule data:
    input:
        split_tfrecords(SPLITS),
        vocab_files(),
