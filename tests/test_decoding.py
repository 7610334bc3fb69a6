"""RNN-T and CTC decoders on hand-built joint outputs whose best paths are known."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.decoding import ctc_beam_search, ctc_greedy, rnnt_beam_search, rnnt_greedy


class TableModel:
    """Fake transducer: joint logits = table[t, previous token], with t read from enc[..., 0]."""

    def __init__(self, table):
        self.table = tf.constant(table, tf.float32)  # [T, V, V]
        self.vocab = table.shape[-1]

    def pred_initial_state(self, batch_size):
        return {"prev": tf.zeros([batch_size], tf.int32)}

    def pred_step(self, prev_token, state):
        return tf.one_hot(prev_token, self.vocab), {"prev": tf.cast(prev_token, tf.int32)}

    def joint_step(self, enc_t, pred):
        t = tf.cast(enc_t[:, 0], tf.int32)
        prev = tf.argmax(pred, axis=-1, output_type=tf.int32)
        return tf.gather_nd(self.table, tf.stack([t, prev], axis=1))


class LSTMModel:
    """Small LSTM prediction network and a tanh joint, like the real decoder but with random weights."""

    def __init__(self, vocab=12, enc_dim=16, units=32, seed=0):
        keras.utils.set_random_seed(seed)
        self.units = units
        self.embed = keras.layers.Embedding(vocab, 16)
        self.cell = keras.layers.LSTMCell(units)
        self.enc_proj = keras.layers.Dense(32)
        self.pred_proj = keras.layers.Dense(32, use_bias=False)
        self.out = keras.layers.Dense(vocab)

    def pred_initial_state(self, batch_size):
        return [tf.zeros([batch_size, self.units]), tf.zeros([batch_size, self.units])]

    def pred_step(self, prev_token, state):
        y, (h, c) = self.cell(self.embed(prev_token), state)
        return y, [h, c]

    def joint_step(self, enc_t, pred):
        return 3.0 * self.out(tf.tanh(self.enc_proj(enc_t) + self.pred_proj(pred)))


def time_enc(batch, frames, dim=1):
    enc = np.zeros((batch, frames, dim), np.float32)
    enc[:, :, 0] = np.arange(frames)
    return tf.constant(enc)


def reference_greedy(model, enc, length, max_symbols):
    """One utterance, plain Python: the textbook greedy transducer search."""
    pred, state = model.pred_step(tf.zeros([1], tf.int32), model.pred_initial_state(1))
    out = []
    for t in range(length):
        for _ in range(max_symbols):
            k = int(tf.argmax(model.joint_step(enc[None, t], pred)[0]))
            if k == 0:
                break
            out.append(k)
            pred, state = model.pred_step(tf.constant([k], tf.int32), state)
    return out


def sequence_probs(table, frames, max_symbols):
    """Exact P(y) of every label sequence of a TableModel (alignments with <= max_symbols per frame)."""
    lp = table - np.log(np.exp(table).sum(-1, keepdims=True))
    probs = {}

    def walk(t, prev, n, seq, logp):
        if t == frames:
            probs[seq] = np.logaddexp(probs.get(seq, -np.inf), logp)
            return
        walk(t + 1, prev, 0, seq, logp + lp[t, prev, 0])
        if n < max_symbols:
            for k in range(1, table.shape[-1]):
                walk(t, k, n + 1, seq + (k,), logp + lp[t, prev, k])

    walk(0, 0, 0, (), 0.0)
    return probs


def test_greedy_known_path():
    v, frames = 4, 4
    table = np.zeros((frames, v, v), np.float32)
    table[:, :, 0] = 5.0  # blank wins unless overridden
    table[0, 0, 2] = 9.0  # frame 0: emit 2, then blank
    table[2, 2, 3] = 9.0  # frame 2: 3 then 1 then blank
    table[2, 3, 1] = 9.0
    table[3, 1, 1] = 9.0  # frame 3: would emit 1 forever (capped by max_symbols)
    model = TableModel(table)
    enc = time_enc(3, frames)
    got = rnnt_greedy(model, enc, [4, 3, 1], max_symbols_per_step=3)
    assert got == [[2, 3, 1, 1, 1, 1], [2, 3, 1], [2]]
    assert rnnt_greedy(model, enc, [4, 3, 1], max_symbols_per_step=3, use_tf_function=False) == got
    assert rnnt_greedy(model, enc[:1], [4], max_symbols_per_step=1)[0] == [2, 3]  # frame 3 sees prev 3
    assert rnnt_beam_search(model, enc, [4, 3, 1], beam_width=1, max_symbols_per_step=3) == got
    assert rnnt_greedy(model, enc, [0, 0, 0], max_symbols_per_step=5) == [[], [], []]
    with pytest.raises(ValueError, match="enc_len"):
        rnnt_greedy(model, enc, [4], max_symbols_per_step=3)


@pytest.mark.parametrize("max_symbols", [1, 2, 5])
def test_max_symbols_respected(max_symbols):
    table = np.zeros((3, 3, 3), np.float32)
    table[:, :, 1] = 4.0  # token 1 always beats blank: only the cap stops emission
    model = TableModel(table)
    got = rnnt_greedy(model, time_enc(2, 3), [3, 2], max_symbols_per_step=max_symbols)
    assert got == [[1] * (3 * max_symbols), [1] * (2 * max_symbols)]
    beam = rnnt_beam_search(model, time_enc(2, 3), [3, 2], beam_width=3, max_symbols_per_step=max_symbols)
    assert all(len(seq) <= n * max_symbols for seq, n in zip(beam, [3, 2], strict=True))


def test_random_tables_batch_equals_reference_and_beam1():
    rng = np.random.default_rng(0)
    for _ in range(4):
        v, frames = 5, 7
        table = rng.normal(scale=2.0, size=(frames, v, v)).astype(np.float32)
        model = TableModel(table)
        lengths = [7, 3, 5, 1, 6]
        enc = time_enc(len(lengths), frames)
        got = rnnt_greedy(model, enc, lengths, max_symbols_per_step=2)
        want = [reference_greedy(model, enc[b], n, 2) for b, n in enumerate(lengths)]
        assert got == want
        assert rnnt_beam_search(model, enc, lengths, beam_width=1, max_symbols_per_step=2) == got


def test_beam_search_beats_greedy():
    table = np.log(np.full((2, 3, 3), 1e-6) + 0.0).astype(np.float32)
    table[:, 1:, 0] = np.log(0.99)  # after emitting anything, blank is nearly certain
    table[0, 0] = np.log([0.40, 0.35, 0.25])  # greedy takes blank at frame 0 ...
    table[1, 0] = np.log([0.60, 1e-6, 0.40])  # ... and at frame 1: "" has P = 0.24
    model = TableModel(table)
    enc = time_enc(1, 2)
    greedy = rnnt_greedy(model, enc, [2], max_symbols_per_step=5)[0]
    beam = rnnt_beam_search(model, enc, [2], beam_width=4, max_symbols_per_step=2)[0]
    probs = sequence_probs(table, 2, 2)
    best = max(probs, key=probs.get)
    assert greedy == []
    assert tuple(beam) == best == (2,)  # P("2") = .25*.99*.99 + .4*.4*.99 ≈ .40, merged over two alignments
    assert probs[tuple(beam)] > probs[tuple(greedy)]


def test_lstm_model_batch_equals_one_by_one():
    model = LSTMModel()
    rng = np.random.default_rng(1)
    lengths = [9, 4, 7]
    enc = tf.constant(rng.normal(size=(3, 9, 16)).astype(np.float32))
    greedy = rnnt_greedy(model, enc, lengths, max_symbols_per_step=3)
    beam = rnnt_beam_search(model, enc, lengths, beam_width=3, max_symbols_per_step=3)
    for b, n in enumerate(lengths):
        assert greedy[b] == reference_greedy(model, enc[b], n, 3)
        assert rnnt_greedy(model, enc[b : b + 1, :n], [n], max_symbols_per_step=3)[0] == greedy[b]
        assert (
            rnnt_beam_search(model, enc[b : b + 1, :n], [n], beam_width=3, max_symbols_per_step=3)[0]
            == beam[b]
        )
    assert any(greedy)  # the random model does emit symbols, so the comparison is not vacuous
    assert rnnt_beam_search(model, enc, lengths, beam_width=1, max_symbols_per_step=3) == greedy


def test_ctc_greedy_collapses_and_respects_lengths():
    path = [[0, 1, 1, 0, 1, 2, 2, 3], [2, 2, 2, 0, 0, 1, 3, 3]]
    logits = tf.one_hot(path, 4) * 5.0
    assert ctc_greedy(logits, [8, 6]) == [[1, 1, 2, 3], [2, 1]]
    assert ctc_greedy(logits, [0, 1]) == [[], [2]]


def test_ctc_beam_search_finds_most_probable_labelling():
    # Best path is blank-blank (P=.36) but "a" sums three paths: .16 + .24 + .24 = .64.
    probs = np.array([[[0.6, 0.4, 1e-9], [0.6, 0.4, 1e-9]]], np.float32)
    logits = tf.math.log(probs)
    assert ctc_greedy(logits, [2]) == [[]]
    assert ctc_beam_search(logits, [2], beam_width=4) == [[1]]


def test_ctc_beam_search_class_mapping():
    rng = np.random.default_rng(3)
    path = [0, 3, 3, 0, 3, 1, 0, 2, 2]
    logits = tf.constant(
        np.eye(4, dtype=np.float32)[path][None] * 10 + rng.normal(scale=0.1, size=(1, 9, 4)), tf.float32
    )
    assert ctc_beam_search(logits, [9], beam_width=3) == [[3, 3, 1, 2]] == ctc_greedy(logits, [9])
    assert ctc_beam_search(logits, [5], beam_width=3) == [[3, 3]]
    # blank elsewhere: with blank=3 the 0s are labels and the 3s separators
    assert ctc_beam_search(logits, [9], beam_width=3, blank=3) == [[0, 0, 1, 0, 2]]
    assert ctc_greedy(logits, [9], blank=3) == [[0, 0, 1, 0, 2]]
