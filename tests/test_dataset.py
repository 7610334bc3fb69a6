"""tf.data pipeline: exact FLAC decoding, tokenisation, padding, seeded shuffling, bucketing, filtering."""

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from lowrank_asr.corpus.transcripts import read_transcripts, write_transcripts
from lowrank_asr.data.budget import plan_buckets, simulate_batches
from lowrank_asr.data.dataset import (
    default_bucket_boundaries,
    list_shards,
    load_audio,
    make_dataset,
    over_budget_utterances,
    scan_durations,
)
from lowrank_asr.data.tfrecords import make_example, shard_paths, write_tfrecords
from lowrank_asr.errors import ConfigError, CorpusError
from lowrank_asr.text.vocabulary import build_char_vocabulary, train_sentencepiece

SR = 16000
N_UTTS = 24
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "it's"]


def make_split(root):
    """24 utterances of 0.1-1.25 s (sine + noise, full int16 range) in three chapters."""
    rng = np.random.default_rng(0)
    lines: dict[Path, list[str]] = {}
    for i in range(N_UTTS):
        spk, chap = ("5", "50") if i % 3 == 0 else ("6", "60") if i % 3 == 1 else ("6", "61")
        d = root / spk / chap
        d.mkdir(parents=True, exist_ok=True)
        utt = f"{spk}-{chap}-{i:04d}"
        n = int(SR * (0.1 + 0.05 * ((i * 7) % N_UTTS)))
        x = np.sin(2 * np.pi * (100 + 20 * i) * np.arange(n) / SR) * 20000 + rng.standard_normal(n) * 3000
        x[:2] = [-32768, 32767]  # the extremes must survive decoding exactly
        sf.write(
            d / f"{utt}.flac", np.clip(x, -32768, 32767).astype(np.int16), SR, subtype="PCM_16", format="FLAC"
        )
        text = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(1 + i % 4)).upper()
        lines.setdefault(d / f"{spk}-{chap}.trans.txt", []).append(f"{utt} {text}\n")
    for path, ls in lines.items():
        path.write_text("".join(ls))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(shard files, transcripts rows, char vocabulary) with absolute paths."""
    root = tmp_path_factory.mktemp("ds")
    make_split(root / "corpus" / "dev")
    write_transcripts(
        root / "corpus" / "dev", root / "dev.tsv", on_bad_audio="fail", skipped_json=root / "skip.json"
    )
    write_tfrecords(root / "dev.tsv", shard_paths(root / "tfr", 3))
    rows = read_transcripts(root / "dev.tsv")
    vocab = build_char_vocabulary(r.transcript for r in rows)
    return list_shards(root / "tfr"), rows, vocab


def collect(ds):
    """All examples of one pass, unbatched and unpadded, in order."""
    out = []
    for b in ds:
        for i in range(b["audio"].shape[0]):
            out.append(
                {
                    "audio": b["audio"][i, : b["audio_len"][i]].numpy(),
                    "audio_pad": b["audio"][i, b["audio_len"][i] :].numpy(),
                    "labels": b["labels"][i, : b["label_len"][i]].numpy(),
                    "labels_pad": b["labels"][i, b["label_len"][i] :].numpy(),
                    "utt_id": b["utt_id"][i].numpy().decode(),
                    "path": b["path"][i].numpy().decode(),
                    "transcript": b["transcript"][i].numpy().decode(),
                    "duration": float(b["duration"][i]),
                }
            )
    return out


def test_decoding_tokens_and_padding(corpus):
    files, rows, vocab = corpus
    ds = make_dataset(
        files, vocab, batch_size=5, training=False, seed=0, max_duration=None, batch_seconds=None
    )
    first = next(iter(ds))
    assert first["audio"].dtype == tf.float32 and first["audio_len"].dtype == tf.int32
    assert first["labels"].dtype == tf.int32 and first["label_len"].dtype == tf.int32
    assert first["duration"].dtype == tf.float32 and first["utt_id"].dtype == tf.string
    assert first["audio"].shape[1] == int(tf.reduce_max(first["audio_len"]))
    assert first["labels"].shape[1] == int(tf.reduce_max(first["label_len"]))

    examples = collect(ds)
    assert len(examples) == N_UTTS
    by_path = {r.path: r for r in rows}
    for ex in examples:
        ref = load_audio(ex["path"])
        np.testing.assert_array_equal(ex["audio"], ref)  # exact, not approximate
        raw, _ = sf.read(ex["path"], dtype="int16")
        np.testing.assert_array_equal(ex["audio"] * 32768.0, raw.astype(np.float32))
        assert ex["audio"].min() == -1.0 and ex["audio"].max() == 32767 / 32768
        assert not ex["audio_pad"].any() and not ex["labels_pad"].any()
        assert 0 not in ex["labels"]
        row = by_path[ex["path"]]
        assert vocab.decode(ex["labels"].tolist()) == ex["transcript"] == row.transcript
        assert ex["utt_id"] == Path(ex["path"]).stem
        assert ex["duration"] == pytest.approx(row.duration, abs=1e-4)
        assert len(ex["audio"]) == round(row.duration * SR)


def test_eval_order_is_file_order(corpus):
    files, rows, vocab = corpus
    paths = [
        e["path"]
        for e in collect(
            make_dataset(
                files, vocab, batch_size=4, training=False, seed=0, max_duration=None, batch_seconds=None
            )
        )
    ]
    # rows sorted by PATH were dealt round-robin over 3 shards: shard k holds rows k, k+3, ...
    assert paths == [r.path for k in range(3) for r in rows[k::3]]
    reversed_paths = [
        e["path"]
        for e in collect(
            make_dataset(
                files[::-1],
                vocab,
                batch_size=4,
                training=False,
                seed=0,
                max_duration=None,
                batch_seconds=None,
            )
        )
    ]
    assert reversed_paths == [r.path for k in (2, 1, 0) for r in rows[k::3]]


def epoch_orders(files, vocab, seed, epochs=3, **kw):
    ds = make_dataset(
        files,
        vocab,
        batch_size=4,
        training=True,
        seed=seed,
        **{"max_duration": None, "batch_seconds": None, **kw},
    )
    return [[e["utt_id"] for e in collect(ds)] for _ in range(epochs)]


def test_seeded_shuffle_reproducible(corpus):
    files, rows, vocab = corpus
    a = epoch_orders(files, vocab, seed=1)
    b = epoch_orders(files, vocab, seed=1)  # a separately built dataset: same order for every epoch k
    c = epoch_orders(files, vocab, seed=2)
    assert a == b
    assert a != c
    assert a[0] != a[1] != a[2]  # reshuffled every epoch
    every = sorted(Path(r.path).stem for r in rows)
    for order in a + c:
        assert sorted(order) == every  # each example exactly once per epoch


def test_bucketing_groups_by_length_and_keeps_every_example(corpus):
    files, rows, vocab = corpus
    ds = make_dataset(
        files,
        vocab,
        batch_size=3,
        training=True,
        seed=0,
        bucket_boundaries=[0.4, 0.8],
        max_duration=None,
        batch_seconds=None,
    )
    edges = [0, 0.4 * SR, 0.8 * SR, np.inf]
    seen = []
    for batch in ds:
        lens = batch["audio_len"].numpy()
        buckets = {int(np.searchsorted(edges, n, side="right")) - 1 for n in lens}
        assert len(buckets) == 1, lens  # one bucket per batch
        assert batch["audio"].shape[1] == lens.max()
        seen += [u.decode() for u in batch["utt_id"].numpy()]
    assert sorted(seen) == sorted(Path(r.path).stem for r in rows)

    dropped = make_dataset(
        files,
        vocab,
        batch_size=5,
        training=True,
        seed=0,
        bucket_boundaries=[0.4, 0.8],
        drop_remainder=True,
        max_duration=None,
        batch_seconds=None,
    )
    assert all(b["audio"].shape[0] == 5 for b in dropped)


def test_default_bucket_boundaries():
    b = default_bucket_boundaries(8, max_duration=None)
    assert b == sorted(b) and b[-1] < 30 and len(b) == 9
    assert default_bucket_boundaries(4096, max_duration=None) == []
    assert max(default_bucket_boundaries(16, max_duration=10.0)) < 10.0


def test_max_duration_filters_and_logs(corpus, caplog):
    files, rows, vocab = corpus
    limit = 0.6
    keep = sorted(Path(r.path).stem for r in rows if r.duration <= limit)
    assert 0 < len(keep) < N_UTTS
    with caplog.at_level(logging.INFO, logger="lowrank_asr.data.dataset"):
        ds = make_dataset(
            files, vocab, batch_size=4, training=False, seed=0, max_duration=limit, batch_seconds=None
        )
    assert sorted(e["utt_id"] for e in collect(ds)) == keep
    assert f"dropping {N_UTTS - len(keep)} of {N_UTTS}" in caplog.text
    train = make_dataset(
        files, vocab, batch_size=4, training=True, seed=0, max_duration=limit, batch_seconds=None
    )
    assert sorted(e["utt_id"] for e in collect(train)) == keep
    with pytest.raises(ConfigError, match="drops all"):
        make_dataset(
            files, vocab, batch_size=4, training=False, seed=0, max_duration=0.01, batch_seconds=None
        )


def test_sentencepiece_tokenisation(corpus, tmp_path):
    files, rows, _ = corpus
    spm_vocab = train_sentencepiece([r.transcript for r in rows], 26, tmp_path / "spm")
    examples = collect(
        make_dataset(
            files, spm_vocab, batch_size=6, training=False, seed=0, max_duration=None, batch_seconds=None
        )
    )
    assert len(examples) == N_UTTS
    for ex in examples:
        assert ex["labels"].tolist() == spm_vocab.encode(ex["transcript"])
        assert spm_vocab.decode(ex["labels"].tolist()) == ex["transcript"]


def test_unknown_character_fails_clearly(corpus):
    files, _, _ = corpus
    small = build_char_vocabulary(["zero one"])  # lacks most letters
    ds = make_dataset(
        files, small, batch_size=4, training=False, seed=0, max_duration=None, batch_seconds=None
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="not in the vocabulary"):
        list(ds)


def test_decoders_agree_exactly(corpus):
    files, _, vocab = corpus
    by_decoder = [
        collect(
            make_dataset(
                files,
                vocab,
                batch_size=4,
                training=False,
                seed=0,
                decoder=d,
                max_duration=None,
                batch_seconds=None,
            )
        )
        for d in ("soundfile", "tfio")
    ]
    assert len(by_decoder[0]) == len(by_decoder[1]) == N_UTTS
    for a, b in zip(*by_decoder, strict=True):
        assert a["path"] == b["path"]
        np.testing.assert_array_equal(a["audio"], b["audio"])


def test_corrupt_audio_in_a_record_names_the_file(corpus, tmp_path):
    _, rows, vocab = corpus
    good = Path(rows[0].path).read_bytes()
    record = tmp_path / "bad.tfrecord"
    broken = good[: len(good) // 3] + b"garbage" * 50
    with tf.io.TFRecordWriter(str(record)) as w:
        w.write(make_example(broken, rows[0].transcript, 1.0, "x-1-0001", "/corpus/x-1-0001.flac"))
    ds = make_dataset(
        [str(record)], vocab, batch_size=1, training=False, seed=0, max_duration=None, batch_seconds=None
    )
    with pytest.raises(tf.errors.OpError, match="x-1-0001.flac: cannot decode"):
        list(ds)


def test_bad_arguments(corpus, tmp_path):
    files, _, vocab = corpus
    with pytest.raises(CorpusError, match="no TFRecord files"):
        make_dataset([], vocab, batch_size=4, training=False, seed=0, max_duration=None, batch_seconds=None)
    with pytest.raises(CorpusError, match="do not exist"):
        make_dataset(
            [str(tmp_path / "nope.tfrecord")],
            vocab,
            batch_size=4,
            training=False,
            seed=0,
            max_duration=None,
            batch_seconds=None,
        )
    with pytest.raises(ConfigError, match="unknown FLAC decoder"):
        make_dataset(
            files,
            vocab,
            batch_size=4,
            training=False,
            seed=0,
            decoder="ffmpeg",
            max_duration=None,
            batch_seconds=None,
        )
    with pytest.raises(ConfigError, match="batch_size"):
        make_dataset(
            files, vocab, batch_size=0, training=False, seed=0, max_duration=None, batch_seconds=None
        )
    with pytest.raises(ConfigError, match="strictly increasing"):
        make_dataset(
            files,
            vocab,
            batch_size=4,
            training=True,
            seed=0,
            bucket_boundaries=[1.0, 0.5],
            max_duration=None,
            batch_seconds=None,
        )
    with pytest.raises(CorpusError, match="no \\*.tfrecord shards"):
        list_shards(tmp_path)


BUDGET = 2.5  # padded seconds per batch: 2 of the longest (1.25 s) up to 25 of the shortest (0.1 s)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("bounds", [None, [0.4, 0.8]])
def test_duration_batches_stay_within_the_budget_and_keep_every_utterance(corpus, training, bounds):
    files, rows, vocab = corpus
    kw = {"batch_seconds": BUDGET, "bucket_boundaries": bounds, "max_duration": None}
    ds = make_dataset(files, vocab, batch_size=1, training=training, seed=3, **kw)
    batches = [[u.decode() for u in b["utt_id"].numpy()] for b in ds]
    if bounds:  # 24 utterances in 3 buckets: batches of up to floor(2.5 / 0.4) = 6, not batch_size=1
        assert max(len(b) for b in batches) == 6
    for b in ds:
        lens = b["audio_len"].numpy()
        assert len(lens) * lens.max() <= BUDGET * SR
        assert b["audio"].shape[1] == lens.max()
    assert sorted(u for b in batches for u in b) == sorted(Path(r.path).stem for r in rows)
    again = make_dataset(files, vocab, batch_size=1, training=training, seed=3, **kw)
    assert [[u.decode() for u in b["utt_id"].numpy()] for b in again] == batches  # deterministic
    if training:
        other = make_dataset(files, vocab, batch_size=1, training=True, seed=4, **kw)
        assert [[u.decode() for u in b["utt_id"].numpy()] for b in other] != batches


def test_duration_batches_are_those_the_planner_simulates(corpus):
    """Evaluation reads the files in order: its batches are the planner's simulation of that stream."""
    files, rows, vocab = corpus
    utts = scan_durations(files)
    assert [u.utt_id for u in utts] == [Path(r.path).stem for k in range(3) for r in rows[k::3]]
    plan = plan_buckets(BUDGET, max(u.duration for u in utts), min(u.duration for u in utts))
    ids = {round(u.duration, 4): [] for u in utts}
    for u in utts:
        ids[round(u.duration, 4)].append(u.utt_id)
    simulated = simulate_batches([u.duration for u in utts], plan.boundaries, plan.batch_sizes)
    expected = sorted(sorted(ids[round(d, 4)].pop(0) for d in batch) for batch in simulated)
    ds = make_dataset(
        files, vocab, batch_size=1, training=False, seed=0, batch_seconds=BUDGET, max_duration=None
    )
    assert sorted(sorted(u.decode() for u in b["utt_id"].numpy()) for b in ds) == expected


@pytest.mark.parametrize(
    "training, key", [(True, "training.batch_seconds"), (False, "evaluation.batch_seconds")]
)
def test_an_utterance_over_the_budget_is_named_before_any_batch(corpus, training, key):
    files, rows, vocab = corpus
    longest = max(rows, key=lambda r: r.duration)
    budget = longest.duration - 0.01
    with pytest.raises(ConfigError) as err:
        make_dataset(
            files, vocab, batch_size=1, training=training, seed=0, batch_seconds=budget, max_duration=None
        )
    msg = str(err.value)
    assert Path(longest.path).stem in msg and longest.path in msg and f"{longest.duration:.2f} s" in msg
    assert f"{key} = {budget}" in msg and "data.max_duration" in msg and "on_bad_audio: skip" in msg
    assert ".tfrecord" in msg  # the shard it is in
    # max_duration below it drops it first: no error
    kept = make_dataset(
        files, vocab, batch_size=1, training=training, seed=0, batch_seconds=budget, max_duration=budget
    )
    assert Path(longest.path).stem not in {u.decode() for b in kept for u in b["utt_id"].numpy()}


def test_skip_leaves_over_budget_utterances_out_and_lists_them(corpus, caplog):
    files, rows, vocab = corpus
    budget = 1.0
    too_long = sorted(Path(r.path).stem for r in rows if r.duration > budget)
    assert 0 < len(too_long) < N_UTTS
    with caplog.at_level(logging.WARNING, logger="lowrank_asr.data.dataset"):
        ds = make_dataset(
            files,
            vocab,
            batch_size=1,
            training=False,
            seed=0,
            batch_seconds=budget,
            skip_over_budget=True,
            max_duration=None,
        )
    seen = sorted(e["utt_id"] for e in collect(ds))
    assert seen == sorted(set(Path(r.path).stem for r in rows) - set(too_long))
    assert all(uid in caplog.text for uid in too_long)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lowrank_asr.data.dataset"):  # the next epoch's dataset
        make_dataset(
            files,
            vocab,
            batch_size=1,
            training=False,
            seed=1,
            batch_seconds=budget,
            skip_over_budget=True,
            max_duration=None,
        )
    assert not any(uid in caplog.text for uid in too_long)  # warned once per process, not every epoch
    assert sorted(u.utt_id for u in over_budget_utterances(files, budget, max_duration=None)) == too_long
    assert over_budget_utterances(files, budget, max_duration=budget) == []


def test_budget_arguments(corpus):
    files, _, vocab = corpus
    with pytest.raises(ConfigError, match="evaluation.batch_seconds must be positive"):
        make_dataset(files, vocab, batch_size=1, training=False, seed=0, batch_seconds=0, max_duration=None)
    with pytest.raises(ConfigError, match="training.batch_seconds = 0.01 s leaves no utterance"):
        make_dataset(
            files,
            vocab,
            batch_size=1,
            training=True,
            seed=0,
            batch_seconds=0.01,
            skip_over_budget=True,
            max_duration=None,
        )
