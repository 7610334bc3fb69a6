"""RNN-T and CTC losses against brute-force alignment sums, DP references and Graves' (2012) gradients."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.losses import ctc_loss, rnnt_loss


def _log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def brute_force_rnnt(logits, labels, blank=0):
    """-log sum over every monotone alignment: T blanks and U labels, the last move a blank (from (T-1, U))."""
    lp = _log_softmax(logits.astype(np.float64))
    t_len, u1, _ = lp.shape
    u_len = u1 - 1
    moves = t_len + u_len
    total = []
    for label_pos in itertools.combinations(range(moves - 1), u_len):
        t = u = 0
        s = 0.0
        for m in range(moves):
            if m in label_pos:
                s += lp[t, u, labels[u]]
                u += 1
            else:
                s += lp[t, u, blank]
                t += 1
        assert (t, u) == (t_len, u_len)
        total.append(s)
    return -np.logaddexp.reduce(total)


def alpha_beta(logits, labels):
    """Graves (2012) forward and backward variables (natural log), straightforward double loops."""
    lp = _log_softmax(logits.astype(np.float64))
    t_len, u1, _ = lp.shape
    blank = lp[:, :, 0]
    emit = np.full((t_len, u1), -np.inf)
    for u in range(u1 - 1):
        emit[:, u] = lp[:, u, labels[u]]
    alpha = np.full((t_len, u1), -np.inf)
    alpha[0, 0] = 0.0
    for t in range(t_len):
        for u in range(u1):
            if t > 0:
                alpha[t, u] = np.logaddexp(alpha[t, u], alpha[t - 1, u] + blank[t - 1, u])
            if u > 0:
                alpha[t, u] = np.logaddexp(alpha[t, u], alpha[t, u - 1] + emit[t, u - 1])
    beta = np.full((t_len, u1), -np.inf)
    beta[-1, -1] = blank[-1, -1]
    for t in range(t_len - 1, -1, -1):
        for u in range(u1 - 1, -1, -1):
            if t < t_len - 1:
                beta[t, u] = np.logaddexp(beta[t, u], beta[t + 1, u] + blank[t, u])
            if u < u1 - 1:
                beta[t, u] = np.logaddexp(beta[t, u], beta[t, u + 1] + emit[t, u])
    return alpha, beta, lp


def graves_gradient(logits, labels):
    """d(-ln P)/d logits from Graves (2012), eq. 16 pushed through the softmax."""
    alpha, beta, lp = alpha_beta(logits, labels)
    t_len, u1, v = lp.shape
    log_p = beta[0, 0]
    grad_lp = np.zeros_like(lp)  # d(-ln P)/d log y(k, t, u)
    for t in range(t_len):
        for u in range(u1):
            nxt = beta[t + 1, u] if t < t_len - 1 else (0.0 if u == u1 - 1 else -np.inf)
            grad_lp[t, u, 0] = -np.exp(alpha[t, u] + lp[t, u, 0] + nxt - log_p)
            if u < u1 - 1:
                grad_lp[t, u, labels[u]] -= np.exp(alpha[t, u] + lp[t, u, labels[u]] + beta[t, u + 1] - log_p)
    probs = np.exp(lp)
    return grad_lp - probs * grad_lp.sum(-1, keepdims=True)


def random_batch(rng, lengths_t, lengths_u, v, t_max=None, u_max=None, dtype=np.float64):
    t_max = t_max or max(lengths_t)
    u_max = u_max if u_max is not None else max(lengths_u)
    b = len(lengths_t)
    logits = rng.normal(scale=2.0, size=(b, t_max, u_max + 1, v)).astype(dtype)
    labels = np.zeros((b, u_max), np.int32)
    for i, n in enumerate(lengths_u):
        labels[i, :n] = rng.integers(1, v, size=n)
    return logits, labels, np.array(lengths_t, np.int32), np.array(lengths_u, np.int32)


@pytest.mark.parametrize(
    "lengths_t,lengths_u,v",
    [
        ([1], [0], 2),
        ([1], [3], 3),
        ([4], [0], 3),
        ([3, 2, 4], [2, 1, 3], 4),
        ([5, 1, 3], [3, 2, 0], 5),
        ([2, 6], [4, 2], 3),
    ],
)
def test_matches_brute_force_and_dp(lengths_t, lengths_u, v):
    rng = np.random.default_rng(sum(lengths_t) * 10 + v)
    logits, labels, lt, lu = random_batch(rng, lengths_t, lengths_u, v)
    got64 = rnnt_loss(logits, labels, lt, lu).numpy()
    got32 = rnnt_loss(logits.astype(np.float32), labels, lt, lu).numpy()
    for b in range(len(lt)):
        sub = logits[b, : lt[b], : lu[b] + 1]
        want = brute_force_rnnt(sub, labels[b, : lu[b]])
        alpha, beta, lp = alpha_beta(sub, labels[b, : lu[b]])
        dp = -(alpha[-1, -1] + lp[-1, -1, 0])
        assert want == pytest.approx(dp, abs=1e-9)
        assert want == pytest.approx(-beta[0, 0], abs=1e-9)  # forward and backward definitions agree
        assert got64[b] == pytest.approx(want, abs=1e-8)
        assert got32[b] == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize("blank", [1, 3])
def test_nonzero_blank_index(blank):
    """Blank in the middle or last of the classes: the loss is the alignment sum with that class as blank, label
    padding beyond each length (here class 0, a real label) changes nothing, and moving the blank from class 0 to
    ``blank`` (relabelling the others) moves the gradient with it."""
    v = 4
    rng = np.random.default_rng(20 + blank)
    logits, _, lt, lu = random_batch(rng, [3, 2, 4], [2, 1, 3], v)
    others = [k for k in range(v) if k != blank]
    labels = np.zeros((3, 3), np.int32)
    for i, n in enumerate(lu):
        labels[i, :n] = rng.choice(others, size=n)
    got = rnnt_loss(logits, labels, lt, lu, blank=blank).numpy()
    for b in range(3):
        want = brute_force_rnnt(logits[b, : lt[b], : lu[b] + 1], labels[b, : lu[b]], blank=blank)
        assert got[b] == pytest.approx(want, abs=1e-8)
        assert want != pytest.approx(
            brute_force_rnnt(logits[b, : lt[b], : lu[b] + 1], labels[b, : lu[b]]), abs=1e-3
        )
    padded = labels.copy()
    for i, n in enumerate(lu):
        padded[i, n:] = others[-1]
    np.testing.assert_allclose(rnnt_loss(logits, padded, lt, lu, blank=blank).numpy(), got, atol=1e-12)
    # class k of the moved problem is class perm[k] of the original: the blank (0) lands on index ``blank``
    perm = np.array([*range(1, blank + 1), 0, *range(blank + 1, v)])
    inverse = np.argsort(perm)  # original class c is class inverse[c] of the moved problem
    labels0 = np.where(np.arange(3)[None, :] < lu[:, None], rng.integers(1, v, size=(3, 3)), 0).astype(
        np.int32
    )
    moved_labels = inverse[labels0].astype(np.int32)
    x, moved_x = tf.constant(logits), tf.constant(logits[..., perm])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, moved_x])
        loss = tf.reduce_sum(rnnt_loss(x, labels0, lt, lu))
        moved = tf.reduce_sum(rnnt_loss(moved_x, moved_labels, lt, lu, blank=blank))
    assert moved.numpy() == pytest.approx(loss.numpy(), abs=1e-9)
    np.testing.assert_allclose(
        tape.gradient(moved, moved_x).numpy(), tape.gradient(loss, x).numpy()[..., perm], atol=1e-9
    )


def test_gradient_matches_graves_and_finite_differences():
    rng = np.random.default_rng(7)
    logits, labels, lt, lu = random_batch(rng, [3, 2], [2, 1], 3)
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(rnnt_loss(x, labels, lt, lu))
    grad = tape.gradient(loss, x).numpy()
    for b in range(2):
        want = np.zeros_like(logits[b])
        want[: lt[b], : lu[b] + 1] = graves_gradient(logits[b, : lt[b], : lu[b] + 1], labels[b, : lu[b]])
        np.testing.assert_allclose(grad[b], want, atol=1e-9)
    eps = 1e-6
    fd = np.zeros_like(logits)
    for idx in np.ndindex(*logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[idx] += eps
        minus[idx] -= eps
        fd[idx] = (
            rnnt_loss(plus, labels, lt, lu).numpy().sum() - rnnt_loss(minus, labels, lt, lu).numpy().sum()
        ) / (2 * eps)
    np.testing.assert_allclose(grad, fd, atol=1e-6)


def test_float32_gradient_finite_differences():
    rng = np.random.default_rng(3)
    logits, labels, lt, lu = random_batch(rng, [4], [2], 4, dtype=np.float32)
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = rnnt_loss(x, labels, lt, lu)
    grad = tape.gradient(loss, x).numpy()
    eps = 1e-2
    for idx in [(0, 0, 0, 0), (0, 1, 1, 2), (0, 3, 2, 0), (0, 2, 0, 3), (0, 3, 1, 1)]:
        plus, minus = logits.copy(), logits.copy()
        plus[idx] += eps
        minus[idx] -= eps
        fd = (rnnt_loss(plus, labels, lt, lu).numpy()[0] - rnnt_loss(minus, labels, lt, lu).numpy()[0]) / (
            2 * eps
        )
        assert grad[idx] == pytest.approx(fd, abs=2e-3)


def test_padding_invariance_and_zero_gradient_on_padding():
    rng = np.random.default_rng(11)
    logits, labels, lt, lu = random_batch(rng, [3], [2], 4)
    alone = rnnt_loss(logits, labels, lt, lu).numpy()[0]
    # Same utterance inside a batch padded to T=7, U=5 with garbage in the padding, next to a longer one.
    big, big_labels, _, _ = random_batch(rng, [7, 7], [5, 5], 4)
    big = big * 10.0
    big[0, :3, :3] = logits[0]
    big_labels[0, :2] = labels[0]
    big_labels[0, 2:] = rng.integers(0, 4, size=3)  # padding values must not matter either
    x = tf.constant(big)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = rnnt_loss(x, big_labels, [3, 7], [2, 5])
        first = loss[0]
    assert loss.numpy()[0] == pytest.approx(alone, abs=1e-10)
    grad = tape.gradient(first, x).numpy()
    assert np.all(np.isfinite(grad))
    assert np.all(grad[0, 3:] == 0) and np.all(grad[0, :, 3:] == 0) and np.all(grad[1] == 0)
    assert np.abs(grad[0, :3, :3]).sum() > 0


def test_tf_function_unknown_shapes_and_half_precision():
    fn = tf.function(
        rnnt_loss,
        input_signature=[
            tf.TensorSpec([None, None, None, None], tf.float32),
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.int32),
        ],
    )
    rng = np.random.default_rng(5)
    for lengths_t, lengths_u in [([3, 2], [2, 1]), ([4, 5, 1], [3, 0, 1])]:
        logits, labels, lt, lu = random_batch(rng, lengths_t, lengths_u, 5, dtype=np.float32)
        np.testing.assert_allclose(
            fn(logits, labels, lt, lu).numpy(), rnnt_loss(logits, labels, lt, lu).numpy(), rtol=1e-6
        )
        half = rnnt_loss(tf.constant(logits, tf.float16), labels, lt, lu)
        assert half.dtype == tf.float32
        np.testing.assert_allclose(half.numpy(), fn(logits, labels, lt, lu).numpy(), rtol=1e-2)


def test_no_nan_with_extreme_logits():
    logits = np.zeros((1, 5, 4, 3), np.float32)
    logits[..., 0] = 80.0  # blank almost certain: label paths have log-probs around -80 per step
    labels = np.array([[1, 2, 1]], np.int32)
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = rnnt_loss(x, labels, [5], [3])
    grad = tape.gradient(loss, x).numpy()
    assert np.isfinite(loss.numpy()).all() and np.isfinite(grad).all()
    assert loss.numpy()[0] == pytest.approx(
        brute_force_rnnt(logits[0].astype(np.float64), labels[0]), rel=1e-5
    )


def brute_force_ctc(logits, labels):
    lp = _log_softmax(logits.astype(np.float64))
    t_len, v = lp.shape
    total = []
    for path in itertools.product(range(v), repeat=t_len):
        collapsed = [k for i, k in enumerate(path) if k != 0 and (i == 0 or path[i - 1] != k)]
        if collapsed == list(labels):
            total.append(sum(lp[t, k] for t, k in enumerate(path)))
    return -np.logaddexp.reduce(total)


def test_ctc_matches_brute_force():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 5, 3)).astype(np.float32)
    labels = np.array([[1, 1], [2, 0], [1, 2]], np.int32)  # repeated label needs a blank in between
    lt, lu = np.array([5, 3, 4]), np.array([2, 1, 2])
    got = ctc_loss(logits, labels, lt, lu).numpy()
    for b in range(3):
        assert got[b] == pytest.approx(brute_force_ctc(logits[b, : lt[b]], labels[b, : lu[b]]), abs=1e-4)


def test_ctc_blank_index_last():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(1, 4, 3)).astype(np.float32)
    labels = np.array([[1, 2]], np.int32)
    # Moving blank from class 0 to class 2 (and relabelling) must give the same loss.
    perm = [1, 2, 0]
    moved = ctc_loss(logits[..., perm], labels - 1, [4], [2], blank=2).numpy()
    assert moved[0] == pytest.approx(ctc_loss(logits, labels, [4], [2]).numpy()[0], abs=1e-5)
