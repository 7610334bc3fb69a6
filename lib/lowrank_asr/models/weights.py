"""Model weights in HDF5 ``.weights.h5`` files (Keras 3 format), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras

from lowrank_asr.errors import PipelineError

SUFFIX = ".weights.h5"


def save_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Write all weights of ``model`` to ``path`` (must end in .weights.h5) via a temporary file."""
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise PipelineError(f"weights file {path} must end in {SUFFIX}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name[: -len(SUFFIX)]}.", suffix=f".tmp{SUFFIX}", dir=path.parent
    )
    os.close(fd)
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remedy(path: str | os.PathLike) -> str:
    """What to do about a missing or damaged weights file: outputs are rebuilt by Snakemake, resume state by
    retraining (a file under results/.train_state/<variant>/<key>/ belongs to that one state folder)."""
    path = Path(path)
    if ".train_state" in path.parts:
        return (
            f"delete the training state folder {path.parent} and rerun the training job (that variant then "
            "trains from scratch)"
        )
    return f"delete it and rerun `snakemake {path}` to recreate it"


def load_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Load ``path`` into the (built) ``model``; a missing, damaged or mismatched file names the file, the model
    and the remedy."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(
            f"weights file {path} does not exist; train the variant first (`snakemake {path}`)"
        )
    if not model.built and hasattr(model, "build_all"):
        model.build_all()
    try:
        model.load_weights(str(path))
    except OSError as exc:  # h5py: truncated or not HDF5 at all; its message names no file
        raise PipelineError(
            f"weights file {path} is damaged and cannot be read ({exc}); {remedy(path)}"
        ) from exc
    except (ValueError, KeyError) as exc:
        raise PipelineError(
            f"weights file {path} does not fit model {model.name!r} "
            f"(was it trained with another model config?): {exc}; {remedy(path)}"
        ) from exc
