# lowrank-asr: LibriSpeech-format corpus → TFRecords → ContextNet variants → WER, loss landscapes,
# integrated gradients, plots, videos and a report. `snakemake --cores 2` runs `all` on the embedded default.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.20")

import os

# Jobs (local, conda or SLURM) import this checkout's library, the code the params hashes describe. `envvars:`
# makes Snakemake pass PYTHONPATH on to jobs it submits elsewhere; it is always defined, since it is set here.
LIB = str(Path(workflow.basedir) / "lib")
sys.path.insert(0, LIB)
_PATHS = [LIB, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in _PATHS if p))


envvars:
    "PYTHONPATH",


from lowrank_asr.config import deep_merge  # noqa: E402
from lowrank_asr.config_files import load_yaml  # noqa: E402
from lowrank_asr.workflow.config import check_configfiles, validate_config  # noqa: E402
from lowrank_asr.workflow.overrides import retype_overrides  # noqa: E402

# Each --configfile again, bounded (an alias bomb or runaway nesting is refused, naming the file, before anything
# walks the config); Snakemake itself refuses an empty one before this runs, without naming it.
check_configfiles(workflow.overwrite_configfiles)
# A profile's nested `config:` values arrive as strings ('8', 'True'); give them their YAML types.
retype_overrides(config, workflow.config_settings.config)

# `--configfile` replaces the default config instead of being merged into it (a smoke config must not
# inherit the default's variants or splits); `--config key=value` still overrides single keys.
if "variants" not in config:
    _cli = dict(config)
    config.clear()
    config.update(deep_merge(load_yaml(Path(workflow.basedir) / "config" / "config.yaml"), _cli))
# fills in the schema's defaults: rules read complete sections
validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/landscape.smk"
include: "rules/attribution.smk"
include: "rules/representations.smk"
include: "rules/compression.smk"
include: "rules/geometry.smk"
include: "rules/report.smk"
include: "rules/output_lists.smk"


rule all:
    default_target: True
    input:
        "results/wer_table.csv",
        "results/wer_table.md",
        "results/plots/training_curves.png",
        "results/plots/headline.png",
        landscape_targets(),
        attribution_targets(),
        representation_targets(),
        compression_targets(),
        geometry_targets(),
