"""Set-up shared by every workflow script: logging into the rule's log file, threads, GPU visibility.

Call `start(...)` before anything imports TensorFlow: GPU visibility and thread counts are fixed at import.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

# Keras imports scikit-learn and pandas whenever they are installed (librosa brings scikit-learn), only to offer
# wrappers that this pipeline never uses. Hiding them takes ~2 s off every TensorFlow job's start-up
# (measured: `import tensorflow` 6.7 s -> 5.0 s on one core), which the ~45 per-epoch analysis jobs pay each.
UNUSED_OPTIONAL_IMPORTS = ("sklearn", "pandas")


def skip_unused_optional_imports() -> None:
    """Make `import sklearn` / `import pandas` fail fast in this process (ImportError), unless already imported."""
    for name in UNUSED_OPTIONAL_IMPORTS:
        sys.modules.setdefault(name, None)


def start(log_file: str | None, *, threads: int = 1, gpus: int = 0) -> logging.Logger:
    """Send logging and stderr (tqdm bars, TensorFlow messages) to the rule's log file."""
    if not gpus:
        # Snakemake sets no CUDA_VISIBLE_DEVICES: a job without the gpu resource must not grab the card
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    skip_unused_optional_imports()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(min(threads, 2))
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_file, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return logging.getLogger("lowrank_asr")


def start_from_snakemake(smk) -> logging.Logger:
    """`start` with the rule's log, threads and gpu resource."""
    return start(
        smk.log[0] if smk.log else None, threads=smk.threads, gpus=int(smk.resources.get("gpu", 0) or 0)
    )
