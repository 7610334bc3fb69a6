"""Locating LibriSpeech-format data that a machine already holds."""

from __future__ import annotations

from pathlib import Path

from lowrank_asr.errors import ConfigError


def local_split_source(path: str | Path, split: str) -> Path:
    """The split folder inside a user-given LibriSpeech-format folder.

    Accepts a `LibriSpeech/` folder's parent, the `LibriSpeech/` folder holding `<split>/`, or the split folder
    itself (any name, as long as it holds `<speaker>/<chapter>/*.trans.txt`).
    """
    root = Path(path)
    for candidate in (root / "LibriSpeech" / split, root / split):
        if candidate.is_dir():
            return candidate
    if root.is_dir() and next(root.glob("*/*/*.trans.txt"), None) is not None:
        return root
    raise ConfigError(
        f"corpus.local.{split} = {path} holds no folder named '{split}' (looked for {root}/LibriSpeech/{split}, "
        f"{root}/{split} and {root} itself); point it at a LibriSpeech-format tarball or folder"
    )
