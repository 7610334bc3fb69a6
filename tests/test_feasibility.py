"""Utterances too short for their transcripts are found before training and handled by `data.on_bad_audio`,
instead of a CTC loss that stops the run mid-epoch without naming the utterance."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from conftest import train_settings
from lowrank_asr.data.feasibility import frames_needed, too_short_utterances
from lowrank_asr.data.tfrecords import make_example
from lowrank_asr.errors import CorpusError
from lowrank_asr.models import build_model
from lowrank_asr.text.vocabulary import load_vocabulary
from lowrank_asr.training.loop import run_training
from lowrank_asr.workflow.bad_audio import train_bad_audio_key

BLOCKS = [
    {"layers": 1, "channels": 16, "stride": 1, "repeat": 1},
    {"layers": 1, "channels": 16, "stride": 2, "repeat": 1},
    {"layers": 1, "channels": 16, "stride": 2, "repeat": 1},
]
CTC = {"blocks": BLOCKS, "decoder": "ctc"}
SHORT_ID = "9999-1-0000"


def test_frames_needed_counts_the_blanks_between_repeats() -> None:
    assert frames_needed([3, 3, 4, 4, 4, 5], "ctc") == 6 + 3
    assert frames_needed([], "ctc") == 1 and frames_needed([1, 2, 3], "rnnt") == 1


@pytest.mark.parametrize("frontend", ["logmel", "wave"])
def test_encoder_frames_are_the_lengths_encode_returns(frontend) -> None:
    model = build_model({"blocks": BLOCKS, "frontend": frontend, "decoder": "ctc"}, 10)
    samples = np.array([0, 399, 400, 560, 800, 1759, 1760, 16000, 16161])
    audio = tf.zeros([len(samples), int(samples.max())])
    x, x_len = model.featurize(audio, samples)
    _, enc_len = model.encode(x, x_len)
    assert model.encoder_frames(samples).tolist() == enc_len.numpy().tolist()


@pytest.fixture(scope="module")
def corpus_with_short_clip(speech_corpus, tmp_path_factory):
    """The speech corpus's shards plus one holding a 0.05-s clip whose transcript is a whole sentence."""
    buf = io.BytesIO()
    sf.write(buf, np.zeros(800, np.float32), 16000, format="FLAC")
    shard = tmp_path_factory.mktemp("short") / "shard-short.tfrecord"
    with tf.io.TFRecordWriter(str(shard)) as writer:
        writer.write(
            make_example(
                buf.getvalue(), speech_corpus.transcripts[0], 0.05, SHORT_ID, f"9999/1/{SHORT_ID}.flac"
            )
        )
    return [*speech_corpus.shards, str(shard)]


def test_scan_finds_the_short_clip_for_ctc_only(speech_corpus, corpus_with_short_clip) -> None:
    vocab = load_vocabulary(speech_corpus.vocab_path)
    ctc = build_model(CTC, vocab.size)
    found = too_short_utterances(
        corpus_with_short_clip, vocab.encode, ctc.encoder_frames, "ctc", 16000, max_duration=None
    )
    assert [f.utterance.utt_id for f in found] == [SHORT_ID]
    labels = vocab.encode(speech_corpus.transcripts[0])
    assert (
        found[0].frames == int(ctc.encoder_frames([800])[0]) < found[0].needed == frames_needed(labels, "ctc")
    )
    rnnt = build_model({"blocks": BLOCKS}, vocab.size)
    # 0.05 s still makes one encoder frame, all RNN-T needs; an utterance shorter than one window does not
    assert (
        too_short_utterances(
            corpus_with_short_clip, vocab.encode, rnnt.encoder_frames, "rnnt", 16000, max_duration=None
        )
        == []
    )
    assert (
        too_short_utterances(
            corpus_with_short_clip, vocab.encode, rnnt.encoder_frames, "rnnt", 16000, max_duration=0.04
        )
        == []
    )  # dropped by max_duration: not read at all


def train(speech_corpus, files, tmp_path, skip: bool):
    settings = train_settings(
        epochs=1,
        batch_size=4,
        seed=3,
        clip_norm=5.0,
        max_steps_per_epoch=2,
        precise_bn_batches=1,
        skip_bad_audio=skip,
    )
    return run_training(
        model_cfg=CTC,
        vocab_path=speech_corpus.vocab_path,
        train_files=files,
        dev_files=files,
        settings=settings,
        state_dir=tmp_path / "state",
        epoch_outputs=[tmp_path / "e1.h5"],
        history_output=tmp_path / "history.csv",
        progress=False,
    )


def test_fail_names_the_utterance_and_the_remedy(speech_corpus, corpus_with_short_clip, tmp_path) -> None:
    with pytest.raises(
        CorpusError,
        match=rf"utterance {SHORT_ID} \(9999/1/{SHORT_ID}.flac, in .*shard-short"
        rf".tfrecord\) of 0.05 s: \d encoder frame\(s\), but its \d+ label\(s\) "
        rf"need \d+ for CTC.*data.on_bad_audio: skip",
    ):
        train(speech_corpus, corpus_with_short_clip, tmp_path, skip=False)
    assert not (tmp_path / "e1.h5").exists()


def test_skip_leaves_it_out_with_a_warning(speech_corpus, corpus_with_short_clip, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        history = train(speech_corpus, corpus_with_short_clip, tmp_path, skip=True)
    assert len(history) == 1 and np.isfinite(float(history[0]["train_loss"]))
    assert np.isfinite(float(history[0]["dev_loss"]))
    skips = [r.getMessage() for r in caplog.records if SHORT_ID in r.getMessage()]
    assert len(skips) == 2  # the training split and the dev split, each once
    assert "left out 1 utterance(s) too short" in caplog.text
    # the list the workflow keys the train job by: switching to `fail` then reruns it (and it stops)
    listed = tmp_path / "state" / "too_short.json"
    assert json.loads(listed.read_text()) == [SHORT_ID]
    assert train_bad_audio_key("skip", listed) == train_bad_audio_key("fail", tmp_path / "none.json")
    assert train_bad_audio_key("fail", listed) != train_bad_audio_key("skip", listed)


def test_the_policy_keys_the_train_job_only_where_an_utterance_was_left_out(tmp_path) -> None:
    clean = tmp_path / "too_short.json"
    clean.write_text("[]")
    keys = {
        train_bad_audio_key(policy, path) for policy in ("fail", "skip") for path in (clean, tmp_path / "x")
    }
    assert len(keys) == 1  # toggling the policy retrains nothing on clean data
