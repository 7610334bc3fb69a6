"""The part of `data.on_bad_audio` that a split's transcripts depend on: the rule's rerun key.

A split without bad audio gives the same transcripts under `fail` and `skip`, so toggling the policy must rerun
nothing there (not the transcripts, and not the trainings downstream of them). The policy only matters where the
split is known to hold bad audio: its last transcripts run (under `skip`) listed problems in `{split}.skipped.json`;
switching to `fail` must then rerun the split's transcripts, which stop with the list of problems.

A split never seen before (no skip list yet) gets the same key as a clean one: the job reads the policy itself and
fails under `fail` on the first bad file, so the first run needs no key of its own, and a successful run's key
stays the same afterwards (`fail` leaves an empty list, `skip` a list under a policy that keys the same).
One case reruns once more than needed: a split whose bad audio was fixed while switching to `fail` reruns under
the `fail` key, succeeds, and its key then falls back to the common one (Snakemake reruns it, with its dependants).
"""

from __future__ import annotations

import json
from pathlib import Path

FAIL_ON_KNOWN_BAD_AUDIO = "fail: the split holds bad audio"
POLICY_IRRELEVANT = "no bad audio known, or skipped"


def bad_audio_rerun_key(policy: str, skipped_json: str | Path) -> str:
    """The transcripts rule's params value for `data.on_bad_audio` = `policy`, given the split's last skip list."""
    if policy == "fail" and known_bad_audio(skipped_json):
        return FAIL_ON_KNOWN_BAD_AUDIO
    return POLICY_IRRELEVANT


def known_bad_audio(skipped_json: str | Path) -> bool:
    """Whether the split's last transcripts run listed problems (False when it has not run yet)."""
    path = Path(skipped_json)
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return True  # an unreadable list: assume the worst, so that `fail` reruns the split and checks again


FAIL_ON_KNOWN_SHORT_UTTERANCES = "fail: the training data hold utterances too short for their transcripts"


def train_bad_audio_key(policy: str, too_short_json: str | Path) -> str:
    """The train rule's params value for `data.on_bad_audio` = `policy`: the same under both policies unless the
    run's last training left utterances out as too short (`too_short_json`, written by the trainer); then
    switching to `fail` reruns the job, which stops naming them. The job itself reads the policy from the
    config, so that toggling it retrains nothing on data without such utterances."""
    if policy == "fail" and known_bad_audio(too_short_json):
        return FAIL_ON_KNOWN_SHORT_UTTERANCES
    return POLICY_IRRELEVANT
