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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[: -len(SUFFIX)]}.", suffix=f".tmp{SUFFIX}", dir=path.parent)
    os.close(fd)
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Load ``path`` into the (built) ``model``; a mismatch names the file and the model."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"weights file {path} does not exist; train the variant first")
    if not model.built and hasattr(model, "build_all"):
        model.build_all()
    try:
        model.load_weights(str(path))
    except (ValueError, KeyError) as exc:
        raise PipelineError(f"weights file {path} does not fit model {model.name!r} "
                            f"(was it trained with another model config?): {exc}") from exc
