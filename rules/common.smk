# Paths, wildcard constraints, config slices and code hashes shared by every rule group.
import re

from lowrank_asr.config import stable_hash, variant_model_config
from lowrank_asr.workflow.bad_audio import bad_audio_rerun_key, train_bad_audio_key
from lowrank_asr.workflow.codehash import code_hash, use_disk_cache
from lowrank_asr.workflow.config import (
    all_splits,
    analysis_epochs,
    analysis_runs,
    evaluation_decoding_settings,
    first_seed_runs,
    per_variant_jobs,
    run_model_configs,
    run_named,
    train_job_settings,
    training_resume_settings,
    training_runs,
)
from lowrank_asr.corpus.packaged import PACKAGED_SPLITS, drop_unavailable_splits
from lowrank_asr.corpus.packaged import UNAVAILABLE_MARKER as REAL_TEST_UNAVAILABLE
from lowrank_asr.errors import TrainingError
from lowrank_asr.locking import LOCK_NAME, check_free
from lowrank_asr.workflow.paths import local_split_source

# `config` is validated (Snakefile): every section is complete, with the schema's defaults (config/schema.yaml).

REAL_TEST_TARBALL = "resources/downloads/real-test.tar.gz"

# The real-speech split joins only where apt-get can fetch its packages: decided here, once per DAG build,
# so that no job of the run depends on it otherwise (lowrank_asr.corpus.packaged.drop_unavailable_splits).
_REAL_TEST_NOTICE = drop_unavailable_splits(
    config, cached=Path(REAL_TEST_TARBALL).is_file(), marker=REAL_TEST_UNAVAILABLE
)
# once per `make run`: its `--report` pass, which runs nothing, stays quiet (so do remote jobs)
if _REAL_TEST_NOTICE and workflow.is_main_process and "--report" not in sys.argv:
    print(_REAL_TEST_NOTICE, file=sys.stderr)
SPLITS = all_splits(config)
VARIANTS = list(config["variants"])
# Each variant trains once per `training.seeds` entry. The `{run}` wildcard names a run: the variant alone with
# one seed (today's paths), `<variant>/seed_<seed>` with several.
RUNS = training_runs(config)
RUN_NAMES = [r.name for r in RUNS]
# the training geometry follows the landscape's runs (the first seed's unless landscape.all_seeds)
GEOMETRY_RUN_NAMES = [r.name for r in analysis_runs(config, "landscape")]
EPOCHS = config["training"]["epochs"]
SHARDS = config["data"]["shards"]
LOCAL = config["corpus"]["local"]
BAD_AUDIO_POLICY = config["data"]["on_bad_audio"]
SCRIPTS = Path(workflow.basedir) / "workflow_scripts"
# conda envs (with --software-deployment-method conda); paths relative to the rules/ folder
ENV_DATA = "../envs/data.yaml"
ENV_TF = f"../envs/{config['software']['tf_env']}.yaml"
ENV_PLOT = "../envs/plot.yaml"
# Training runs on one core: the small default model keeps a second thread mostly idle (CPU time per step equals
# wall time, tests/benchmarks/results/report.md), so on 2 cores the variants train side by side instead of one
# after the other (measured on the default config: 85 s per epoch each side by side, against 45 s each one after
# the other).
# GPU and cluster profiles set their own per rule (`set-threads`). Not `workflow.cores`, which is undefined
# for --report, --dag and -n without --cores.
TRAIN_THREADS = 1
# Evaluation, loss grids and attributions are short jobs dominated by start-up and tracing, which run on one
# core: two single-threaded jobs side by side finish sooner than two 2-thread jobs in a row.
ANALYSIS_THREADS = 1


def one_of(names):
    """A wildcard constraint matching exactly `names` (nothing when there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


wildcard_constraints:
    run=one_of(RUN_NAMES),
    split=one_of(SPLITS),
    epoch=r"\d{3}",


# Parsed modules are remembered across runs (keyed by size and mtime): a dry run then parses no library code.
use_disk_cache(Path(".snakemake") / "lowrank_asr" / "codehash.json")


def script_code(name):
    """params value that changes when the script or a library module it imports changes (AST, not text)."""
    return code_hash(SCRIPTS / name)


def epoch_tag(epoch):
    return f"{int(epoch):03d}"


def tfrecord_files(split):
    return [f"resources/tfrecords/{split}/shard-{i:03d}-of-{SHARDS:03d}.tfrecord" for i in range(SHARDS)]


def tfrecord_index(split):
    """The file that per-epoch analyses list instead of the split's shards (lowrank_asr.data.shard_index)."""
    return f"resources/tfrecords/{split}/index.json"


def split_tfrecords(splits):
    return [f for split in splits for f in tfrecord_files(split)]


def vocab_files():
    files = ["resources/vocab/vocab.json"]
    if config["vocabulary"]["type"] == "sentencepiece":
        files.append("resources/vocab/spm.model")
    return files


def model_weights(run, epoch):
    return f"results/models/{run}/epoch_{epoch_tag(epoch)}.weights.h5"


# merged once per run, not per job (the LibriSpeech config with every epoch analysed has ~3 000 such jobs)
RUN_MODELS = run_model_configs(config)


def model_settings(wildcards):
    if wildcards.run not in RUN_MODELS:
        run_named(config, wildcards.run)  # raises, naming the runs there are
    return RUN_MODELS[wildcards.run]


def tarball(wildcards):
    local = LOCAL.get(wildcards.split)
    return local if local else f"resources/downloads/{wildcards.split}.tar.gz"


# padded audio seconds per pass of the per-epoch analyses (None: a whole subset in one batch)
BATCH_SECONDS = config["evaluation"]["batch_seconds"]

# `seeds` only says how many runs there are: adding a seed must not retrain the others.
TRAINING = {k: v for k, v in config["training"].items() if k != "seeds"}


def run_seed(wildcards):
    return run_named(config, wildcards.run).seed


def train_state_dir(wildcards):
    """Resume state keyed by everything that shapes the run, so a changed setting starts afresh."""
    key = stable_hash(
        [
            model_settings(wildcards),
            training_resume_settings(TRAINING),
            run_seed(wildcards),
            config["data"]["max_duration"],
            script_code("train.py"),
        ]
    )
    return f"results/.train_state/{wildcards.run}/{key}"


# Snakemake compares a job's params only when every output it declares has a metadata record. When a job's list
# of outputs grows (more epochs), the new ones have none, so `snakemake <an old output>` answered "Nothing to be
# done" while `snakemake all` reran the job. Such a job lists its outputs in a small file, an input of the job
# (rules/output_lists.smk): the file's own params change with the list, it is rewritten, and the job reruns
# whichever of its outputs is asked for.
OUTPUT_LISTS = {}
# A list's content (its params) spells the run wildcard by its name before issue 22 renamed it `{run}`: a list
# that read differently would be rewritten, and every training run of an existing workspace would rerun for it.
LISTED_RUN_WILDCARD = "{variant}"


def output_list(rule_name, files):
    """An input of the jobs of `rule_name`: the file that lists their outputs `files` (patterns with `{run}`)."""
    OUTPUT_LISTS[rule_name] = [str(f).replace("{run}", LISTED_RUN_WILDCARD) for f in files]
    return f"results/.output_lists/{rule_name}/{{run}}.txt"


def train_bad_audio(wildcards):
    """The train job's key for `data.on_bad_audio` (lowrank_asr.workflow.bad_audio.train_bad_audio_key)."""
    return train_bad_audio_key(BAD_AUDIO_POLICY, Path(train_state_dir(wildcards)) / "too_short.json")


def trainer_lock_free(wildcards):
    """The train jobs' input function (it adds no files). While another process trains this run, refuse here, as the
    DAG is built, because Snakemake deletes a job's outputs before the job starts and again when it fails, and
    those are the running trainer's (lowrank_asr.locking). A dry run only warns."""
    lock = Path(train_state_dir(wildcards)).parent / LOCK_NAME
    try:
        check_free(lock)
    except TrainingError as error:
        if not workflow.dryrun:
            raise
        print(f"Warning: {error}", file=sys.stderr)
    return {}


def landscape_grid_output(shards):
    if shards == 1:
        return "results/landscape/{run}/epoch_{epoch}.h5"
    return "results/landscape/{run}/shards/epoch_{epoch}.shard{shard}.h5"


def analysis_epoch_files(section, pattern):
    """`pattern`'s files for one job of a per-epoch analysis: every analysed epoch's (`{section}.job: variant`),
    or the `{epoch}` wildcard's alone (`job: epoch`)."""
    if not per_variant_jobs(config, section):
        return [pattern]
    return [pattern.replace("{epoch}", epoch_tag(e)) for e in analysis_epochs(config, section)]


def analysis_job_epochs(section):
    """params.epochs of a per-epoch analysis job: the epoch numbers of its outputs, in their order."""
    if per_variant_jobs(config, section):
        return analysis_epochs(config, section)
    return lambda wildcards: [int(wildcards.epoch)]


def analysis_job_file(folder, rule, section, suffix):
    """Log or benchmark file of a per-epoch analysis job: one per run (and shard), or one per run and epoch."""
    job = "all_epochs" if per_variant_jobs(config, section) else "epoch_{epoch}"
    return f"{folder}/{rule}/{{run}}/{job}{suffix}"


def split_source(split):
    """Where a split's audio comes from: a LibriSpeech-format folder on disk, or the manifest of the extracted
    corpus (naming resources/corpus/LibriSpeech/{split}/)."""
    if split in LOCAL and not LOCAL[split].endswith((".tar.gz", ".tgz", ".tar")):
        return str(local_split_source(LOCAL[split], split))
    return f"resources/corpus/{split}.extracted.json"


def landscape_targets():
    targets = []
    for run in analysis_runs(config, "landscape"):
        targets += [
            f"results/plots/landscape/{run.name}/epoch_{epoch_tag(e)}.png"
            for e in analysis_epochs(config, "landscape")
        ]
        targets.append(f"results/videos/{run.name}_landscape.mp4")
    if len(VARIANTS) > 1:
        targets.append("results/videos/compare_landscape.mp4")
    return targets


def attribution_targets():
    targets = []
    for run in analysis_runs(config, "attribution"):
        targets += [
            f"results/plots/attribution/{run.name}/epoch_{epoch_tag(e)}.png"
            for e in analysis_epochs(config, "attribution")
        ]
        targets.append(f"results/videos/{run.name}_attribution.mp4")
    return targets


def prepared_tfrecords(splits, key):
    """Input function: the splits' TFRecords, or a clear error when a split is not among the prepared ones."""

    def files(wildcards):
        missing = [s for s in splits if s not in SPLITS]
        if missing:
            raise ValueError(
                f"{key} names split(s) {missing}, which the config does not prepare; "
                f"use one of {SPLITS} or add it to data.dev_splits / data.test_splits"
            )
        return split_tfrecords(splits)

    return files


def representation_targets():
    """Spectra and CKA outputs (rules/representations.smk, whose globals these names are)."""
    targets = [
        *REPRESENTATION_FILES,
        "results/plots/representations/effective_rank.png",
        "results/plots/representations/cka_final.png",
        "results/videos/representation_spectra.mp4",
    ]
    targets += [f"results/plots/representations/spectra/epoch_{e}.png" for e in REPRESENTATION_EPOCHS]
    if len(VARIANTS) > 1:
        targets += [f"results/representations/variants_epoch_{e}.h5" for e in REPRESENTATION_EPOCHS]
        targets.append("results/plots/representations/cka_variants.png")
    return targets


def compression_targets():
    """The joint compression table and its plot (rules/compression.smk): they pull every run's sweep."""
    return ["results/compression.csv", "results/plots/compression.png"]


def geometry_targets():
    """The training-geometry figures (rules/geometry.smk), beside the landscape's: they pull the per-run HDF5 files."""
    return [
        f"results/plots/landscape/{v}/{kind}.png"
        for v in GEOMETRY_RUN_NAMES
        for kind in ("trajectory", "interpolation")
    ] + ["results/plots/landscape/trajectory.png", "results/plots/landscape/sharpness.png"]


def _last_epoch_report(paths, caption, category):
    """Only the last epoch's plot goes into the HTML report; the video carries the others."""
    # a line may not start with `report(`: Snakemake's parser takes it for the `report:` directive
    last = report(paths[-1], caption=caption, category=category, labels={"figure": "last epoch"})
    return [*paths[:-1], last]
