"""How a per-epoch analysis (landscape, attribution) splits into jobs: one per run, or one per epoch.

Kept out of ``lowrank_asr.config``: the rules' code hashes cover that module, so an edit there would rerun
(and retrain) everything, while only the Snakefile reads this one.
"""

from __future__ import annotations

from collections.abc import Mapping

from lowrank_asr.errors import ConfigError

ANALYSIS_JOBS = ("variant", "epoch")


def per_variant_jobs(config: Mapping, section: str) -> bool:
    """Whether ``section`` runs one job per run for all its epochs (``{section}.job: variant``, the default:
    TensorFlow start-up, model build and tracing are paid once per run) or one job per epoch (``job: epoch``:
    for expensive epochs spread over GPUs or cluster nodes)."""
    job = config[section].get("job", "variant")
    if job not in ANALYSIS_JOBS:
        raise ConfigError(f"{section}.job is {job!r}; use one of: {', '.join(ANALYSIS_JOBS)}")
    return job == "variant"
