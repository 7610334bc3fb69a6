"""Transcript normalisation shared by every stage that reads or scores text."""

import re

_NOT_ALLOWED = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, keep a-z, apostrophe and single spaces (LibriSpeech's alphabet)."""
    text = _NOT_ALLOWED.sub(" ", text.lower())
    return _SPACES.sub(" ", text).strip()
