"""Decode a dataset with a trained model (greedy and beam search) and score it."""

from __future__ import annotations

import csv
import json
import os
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from lowrank_asr import decoding
from lowrank_asr.metrics import error_rates
from lowrank_asr.metrics.decodes import DECODE_COLUMNS, read_decodes

__all__ = [
    "DECODE_COLUMNS",
    "Decoded",
    "Timing",
    "read_decodes",
    "score_decodes",
    "transcribe",
    "write_decodes",
    "write_json",
]


@dataclass(frozen=True)
class Decoded:
    utt_id: str
    path: str
    duration: float
    reference: str
    greedy: str
    beam: str


@dataclass(frozen=True)
class Timing:
    audio_seconds: float
    greedy_seconds: float
    beam_seconds: float

    @property
    def rtf(self) -> float:
        """Real-time factor of greedy recognition (features + encoder + search) ÷ audio duration."""
        return self.greedy_seconds / max(self.audio_seconds, 1e-9)

    @property
    def beam_rtf(self) -> float:
        return (self.greedy_seconds + self.beam_seconds) / max(self.audio_seconds, 1e-9)


_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def make_encoder_fn(model):
    """Features + encoder as one traced function (the search loops call the model step by step).

    Cached per model, so that evaluating after every epoch does not trace the encoder again.
    """
    if model in _ENCODERS:
        return _ENCODERS[model]

    @tf.function(reduce_retracing=True, autograph=False)
    def encode(audio, audio_len):
        x, x_len = model.featurize(audio, audio_len)
        return model.encode(x, x_len, training=False)

    _ENCODERS[model] = encode
    return encode


def search(model, enc, enc_len, *, beam_width: int | None, max_symbols_per_step: int) -> list[list[int]]:
    """Token ids per utterance: greedy when beam_width is None, else beam search."""
    if model.decoder_type == "ctc":
        logits = model.ctc_logits(enc)
        if beam_width is None:
            return decoding.ctc_greedy(logits, enc_len)
        return decoding.ctc_beam_search(logits, enc_len, beam_width=beam_width)
    if beam_width is None:
        return decoding.rnnt_greedy(model, enc, enc_len, max_symbols_per_step=max_symbols_per_step)
    return decoding.rnnt_beam_search(
        model, enc, enc_len, beam_width=beam_width, max_symbols_per_step=max_symbols_per_step
    )


def warm_up(model, batch: dict, *, beam_width: int | None, max_symbols_per_step: int) -> None:
    """Trace everything recognition runs, for every shape, before anything is timed.

    The traced functions (encoder, greedy loop, beam-search steps) use ``reduce_retracing``: a second call
    with other sizes retraces ONCE with those sizes left open, and no later shape traces again. So the first
    utterance is decoded alone and then twice over with extra padding: batch size, padded length and beam
    rows all take two values, and every later batch (any padded length, a short last batch) runs traced code.
    The longest utterance of ``batch`` is used (an utterance shorter than one frame would skip the search).
    """
    encode = make_encoder_fn(model)
    lengths = batch["audio_len"]
    i = int(tf.argmax(lengths))
    n = int(lengths[i])
    one = batch["audio"][i : i + 1, :n]
    pad = int(model.cfg["features"]["sample_rate"])  # 1 s more: the encoder's output length changes too
    two = tf.pad(tf.repeat(one, 2, axis=0), [[0, 0], [0, pad]])
    for audio in (one, two):
        audio_len = tf.fill([tf.shape(audio)[0]], tf.cast(n, lengths.dtype))
        enc, enc_len = encode(audio, audio_len)
        for width in (None, beam_width) if beam_width else (None,):
            search(model, enc, enc_len, beam_width=width, max_symbols_per_step=max_symbols_per_step)


def _strings(tensor) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in tensor.numpy().tolist()]


def transcribe(
    model,
    batches: Iterable[dict],
    vocab,
    *,
    beam_width: int | None,
    max_symbols_per_step: int,
    progress: bool = True,
    total: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    timed: bool = True,
) -> tuple[list[Decoded], Timing]:
    """Greedy (and, with beam_width, beam-search) transcripts of every utterance in the batches.

    The timed regions (``clock`` before and after each search) run traced code only: :func:`warm_up` traces
    every shape on the first batch, untimed, so the real-time factor measures recognition, not tracing.
    ``timed=False`` skips the warm-up, for callers that discard the timing (its numbers then include tracing).
    """
    encode = make_encoder_fn(model)
    rows: list[Decoded] = []
    audio_s = greedy_s = beam_s = 0.0
    warm = False
    for batch in tqdm(batches, desc="decode", unit="batch", total=total, disable=not progress, mininterval=5):
        if timed and not warm:
            warm_up(model, batch, beam_width=beam_width, max_symbols_per_step=max_symbols_per_step)
            warm = True
        start = clock()
        enc, enc_len = encode(batch["audio"], batch["audio_len"])
        greedy = search(model, enc, enc_len, beam_width=None, max_symbols_per_step=max_symbols_per_step)
        middle = clock()
        beam = (
            search(model, enc, enc_len, beam_width=beam_width, max_symbols_per_step=max_symbols_per_step)
            if beam_width
            else greedy
        )
        end = clock()
        greedy_s += middle - start
        beam_s += end - middle if beam_width else 0.0
        durations = batch["duration"].numpy().tolist()
        audio_s += float(sum(durations))
        for uid, path, dur, ref, g, b in zip(
            _strings(batch["utt_id"]),
            _strings(batch["path"]),
            durations,
            _strings(batch["transcript"]),
            greedy,
            beam,
            strict=True,
        ):
            rows.append(Decoded(uid, path, float(dur), ref, vocab.decode(g), vocab.decode(b)))
    return rows, Timing(audio_s, greedy_s, beam_s)


def greedy_wer(model, batches: Iterable[dict], vocab, *, max_symbols_per_step: int) -> float:
    rows, _ = transcribe(
        model,
        batches,
        vocab,
        beam_width=None,
        max_symbols_per_step=max_symbols_per_step,
        progress=False,
        timed=False,
    )
    return error_rates([r.reference for r in rows], [r.greedy for r in rows]).wer


def write_decodes(rows: Sequence[Decoded], path: str | Path) -> None:
    """TensorFlowASR's decode TSV: PATH DURATION GROUNDTRUTH GREEDY BEAMSEARCH, one row per utterance."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(DECODE_COLUMNS)
        for r in sorted(rows, key=lambda r: r.path):
            writer.writerow([r.path, f"{r.duration:.4f}", r.reference, r.greedy, r.beam])
    os.replace(tmp, path)


def score_decodes(rows: Sequence[dict]) -> dict:
    """WER/CER of the greedy and beam columns of a decode TSV (as read by `read_decodes`)."""
    refs = [r["GROUNDTRUTH"] for r in rows]
    greedy = error_rates(refs, [r["GREEDY"] for r in rows])
    beam = error_rates(refs, [r["BEAMSEARCH"] for r in rows])
    return {
        "utterances": len(rows),
        "words": greedy.words,
        "chars": greedy.chars,
        "greedy_wer": greedy.wer,
        "greedy_cer": greedy.cer,
        "beam_wer": beam.wer,
        "beam_cer": beam.cer,
    }


def score_sentences(rows: Sequence[dict], min_words: int) -> dict | None:
    """`score_decodes` over the utterances whose reference has at least `min_words` words (with `min_words`),
    or None when there are none: a split of many single words (real-test) also reports its sentences alone."""
    sentences = [r for r in rows if len(r["GROUNDTRUTH"].split()) >= min_words]
    return {**score_decodes(sentences), "min_words": min_words} if sentences else None


def write_json(obj: dict, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
