# Paths, wildcard constraints, config slices and code hashes shared by every rule group.
import re

from lowrank_asr.config import all_splits, analysis_epochs, stable_hash, variant_model_config
from lowrank_asr.workflow.codehash import code_hash, use_disk_cache
from lowrank_asr.workflow.paths import local_split_source

SPLITS = all_splits(config)
VARIANTS = list(config["variants"])
EPOCHS = config["training"]["epochs"]
SHARDS = config["data"]["shards"]
LOCAL = config["corpus"].get("local") or {}
SCRIPTS = Path(workflow.basedir) / "workflow_scripts"
# conda envs (with --software-deployment-method conda); paths relative to the rules/ folder
ENV_DATA = "../envs/data.yaml"
ENV_TF = f"../envs/{config.get('software', {}).get('tf_env', 'tf')}.yaml"
ENV_PLOT = "../envs/plot.yaml"
# Training runs on one core: the small default model keeps a second thread mostly idle (CPU time per step equals
# wall time, benchmarks/report.md), so on 2 cores the variants train side by side instead of one after the other
# (measured on the default config: 85 s per epoch each side by side, against 45 s each one after the other).
# GPU and cluster profiles set their own per rule (`set-threads`). Not `workflow.cores`: it is undefined for
# --report, --dag and -n without --cores.
TRAIN_THREADS = 1
# Evaluation, loss grids and attributions are short jobs dominated by start-up and tracing, which run on one
# core: two single-threaded jobs side by side finish sooner than two 2-thread jobs in a row.
ANALYSIS_THREADS = 1


wildcard_constraints:
    variant="|".join(map(re.escape, VARIANTS)),
    split="|".join(map(re.escape, SPLITS)),
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


def split_tfrecords(splits):
    return [f for split in splits for f in tfrecord_files(split)]


def vocab_files():
    files = ["resources/vocab/vocab.json"]
    if config["vocabulary"]["type"] == "sentencepiece":
        files.append("resources/vocab/spm.model")
    return files


def model_weights(variant, epoch):
    return f"results/models/{variant}/epoch_{epoch_tag(epoch)}.weights.h5"


def model_settings(wildcards):
    return variant_model_config(config, wildcards.variant)


def split_source(split):
    """Where a split's audio comes from: a LibriSpeech-format folder on disk, or the extracted corpus."""
    if split in LOCAL and not LOCAL[split].endswith((".tar.gz", ".tgz", ".tar")):
        return str(local_split_source(LOCAL[split], split))
    return f"resources/corpus/LibriSpeech/{split}"


def landscape_targets():
    targets = []
    for variant in VARIANTS:
        targets += [f"results/plots/landscape/{variant}/epoch_{epoch_tag(e)}.png"
                    for e in analysis_epochs(config, "landscape")]
        targets.append(f"results/videos/{variant}_landscape.mp4")
    if len(VARIANTS) > 1:
        targets.append("results/videos/compare_landscape.mp4")
    return targets


def attribution_targets():
    targets = []
    for variant in VARIANTS:
        targets += [f"results/plots/attribution/{variant}/epoch_{epoch_tag(e)}.png"
                    for e in analysis_epochs(config, "attribution")]
        targets.append(f"results/videos/{variant}_attribution.mp4")
    return targets


def geometry_targets():
    """The training-geometry figures (rules/geometry.smk): they pull the per-variant HDF5 files."""
    return ([f"results/plots/geometry/{v}_{kind}.png" for v in VARIANTS for kind in ("trajectory", "interpolation")]
            + ["results/plots/geometry/trajectory.png", "results/plots/geometry/sharpness.png"])


def _last_epoch_report(paths, caption, category):
    """Only the last epoch's plot goes into the HTML report; the video carries the others."""
    return [*paths[:-1], report(paths[-1], caption=caption, category=category, labels={"figure": "last epoch"})]
