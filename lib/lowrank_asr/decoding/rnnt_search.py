"""RNN-T decoding: batched greedy search (one traced while-loop) and a batched time-synchronous beam search.

Both are generic over a model with ``pred_initial_state(batch_size)``, ``pred_step(prev_token [B], state) ->
(pred [B, P], state)`` and ``joint_step(enc_t [B, D], pred [B, P]) -> logits [B, V]``. Blank is 0 and the
prediction network starts from a blank token.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lowrank_asr.errors import PipelineError

BLANK = 0


def _check(enc, enc_len, max_symbols_per_step: int) -> tuple[tf.Tensor, tf.Tensor]:
    enc = tf.convert_to_tensor(enc)
    enc_len = tf.cast(tf.convert_to_tensor(enc_len), tf.int32)
    if enc.shape.rank != 3:
        raise PipelineError(f"enc must be [B, T, D], got shape {enc.shape}; pass the encoder output.")
    if enc_len.shape.rank != 1 or (enc.shape[0] is not None and enc_len.shape[0] != enc.shape[0]):
        raise PipelineError(
            f"enc_len must be [B] with B = {enc.shape[0]} (the batch of enc), got shape {enc_len.shape}."
        )
    if max_symbols_per_step < 1:
        raise PipelineError(f"max_symbols_per_step must be >= 1, got {max_symbols_per_step}.")
    # Frames past the tensor's end cannot be decoded; clip rather than index out of range.
    enc_len = tf.minimum(enc_len, tf.shape(enc)[1])
    return enc, enc_len


def _select(mask: tf.Tensor, new, old):
    """Per-row choice between two nests of [B, ...] tensors."""

    def pick(n, o):
        m = tf.reshape(mask, [-1] + [1] * (n.shape.rank - 1))
        return tf.where(m, n, o)

    return tf.nest.map_structure(pick, new, old)


def _greedy_loop(model, enc, enc_len, pred, state, max_symbols: int):
    """Tokens [N, B] (0 = nothing emitted at that slot) for all utterances advancing frame by frame."""
    batch = tf.shape(enc)[0]
    num_frames = tf.reduce_max(tf.concat([enc_len, [0]], axis=0))
    tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))

    def frame_body(t, n_out, pred, state, tokens):
        enc_t = enc[:, t]

        def sym_cond(s, going, n_out, pred, state, tokens):
            return (s < max_symbols) & tf.reduce_any(going)

        def sym_body(s, going, n_out, pred, state, tokens):
            logits = model.joint_step(enc_t, pred)
            best = tf.argmax(logits, axis=-1, output_type=tf.int32)
            emit = going & tf.not_equal(best, BLANK)
            token = tf.where(emit, best, BLANK)
            tokens = tokens.write(n_out, token)

            def advance():
                new_pred, new_state = model.pred_step(token, state)
                # Only utterances that emitted a symbol move their prediction network on.
                return _select(emit, new_pred, pred), _select(emit, new_state, state)

            pred, state = tf.cond(tf.reduce_any(emit), advance, lambda: (pred, state))
            return s + 1, emit, n_out + 1, pred, state, tokens

        going = t < enc_len  # frames beyond an utterance's length are skipped
        _, _, n_out, pred, state, tokens = tf.while_loop(
            sym_cond, sym_body, (tf.constant(0), going, n_out, pred, state, tokens)
        )
        return t + 1, n_out, pred, state, tokens

    _, _, _, _, tokens = tf.while_loop(
        lambda t, *_: t < num_frames, frame_body, (tf.constant(0), tf.constant(0), pred, state, tokens)
    )
    return tf.reshape(tokens.stack(), [-1, batch])


_greedy_graph = tf.function(_greedy_loop, reduce_retracing=True, autograph=False)


def rnnt_greedy(
    model, enc, enc_len, *, max_symbols_per_step: int, use_tf_function: bool = True
) -> list[list[int]]:
    """Greedy RNN-T transcripts (token ids) of a batch.

    All utterances advance frame by frame together; per frame each emits the argmax symbol until it argmaxes
    blank or has emitted ``max_symbols_per_step`` symbols. The prediction network moves on only for
    utterances that emitted; frames at or beyond ``enc_len`` are ignored. With ``use_tf_function`` the whole
    search is one traced ``tf.while_loop`` (retraced per model and max_symbols_per_step, shapes relaxed).
    """
    enc, enc_len = _check(enc, enc_len, max_symbols_per_step)
    batch = int(enc.shape[0]) if enc.shape[0] is not None else int(tf.shape(enc)[0])
    if batch == 0:
        return []
    # First step eagerly: it builds lazily-created layers outside the traced function (a tf.function may
    # create variables only on its first trace) and gives the blank-primed prediction output.
    pred, state = model.pred_step(tf.fill([batch], BLANK), model.pred_initial_state(batch))
    if int(tf.reduce_max(enc_len)) <= 0:
        return [[] for _ in range(batch)]
    model.joint_step(enc[:, 0], pred)
    loop = _greedy_graph if use_tf_function else _greedy_loop
    tokens = loop(model, enc, enc_len, pred, state, int(max_symbols_per_step)).numpy().T  # [B, N]
    return [[int(v) for v in row if v != BLANK] for row in tokens]


_STEP_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _traced_steps(model):
    """(pred_step, joint_step) of the model as traced functions, cached per model.

    Beam search calls them a few times per frame with a varying number of rows; eager Keras calls would cost
    milliseconds each, the traced ones (shapes relaxed after the first retrace) a fraction of that.
    """
    if model not in _STEP_FNS:
        _STEP_FNS[model] = (
            tf.function(model.pred_step, reduce_retracing=True, autograph=False),
            tf.function(model.joint_step, reduce_retracing=True, autograph=False),
        )
    return _STEP_FNS[model]


@dataclass
class _Hyp:
    tokens: tuple[int, ...]
    score: float
    row: int  # row of this hypothesis' prediction output / state in the current table


def _log_softmax_np(logits: tf.Tensor) -> np.ndarray:
    return tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1).numpy().astype(np.float64)


def rnnt_beam_search(
    model, enc, enc_len, *, beam_width: int, max_symbols_per_step: int, length_normalize: bool = False
) -> list[list[int]]:
    """Time-synchronous RNN-T beam search (token ids per utterance).

    The "modified beam search" of icefall/k2 generalised to up to ``max_symbols_per_step`` symbols per
    frame: at each frame every hypothesis is extended by blank (it ends the frame) or by a symbol (it stays
    active); after each expansion round the ``beam_width`` best of the frame-ended and active hypotheses
    survive, and hypotheses with the same token sequence that ended the frame are merged (log-sum-exp of
    their probabilities, as in Graves 2012). Active hypotheses left after the last round end the frame
    without a blank, exactly as greedy search does, so ``beam_width=1`` reproduces :func:`rnnt_greedy`.
    Scores are log-probabilities; ``length_normalize`` divides the final scores by the number of tokens
    (at least 1) when the best hypothesis is chosen. All utterances and hypotheses share each model call.
    """
    enc, enc_len = _check(enc, enc_len, max_symbols_per_step)
    if beam_width < 1:
        raise PipelineError(f"beam_width must be >= 1, got {beam_width}.")
    batch = int(tf.shape(enc)[0])
    if batch == 0:
        return []
    lengths = enc_len.numpy().tolist()
    pred, state = model.pred_step(tf.fill([batch], BLANK), model.pred_initial_state(batch))
    pred_step, joint_step = _traced_steps(model)
    beams: list[list[_Hyp]] = [[_Hyp((), 0.0, b)] for b in range(batch)]

    for t in range(max(lengths, default=0)):
        ended: list[dict[tuple[int, ...], _Hyp]] = [{} for _ in range(batch)]
        active: list[list[_Hyp]] = [[] for _ in range(batch)]
        for b in range(batch):
            if t < lengths[b]:
                active[b] = beams[b]
            else:  # this utterance is finished; its hypotheses just carry over
                ended[b] = {h.tokens: h for h in beams[b]}
        for rnd in range(max_symbols_per_step):
            rows = [(b, h) for b in range(batch) for h in active[b]]
            if not rows:
                break
            row_idx = tf.constant([h.row for _, h in rows], tf.int32)
            enc_t = tf.gather(enc[:, t], tf.constant([b for b, _ in rows], tf.int32))
            logp = _log_softmax_np(joint_step(enc_t, tf.gather(pred, row_idx)))
            # candidates per utterance: (score, kind, parent hyp, token); kind 0 = ended by blank, 1 = active
            cands: list[list[tuple[float, int, _Hyp, int]]] = [[] for _ in range(batch)]
            for i, (b, h) in enumerate(rows):
                cands[b].append((h.score + logp[i, BLANK], 0, h, BLANK))
                k = min(beam_width, logp.shape[1] - 1)
                top = np.argpartition(-logp[i, 1:], k - 1)[:k] + 1 if k > 0 else []
                cands[b].extend((h.score + logp[i, v], 1, h, int(v)) for v in top)
            last = rnd == max_symbols_per_step - 1
            extend: list[tuple[int, _Hyp, int]] = []  # (utterance, parent, token) needing a pred_step
            for b in range(batch):
                if not cands[b]:
                    continue
                pool = dict(ended[b])
                for score, kind, h, _token in cands[b]:
                    if kind == 0:
                        _merge(pool, _Hyp(h.tokens, score, h.row))
                # Existing frame-ended hypotheses compete with this round's candidates for the beam; ties
                # prefer ended hypotheses (blank) as greedy's argmax does.
                entries = [(hyp.score, 0, hyp, BLANK) for hyp in pool.values()]
                entries += [c for c in cands[b] if c[1] == 1]
                entries.sort(key=lambda e: (-e[0], e[1], e[3]))
                ended[b], active[b] = {}, []
                for score, kind, h, v in entries[:beam_width]:
                    if kind == 0:
                        ended[b][h.tokens] = h
                    else:
                        extend.append((b, h, v))
                        active[b].append(_Hyp(h.tokens + (v,), score, -1))
            if extend:
                parents = tf.constant([h.row for _, h, _ in extend], tf.int32)
                new_pred, new_state = pred_step(
                    tf.constant([v for _, _, v in extend], tf.int32),
                    tf.nest.map_structure(lambda s, p=parents: tf.gather(s, p), state),
                )
                offset = int(tf.shape(pred)[0])
                pred = tf.concat([pred, new_pred], axis=0)
                state = tf.nest.map_structure(lambda a, n: tf.concat([a, n], axis=0), state, new_state)
                counters = [0] * batch
                for j, (b, _, _) in enumerate(extend):
                    active[b][counters[b]].row = offset + j
                    counters[b] += 1
            if last:  # symbol budget spent: active hypotheses end the frame without a blank (as greedy)
                for b in range(batch):
                    for h in active[b]:
                        _merge(ended[b], h)
                    active[b] = []
        beams = [sorted(ended[b].values(), key=lambda h: -h.score) for b in range(batch)]
        pred, state, beams = _compact(pred, state, beams)

    def final(h: _Hyp) -> float:
        return h.score / max(len(h.tokens), 1) if length_normalize else h.score

    return [list(max(beam, key=final).tokens) for beam in beams]


def _merge(pool: dict[tuple[int, ...], _Hyp], hyp: _Hyp) -> None:
    """Add a hypothesis, summing probabilities with an equal token sequence (same prediction state)."""
    old = pool.get(hyp.tokens)
    pool[hyp.tokens] = (
        hyp if old is None else _Hyp(hyp.tokens, float(np.logaddexp(old.score, hyp.score)), old.row)
    )


def _compact(pred, state, beams: list[list[_Hyp]]):
    """Keep only the table rows that surviving hypotheses use, so the table never grows beyond B x beam."""
    keep = [h.row for beam in beams for h in beam]
    idx = tf.constant(keep, tf.int32)
    pred = tf.gather(pred, idx)
    state = tf.nest.map_structure(lambda s: tf.gather(s, idx), state)
    new_beams, j = [], 0
    for beam in beams:
        new_beam = []
        for h in beam:
            new_beam.append(_Hyp(h.tokens, h.score, j))
            j += 1
        new_beams.append(new_beam)
    return pred, state, new_beams
