"""Log-mel features in TensorFlow: usable inside tf.data and differentiable w.r.t. the waveform.

Frames are *not* centred: frame t covers samples [t·hop, t·hop + win), so an utterance of n samples has
``T = 1 + (n - win) // hop`` frames (0 if n < win), and every valid frame sees only valid samples. The
learnable wave front end (a 'valid' Conv1D with the same kernel and stride) yields the same frame counts.

Mel basis: librosa's Slaney-style filters (``librosa.filters.mel``, Slaney mel scale, area normalisation),
computed once per configuration and stored as a constant. Why not ``tf.signal.linear_to_mel_weight_matrix``:
it interpolates the triangles on the mel axis (HTK scale) and zeroes the DC bin, so it matches no librosa
basis exactly; with librosa's basis our features equal ``librosa.feature.melspectrogram`` (power 2,
periodic Hann window, centre=False) up to float32 rounding, which a test checks.

Per-utterance normalisation: mean and variance per mel bin over the *valid* frames only; padded frames are 0.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
import tensorflow as tf

LOG_EPS = 1e-6  # floor inside the log: -13.8 for silent frames keeps gradients finite
NORM_EPS = 1e-5


def frame_params(sample_rate: int, frame_ms: float, hop_ms: float) -> tuple[int, int, int]:
    """(window length, hop, FFT size) in samples; the FFT size is the next power of two."""
    win = int(round(sample_rate * frame_ms / 1000.0))
    hop = int(round(sample_rate * hop_ms / 1000.0))
    n_fft = 1 << (win - 1).bit_length()
    return win, hop, n_fft


def num_frames(num_samples: tf.Tensor, win: int, hop: int) -> tf.Tensor:
    """Frame counts from sample counts: ``max(0, 1 + (n - win) // hop)`` (int32)."""
    n = tf.cast(num_samples, tf.int32)
    return tf.where(n >= win, 1 + (n - win) // hop, tf.zeros_like(n))


@functools.lru_cache(maxsize=8)
def mel_basis(sample_rate: int, n_fft: int, num_mel_bins: int) -> np.ndarray:
    """librosa's Slaney mel filter bank transposed to [n_fft // 2 + 1, num_mel_bins] (float32)."""
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=num_mel_bins, fmin=0.0, fmax=None)
    return np.ascontiguousarray(basis.T.astype(np.float32))


def sequence_mask(lengths: tf.Tensor, maxlen: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """[B, maxlen] mask, 1 on valid positions."""
    return tf.sequence_mask(lengths, maxlen, dtype=dtype)


def normalization_stats(x: tf.Tensor, lengths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-utterance, per-channel ``(mean, 1 / sqrt(var + NORM_EPS))`` over the valid frames, each [B, 1, F]."""
    mask = sequence_mask(lengths, tf.shape(x)[1], x.dtype)[:, :, None]
    count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
    mean = tf.reduce_sum(x * mask, axis=1, keepdims=True) / count
    var = tf.reduce_sum(tf.square(x - mean) * mask, axis=1, keepdims=True) / count
    return mean, tf.math.rsqrt(var + NORM_EPS)


def apply_normalization(x: tf.Tensor, lengths: tf.Tensor, stats: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
    """``(x - mean) * scale`` on the valid frames, padding set to 0; ``stats`` as `normalization_stats` gives."""
    mean, scale = stats
    return (x - mean) * scale * sequence_mask(lengths, tf.shape(x)[1], x.dtype)[:, :, None]


def normalize_per_utterance(x: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """Per-utterance, per-channel mean/variance normalisation over the valid frames; padding set to 0."""
    return apply_normalization(x, lengths, normalization_stats(x, lengths))


def preemphasis(audio: tf.Tensor, coef: float) -> tf.Tensor:
    """y[n] = x[n] - coef · x[n-1], y[0] = x[0] (along the last axis)."""
    if coef == 0.0:
        return audio
    return tf.concat([audio[..., :1], audio[..., 1:] - coef * audio[..., :-1]], axis=-1)


def power_mel(
    audio: tf.Tensor,
    *,
    sample_rate: int,
    num_mel_bins: int,
    frame_ms: float,
    hop_ms: float,
    preemphasis_coef: float,
) -> tf.Tensor:
    """Mel power spectrogram [B, T, F] of the (zero padded) batch ``audio`` [B, S]; T from S."""
    win, hop, n_fft = frame_params(sample_rate, frame_ms, hop_ms)
    audio = tf.convert_to_tensor(audio, tf.float32)
    # Batches shorter than one window still yield a (0-valid-frame) tensor rather than failing.
    short = tf.maximum(win - tf.shape(audio)[-1], 0)
    audio = tf.pad(audio, [[0, 0], [0, short]])
    audio = preemphasis(audio, preemphasis_coef)
    spec = tf.signal.stft(
        audio,
        frame_length=win,
        frame_step=hop,
        fft_length=n_fft,
        window_fn=functools.partial(tf.signal.hann_window, periodic=True),
        pad_end=False,
    )
    power = tf.square(tf.math.real(spec)) + tf.square(tf.math.imag(spec))
    return tf.tensordot(power, tf.constant(mel_basis(sample_rate, n_fft, num_mel_bins)), axes=1)


def log_mel(
    audio: tf.Tensor,
    audio_len: tf.Tensor,
    *,
    sample_rate: int,
    num_mel_bins: int,
    frame_ms: float,
    hop_ms: float,
    preemphasis: float,
    normalize: bool,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Log-mel features [B, T, F] (padded frames 0) and frame counts [B] from audio [B, S] and sample counts.

    The keyword names equal the model config's ``features`` keys, so ``log_mel(a, n, **cfg["features"])``.
    """
    win, hop, _ = frame_params(sample_rate, frame_ms, hop_ms)
    mel = power_mel(
        audio,
        sample_rate=sample_rate,
        num_mel_bins=num_mel_bins,
        frame_ms=frame_ms,
        hop_ms=hop_ms,
        preemphasis_coef=preemphasis,
    )
    x_len = num_frames(audio_len, win, hop)
    x = tf.math.log(mel + LOG_EPS)
    if normalize:
        return normalize_per_utterance(x, x_len), x_len
    return x * sequence_mask(x_len, tf.shape(x)[1], x.dtype)[:, :, None], x_len
