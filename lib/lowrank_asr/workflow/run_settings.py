"""Per-run config slices that the Snakefile computes once at parse time instead of once per job.

Here rather than in ``lowrank_asr.config``: no workflow script imports this module, so adding to it changes no
rule's code hash (editing ``config.py`` would rerun every job of an existing workspace).
"""

from __future__ import annotations

from collections.abc import Mapping

from lowrank_asr.config import training_runs, variant_model_config


def run_model_configs(config: Mapping) -> dict[str, dict]:
    """Each training run's model settings by run name, merged once per variant: thousands of per-epoch jobs take
    them as params, and a merge (deep copies) per job was a measurable part of building the DAG."""
    by_variant = {v: variant_model_config(config, v) for v in config["variants"]}
    return {run.name: by_variant[run.variant] for run in training_runs(config)}
