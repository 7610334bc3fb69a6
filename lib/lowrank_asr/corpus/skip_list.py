"""The transcripts stage's skip list (``resources/transcripts/{split}.skipped.json``): one entry per problem found,
``{path, utt_id, reason}``, where ``utt_id`` is the utterance left out, or null for a problem that leaves none
out itself (an unreadable ``.trans.txt``, whose audio files are listed on their own as having no transcript; a
duplicate transcript line, whose first line is used). One utterance can have several problems, so counts of
skipped utterances come from here, not from the list's length. Kept free of audio libraries: the WER table
reads it too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def skipped_utterances(problems: Iterable[Mapping]) -> int:
    """How many utterances a skip list leaves out: its distinct utterance ids."""
    return len({p["utt_id"] for p in problems if p.get("utt_id")})
