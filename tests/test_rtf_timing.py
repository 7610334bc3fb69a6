"""Real-time factor: the timed regions of `transcribe` run traced code only (no tf.function tracing)."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.decoding import rnnt_search
from lowrank_asr.evaluation.transcribe import make_encoder_fn, transcribe
from lowrank_asr.models import build_model

TINY = [
    {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
    {"layers": 2, "channels": 16, "stride": 2, "repeat": 1},
    {"layers": 1, "channels": 24, "stride": 1, "repeat": 1},
]


class _Vocab:
    @staticmethod
    def decode(ids) -> str:
        return " ".join(map(str, ids))


def _batch(lengths: list[int], padded: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    audio = np.zeros((len(lengths), padded), np.float32)
    for i, n in enumerate(lengths):
        audio[i, :n] = 0.1 * rng.standard_normal(n)
    ids = [f"u{seed}-{i}" for i in range(len(lengths))]
    return {
        "audio": tf.constant(audio),
        "audio_len": tf.constant(lengths, tf.int32),
        "duration": tf.constant([n / 16000 for n in lengths], tf.float32),
        "utt_id": tf.constant(ids),
        "path": tf.constant(ids),
        "transcript": tf.constant(["a b"] * len(lengths)),
    }


@pytest.mark.parametrize("beam_width", [None, 3])
def test_no_tracing_inside_timed_region(beam_width):
    keras.utils.set_random_seed(0)
    model = build_model(
        {
            "blocks": TINY,
            "embed_dim": 8,
            "pred_units": 16,
            "joint_units": 16,
            "features": {"num_mel_bins": 24},
        },
        29,
    )
    traced = [make_encoder_fn(model), rnnt_search._greedy_graph, *rnnt_search._traced_steps(model)]

    def traces() -> int:
        return sum(f.experimental_get_tracing_count() for f in traced)

    before = traces()
    stamps: list[int] = []

    def clock() -> float:  # transcribe reads the clock at the start and end of each timed region
        stamps.append(traces())
        return time.perf_counter()

    # two padded shapes with the same batch size, then a short last batch
    batches = [
        _batch([4000, 6000, 5000], 6000, 0),
        _batch([9000, 7000, 8000], 9000, 1),
        _batch([3000], 3000, 2),
    ]
    rows, timing = transcribe(
        model, batches, _Vocab(), beam_width=beam_width, max_symbols_per_step=2, progress=False, clock=clock
    )
    assert len(rows) == 7 and timing.audio_seconds == pytest.approx(42000 / 16000)
    assert len(stamps) == 3 * len(batches)
    assert stamps[0] > before  # the warm-up traced (untimed) ...
    assert stamps == [stamps[0]] * len(stamps)  # ... and nothing traced while the clock ran
    assert timing.rtf > 0 and (timing.beam_rtf > timing.rtf) == (beam_width is not None)
