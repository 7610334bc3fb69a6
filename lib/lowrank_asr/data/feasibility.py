"""Utterances too short for their transcripts: found from the shards before training, not mid-epoch in the loss.

A model sees T = encoder frames of an utterance (front-end frames, then ceil-divided by every block's stride).
CTC emits at most one label per frame and needs a blank between two equal labels, so it needs
T >= U + (adjacent repeats); TensorFlow's CTC loss otherwise stops the whole run ("Not enough time for target
transition sequence") without naming the utterance. RNN-T can emit any number of labels at one frame but needs
T >= 1. The training job applies ``data.on_bad_audio`` to what this finds: an error naming the utterances, or
leaving them out with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lowrank_asr.data.budget import Utterance
from lowrank_asr.data.tfrecords import FEATURE_SPEC
from lowrank_asr.errors import CorpusError

REMEDY = (
    "remove it from the split (or fix its audio), or set `data.on_bad_audio: skip` to leave such utterances "
    "out of training"
)


def frames_needed(labels: Sequence[int], decoder: str) -> int:
    """The fewest encoder frames that can carry `labels`: CTC U + adjacent repeats, RNN-T 1 (both at least 1)."""
    if decoder == "ctc":
        repeats = sum(a == b for a, b in zip(labels, labels[1:], strict=False))
        return max(1, len(labels) + repeats)
    return 1


@dataclass(frozen=True)
class TooShort:
    utterance: Utterance
    frames: int
    needed: int
    labels: int

    def describe(self, decoder: str) -> str:
        return (
            f"{self.utterance.describe()}: {self.frames} encoder frame(s), but its {self.labels} "
            f"label(s) need {self.needed} for {decoder.upper()}"
        )


def _scan(files: Sequence[str]) -> list[tuple[Utterance, str]]:
    spec = {k: FEATURE_SPEC[k] for k in ("duration", "utt_id", "path", "transcript")}
    out = []
    for shard in files:
        records = tf.data.TFRecordDataset(shard).map(lambda s: tf.io.parse_single_example(s, spec))
        for chunk in records.batch(4096).as_numpy_iterator():
            for u, p, d, t in zip(
                chunk["utt_id"], chunk["path"], chunk["duration"], chunk["transcript"], strict=True
            ):
                out.append((Utterance(u.decode(), p.decode(), shard, float(d)), t.decode("utf-8")))
    return out


def too_short_utterances(
    files: Sequence[str],
    encode: Callable[[str], Sequence[int]],
    encoder_frames: Callable[[np.ndarray], np.ndarray],
    decoder: str,
    sample_rate: int,
    max_duration: float | None,
) -> list[TooShort]:
    """The utterances of `files` (within `max_duration`, as the datasets read them) that `decoder` cannot align:
    `encode` turns a transcript into label ids, `encoder_frames` sample counts into encoder frame counts."""
    scanned = [
        (u, t)
        for u, t in _scan([str(f) for f in files])
        if max_duration is None or np.float32(u.duration) <= np.float32(max_duration)
    ]
    if not scanned:
        return []
    samples = np.array([round(u.duration * sample_rate) for u, _ in scanned], dtype=np.int64)
    frames = np.asarray(encoder_frames(samples))
    out = []
    for (utterance, transcript), t in zip(scanned, frames, strict=True):
        labels = list(encode(transcript))
        needed = frames_needed(labels, decoder)
        if int(t) < needed:
            out.append(TooShort(utterance, int(t), needed, len(labels)))
    return out


def too_short_message(found: Sequence[TooShort], decoder: str) -> str:
    listed = "; ".join(f.describe(decoder) for f in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return f"{len(found)} utterance(s) too short for their transcripts: {listed}{more}. For each, {REMEDY}"


def apply_policy(found: Sequence[TooShort], decoder: str, skip: bool, log) -> list[str]:
    """`data.on_bad_audio` for utterances too short to train on: CorpusError (fail), or their ids (skip),
    each logged."""
    if found and not skip:
        raise CorpusError(too_short_message(found, decoder))
    for f in found:
        log.warning("data.on_bad_audio = skip: leaving out %s", f.describe(decoder))
    if found:
        log.warning(
            "data.on_bad_audio = skip: left out %d utterance(s) too short for their transcripts", len(found)
        )
    return sorted({f.utterance.utt_id for f in found})
