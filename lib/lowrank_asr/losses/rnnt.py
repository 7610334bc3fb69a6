"""RNN-Transducer loss (Graves 2012) as a log-space forward recursion over anti-diagonals.

The lattice node (t, u) holds alpha(t, u) = log P(y_1..y_u emitted while frames 0..t-1 were consumed and
frame t is current). Graves' recursion

    alpha(t, u) = logaddexp(alpha(t-1, u) + blank(t-1, u), alpha(t, u-1) + label(t, u-1))

only links a node to nodes on the previous anti-diagonal (t + u = n - 1), so all nodes of one diagonal are
computed at once with vector ops; the loop runs over the T + U - 1 diagonals, never over T x U. The loss is
-(alpha(T_b - 1, U_b) + blank(T_b - 1, U_b)). Gradients come from autodiff through the recursion; invalid
nodes carry a large negative *finite* value so that no -inf - (-inf) = NaN appears in the backward pass.
"""

from __future__ import annotations

import tensorflow as tf

# Large negative but finite: exp() underflows to exactly 0 and sums of a few thousand of them stay finite in
# float32 (max ~3.4e38), so neither the forward nor the backward pass produces inf or NaN.
_NEG = -1e30


def _logaddexp(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """log(exp(a) + exp(b)), stable and NaN-free for finite inputs (also for two _NEG inputs)."""
    # stop_gradient on the shift is exact (the expression is identical for any shift) and keeps the
    # max() out of the backward graph.
    m = tf.stop_gradient(tf.maximum(a, b))
    return m + tf.math.log(tf.exp(a - m) + tf.exp(b - m))


def _blank_and_label_log_probs(logits, labels, blank):
    """log P(blank | t, u) and log P(y_{u+1} | t, u), each [B, T, U+1], without a full [B,T,U+1,V] copy."""
    lse = tf.reduce_logsumexp(logits, axis=-1)  # [B, T, U+1]
    blank_lp = logits[..., blank] - lse
    batch = tf.shape(labels)[0]
    # Labels padded with one trailing entry so that row u = U has an index; that node's label term is never
    # used (no transition leaves u = U upwards).
    padded = tf.concat([labels, tf.fill([batch, 1], tf.constant(blank, labels.dtype))], axis=1)  # [B, U+1]
    idx = tf.broadcast_to(padded[:, None, :], tf.shape(lse))  # [B, T, U+1]
    label_logit = tf.gather(logits, idx, axis=3, batch_dims=3)
    return blank_lp, label_logit - lse


def _skew(x: tf.Tensor, num_diag: tf.Tensor, pad_value: float) -> tf.Tensor:
    """[B, T, U1] -> [N, B, U1] with out[n, b, u] = x[b, n - u, u] (pad_value where n - u is out of range)."""
    t_size = tf.shape(x)[1]
    u_size = tf.shape(x)[2]
    n = tf.range(num_diag)[:, None]
    u = tf.range(u_size)[None, :]
    t = n - u  # [N, U1]
    valid = (t >= 0) & (t < t_size)
    flat_idx = tf.clip_by_value(t, 0, t_size - 1) * u_size + u
    flat = tf.reshape(x, [tf.shape(x)[0], t_size * u_size])
    out = tf.gather(flat, flat_idx, axis=1)  # [B, N, U1]
    out = tf.where(valid[None], out, tf.cast(pad_value, x.dtype))
    return tf.transpose(out, [1, 0, 2])


def rnnt_loss(
    logits: tf.Tensor, labels: tf.Tensor, logit_length: tf.Tensor, label_length: tf.Tensor, blank: int = 0
) -> tf.Tensor:
    """Per-utterance RNN-T negative log-likelihood [B].

    Args:
        logits: [B, T, U+1, V] unnormalised joint-network outputs (float16/bfloat16 are computed in float32;
            float64 stays float64).
        labels: [B, U] int token ids, padded with anything (zeros) beyond label_length.
        logit_length: [B] valid frames T_b (1 <= T_b <= T).
        label_length: [B] valid labels U_b (0 <= U_b <= U).
        blank: index of the blank class.

    Positions beyond (T_b, U_b) do not influence the result and receive zero gradient. Works eagerly and inside
    ``tf.function`` with unknown batch, time and label sizes.
    """
    logits = tf.convert_to_tensor(logits)
    if logits.dtype != tf.float64:
        logits = tf.cast(logits, tf.float32)
    # Eager callers (landscapes, attribution) get a traced version (no Python overhead per diagonal); inside
    # an outer tf.function the plain ops are used, which the outer graph optimises better than a nested call.
    impl = _rnnt_loss_graph if tf.executing_eagerly() else _rnnt_loss_impl
    return impl(
        logits,
        tf.cast(labels, tf.int32),
        tf.cast(logit_length, tf.int32),
        tf.cast(label_length, tf.int32),
        int(blank),
    )


def _rnnt_loss_impl(logits, labels, logit_length, label_length, blank: int):
    blank_lp, label_lp = _blank_and_label_log_probs(logits, labels, blank)
    t_size = tf.shape(blank_lp)[1]
    u1_size = tf.shape(blank_lp)[2]
    batch = tf.shape(blank_lp)[0]
    num_diag = t_size + u1_size - 1  # diagonals n = t + u = 0 .. T-1+U

    # Diagonals 0 .. N-2 feed the transitions into 1 .. N-1; one extra (unused) diagonal keeps the scan
    # non-empty when T = 1 and U = 0, where tf.scan cannot stack an empty result.
    blank_skew = _skew(blank_lp, num_diag, _NEG)
    label_skew = _skew(label_lp, num_diag, _NEG)

    neg_row = tf.fill([batch, 1], tf.cast(_NEG, logits.dtype))
    alpha0 = tf.concat(
        [tf.zeros([batch, 1], logits.dtype), tf.fill([batch, u1_size - 1], tf.cast(_NEG, logits.dtype))],
        axis=1,
    )

    def step(alpha_prev, elems):
        b_lp, l_lp = elems
        stay = alpha_prev + b_lp  # (t-1, u) --blank--> (t, u): same index u on the previous diagonal
        up = alpha_prev + l_lp  # (t, u-1) --label--> (t, u): index u-1 on the previous diagonal
        up = tf.concat([neg_row, up[:, :-1]], axis=1)
        # Clamp so that unreachable nodes stay at _NEG instead of drifting towards -inf over many diagonals.
        return tf.maximum(_logaddexp(stay, up), tf.cast(_NEG, logits.dtype))

    alphas = tf.scan(step, (blank_skew, label_skew), initializer=alpha0)  # [N, B, U1] for n = 1 .. N
    alphas = tf.concat([alpha0[None], alphas], axis=0)  # [N + 1, B, U1]

    last_t = logit_length - 1
    b_idx = tf.range(batch)
    final_alpha = tf.gather_nd(alphas, tf.stack([last_t + label_length, b_idx, label_length], axis=1))
    final_blank = tf.gather_nd(blank_lp, tf.stack([b_idx, last_t, label_length], axis=1))
    return -(final_alpha + final_blank)


_rnnt_loss_graph = tf.function(_rnnt_loss_impl, reduce_retracing=True, autograph=False)
