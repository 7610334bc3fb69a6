"""Log-mel features and SpecAugment."""

import librosa
import numpy as np
import pytest
import tensorflow as tf

from lowrank_asr.features import SpecAugment, log_mel, num_frames, spec_augment
from lowrank_asr.features.logmel import LOG_EPS, frame_params

# The front end and augmentation these tests check (against librosa, and the bounds the masks keep): explicit
# here, since the functions take every setting from the model config.
FEATURES = {"sample_rate": 16000, "num_mel_bins": 80, "frame_ms": 25, "hop_ms": 10, "preemphasis": 0.97}
MASKS = {"freq_masks": 2, "freq_width": 27, "time_masks": 10, "time_ratio": 0.05}


def _signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000.0
    sig = (
        0.3 * np.sin(2 * np.pi * 440 * t)
        + 0.2 * np.sin(2 * np.pi * 1870 * t * (1 + t))
        + 0.05 * rng.standard_normal(n)
    )
    return sig.astype(np.float32)


def test_frame_params_and_counts():
    assert frame_params(16000, 25, 10) == (400, 160, 512)
    n = tf.constant([0, 399, 400, 559, 560, 16000])
    np.testing.assert_array_equal(num_frames(n, 400, 160).numpy(), [0, 0, 1, 1, 2, 98])


def test_unnormalised_logmel_matches_librosa():
    sig = _signal(16000)
    x, x_len = log_mel(sig[None], tf.constant([len(sig)]), **FEATURES, normalize=False)
    emph = np.concatenate([sig[:1], sig[1:] - 0.97 * sig[:-1]])
    # librosa (centre=False) frames n_fft = 512 samples with the 400-sample window centred in them: shift by
    # 56 samples so its frame t windows the same samples [160 t, 160 t + 400) as ours.
    emph = np.pad(emph, (56, 56))
    ref = librosa.feature.melspectrogram(
        y=emph.astype(np.float64),
        sr=16000,
        n_fft=512,
        hop_length=160,
        win_length=400,
        window="hann",
        center=False,
        power=2.0,
        n_mels=80,
    )
    ref_log = np.log(ref.T + LOG_EPS)
    assert int(x_len[0]) == ref.shape[1] == x.shape[1] == 98
    mask = ref.T > 1e-4  # compare where energy is not tiny
    assert mask.mean() > 0.5
    diff = np.abs(x.numpy()[0] - ref_log)[mask]
    assert diff.max() < 1e-3, diff.max()


def test_padding_does_not_change_valid_frames_and_normalisation():
    a, b = _signal(8000, 1), _signal(12345, 2)
    batch = np.zeros([2, 16000], np.float32)
    batch[0, :8000], batch[1, :12345] = a, b
    lens = tf.constant([8000, 12345])
    x, x_len = log_mel(batch, lens, **FEATURES, normalize=True)
    np.testing.assert_array_equal(x_len.numpy(), [48, 75])
    single, _ = log_mel(a[None], tf.constant([8000]), **FEATURES, normalize=True)
    np.testing.assert_allclose(x.numpy()[0, :48], single.numpy()[0], atol=1e-4)
    assert np.all(x.numpy()[0, 48:] == 0.0) and np.all(x.numpy()[1, 75:] == 0.0)
    valid = x.numpy()[1, :75]
    np.testing.assert_allclose(valid.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(valid.std(axis=0), 1.0, atol=1e-2)


def test_logmel_is_differentiable_and_runs_in_tf_data():
    audio = tf.constant(_signal(4000)[None])
    with tf.GradientTape() as tape:
        tape.watch(audio)
        x, _ = log_mel(audio, tf.constant([4000]), **FEATURES, normalize=True)
        y = tf.reduce_sum(x[:, :, 10] ** 2)
    g = tape.gradient(y, audio).numpy()
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
    ds = tf.data.Dataset.from_tensor_slices(
        {
            "audio": np.stack([_signal(4000, i) for i in range(3)]),
            "audio_len": np.array([4000, 3000, 400], np.int32),
        }
    ).batch(3)
    ds = ds.map(lambda b: log_mel(b["audio"], b["audio_len"], **FEATURES, normalize=True))
    feats, lens = next(iter(ds))
    assert feats.shape == (3, 23, 80)
    np.testing.assert_array_equal(lens.numpy(), [23, 17, 1])


def test_short_batch_gives_zero_frames():
    x, x_len = log_mel(tf.zeros([2, 100]), tf.constant([100, 50]), **FEATURES, normalize=True)
    assert x.shape[1] == 1 and list(x_len.numpy()) == [0, 0]
    assert np.all(x.numpy() == 0)


def _time_masked(out: np.ndarray) -> np.ndarray:
    return np.all(out == 0, axis=-1)


def test_specaugment_deterministic_and_bounded():
    x = tf.ones([4, 200, 80])
    x_len = tf.constant([200, 150, 100, 20])
    seed = tf.constant([3, 4])
    a = spec_augment(x, x_len, seed, **MASKS).numpy()
    b = spec_augment(x, x_len, seed, **MASKS).numpy()
    c = spec_augment(x, x_len, tf.constant([5, 6]), **MASKS).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for i, n in enumerate([200, 150, 100, 20]):
        masked_bins = np.all(a[i] == 0, axis=0)
        masked_bins_valid = np.all(a[i, :n][~_time_masked(a[i, :n])] == 0, axis=0)
        # two frequency masks of width <= 27 each
        assert masked_bins_valid.sum() <= 54
        del masked_bins
        # adaptive time masks: at most min(10, ceil(0.04 n)) masks of width <= floor(0.05 n), inside [0, n)
        frames = _time_masked(a[i])
        max_masked = min(10, int(np.ceil(0.04 * n))) * int(np.floor(0.05 * n))
        assert frames[:n].sum() <= max_masked
        assert not frames[n:].any()  # never beyond the valid length (padding untouched here: ones)


def test_specaugment_masks_something_and_layer_respects_training():
    x = tf.random.normal([2, 300, 80], seed=1)
    x_len = tf.constant([300, 300])
    out = spec_augment(x, x_len, tf.constant([1, 2]), **MASKS).numpy()
    assert (out == 0).mean() > 0.05
    layer = SpecAugment(**MASKS, enabled=True, seed=7)
    np.testing.assert_array_equal(layer(x, x_len, training=False).numpy(), x.numpy())
    first = layer(x, x_len, training=True).numpy()
    second = layer(x, x_len, training=True).numpy()
    assert not np.array_equal(first, second)  # a new seed per call
    again = SpecAugment(**MASKS, enabled=True, seed=7)
    np.testing.assert_array_equal(again(x, x_len, training=True).numpy(), first)  # seeded: reproducible


@pytest.mark.parametrize("freq_masks,time_masks", [(0, 0), (2, 0), (0, 10)])
def test_specaugment_configurable(freq_masks, time_masks):
    x = tf.ones([1, 100, 80])
    out = spec_augment(
        x,
        tf.constant([100]),
        tf.constant([0, 1]),
        **{**MASKS, "freq_masks": freq_masks, "time_masks": time_masks},
    ).numpy()[0]
    if freq_masks == 0:
        assert not np.all(out == 0, axis=0).any()
    if time_masks == 0:
        assert not np.all(out == 0, axis=1).any()
