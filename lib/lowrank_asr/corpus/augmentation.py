"""Seeded, per-utterance augmentation of synthetic speech: speed, level, room reverberation, additive noise
(coloured or babble) and a telephone band, as in Kaldi/ESPnet recipes, but applied once while the corpus is
synthesised, so that the tarball is the training data and stays byte-identical for a seed.

Every draw comes from the utterance's own generator (``plan``), so an utterance's augmentation depends only on
(seed, split, index), not on chunking or workers. Pure numpy/scipy: no system package, no extra wheel.

Room responses are statistical (Polack's model: a direct path followed by exponentially decaying Gaussian noise
with a drawn RT60), which is what image-method simulators converge to after the early reflections; it costs
one FFT convolution per utterance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.signal import fftconvolve, resample_poly

from lowrank_asr.errors import ConfigError

SAMPLE_RATE = 16_000
NOISE_KINDS = ("white", "pink", "brown", "babble")
BABBLE_TALKERS = 3  # utterances summed into one babble track
BABBLE_POOL = 32  # the chunk's latest clean utterances that babble draws from


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What a split's augmentation may do; each field is a probability or a [low, high] range of a draw.

    ``noise``: probability that an utterance gets noise, at an SNR uniform in ``snr_db``, of a kind drawn from
    ``noise_kinds`` (babble: other utterances of the same chunk). ``reverb``: probability of a room response with
    RT60 uniform in ``rt60``. ``speed``: factor range of speed perturbation (tempo and pitch together, as in Kaldi).
    ``telephone``: probability of an 8 kHz band limit (as in telephone recordings). ``gain_db``: level range.
    """

    speed: tuple[float, float]
    gain_db: tuple[float, float]
    reverb: float
    rt60: tuple[float, float]
    noise: float
    snr_db: tuple[float, float]
    noise_kinds: tuple[str, ...]
    telephone: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Augmentation:
        """A config mapping with every key given (the schema fills the defaults); ConfigError names a bad key."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"split spec key 'augment' must be a mapping or null, got {d!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown, missing = sorted(set(d) - set(names)), sorted(set(names) - set(d))
        if unknown or missing:
            raise ConfigError(f"split spec 'augment': unknown key(s) {unknown}, missing key(s) {missing}")
        kw: dict[str, Any] = {}
        for name in ("speed", "gain_db", "rt60", "snr_db"):
            kw[name] = number_pair(f"augment.{name}", d[name])
        for name in ("reverb", "noise", "telephone"):
            kw[name] = _probability(f"augment.{name}", d[name])
        kinds = d["noise_kinds"]
        if isinstance(kinds, str) or not isinstance(kinds, Sequence) or not kinds:
            raise ConfigError(f"split spec key 'augment.noise_kinds' must be a non-empty list, got {kinds!r}")
        bad = sorted(set(kinds) - set(NOISE_KINDS))
        if bad:
            raise ConfigError(
                f"split spec 'augment.noise_kinds': unknown {bad}; choose from {list(NOISE_KINDS)}"
            )
        kw["noise_kinds"] = tuple(kinds)
        if not 0.5 <= kw["speed"][0] <= kw["speed"][1] <= 2.0:
            raise ConfigError(f"split spec key 'augment.speed' must lie within 0.5..2.0, got {d['speed']!r}")
        if not 0.0 < kw["rt60"][0] <= kw["rt60"][1] <= 3.0:
            raise ConfigError(f"split spec key 'augment.rt60' must lie within (0, 3] s, got {d['rt60']!r}")
        return cls(**kw)


def number_pair(key: str, v: Any) -> tuple[float, float]:
    """``v`` as a (low, high) pair of floats; ConfigError names ``key`` otherwise."""
    ok = (
        isinstance(v, Sequence)
        and not isinstance(v, str)
        and len(v) == 2
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        and v[0] <= v[1]
    )
    if not ok:
        raise ConfigError(f"split spec key {key!r} must be [low, high] numbers with low <= high, got {v!r}")
    return float(v[0]), float(v[1])


def _probability(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
        raise ConfigError(f"split spec key {key!r} must be a probability in [0, 1], got {v!r}")
    return float(v)


def plan(aug: Augmentation, seed: Sequence[int]) -> dict[str, Any]:
    """One utterance's draws (JSON-able, stored with the utterance's plan). The same number of draws is made
    whatever is switched on, so changing one probability does not reshuffle the other draws."""
    rng = np.random.default_rng([*seed, 0xA0])
    u = rng.random(8)
    return {
        "speed": round(float(aug.speed[0] + u[0] * (aug.speed[1] - aug.speed[0])), 3),
        "gain_db": round(float(aug.gain_db[0] + u[1] * (aug.gain_db[1] - aug.gain_db[0])), 2),
        "rt60": round(float(aug.rt60[0] + u[2] * (aug.rt60[1] - aug.rt60[0])), 3)
        if u[3] < aug.reverb
        else None,
        "snr_db": round(float(aug.snr_db[0] + u[4] * (aug.snr_db[1] - aug.snr_db[0])), 2)
        if u[5] < aug.noise
        else None,
        "noise": aug.noise_kinds[int(u[6] * len(aug.noise_kinds))],
        "telephone": bool(u[7] < aug.telephone),
    }


def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """White, pink (1/f power) or brown (1/f² power) Gaussian noise of ``n`` samples."""
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    f = np.maximum(np.arange(spectrum.size), 1)
    spectrum /= np.sqrt(f) if colour == "pink" else f  # the pink expression every noisy corpus was built with
    return np.fft.irfft(spectrum, n)


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x`` plus ``noise`` scaled to ``snr_db`` against the power of the whole clip."""
    gain = np.sqrt(np.mean(x**2) / (max(np.mean(noise**2), 1e-20) * 10 ** (snr_db / 10)))
    return x + gain * noise


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (tempo and pitch), by resampling at a rational approximation."""
    if abs(factor - 1.0) < 1e-3:
        return x
    up = 200
    down = int(round(up * factor))
    return resample_poly(x, up, down)


def room_response(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """A statistical room impulse response: direct path, then Gaussian noise decaying 60 dB in ``rt60`` s."""
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000): 60 dB of amplitude over rt60
    delay = int(rng.uniform(0.002, 0.01) * SAMPLE_RATE)  # direct path to the first reflections
    tail[:delay] = 0.0
    h = (
        tail / np.sqrt(np.sum(tail**2)) * rng.uniform(0.3, 1.0)
    )  # reverberant energy relative to the direct path
    h[0] = 1.0
    return h


def telephone_band(x: np.ndarray) -> np.ndarray:
    """Band-limit to a telephone channel: down to 8 kHz and back (no energy above 4 kHz), as the real split."""
    return resample_poly(resample_poly(x, 1, 2), 2, 1)[: x.size]


def babble(others: Sequence[np.ndarray], rng: np.random.Generator, n: int) -> np.ndarray | None:
    """A babble track of ``n`` samples: up to BABBLE_TALKERS earlier utterances, each looped from a random
    offset and normalised; None when there is nobody to babble yet."""
    if not others:
        return None
    pool = others[-BABBLE_POOL:]
    picks = rng.choice(len(pool), size=min(BABBLE_TALKERS, len(pool)), replace=False)
    out = np.zeros(n)
    for i in picks:
        talker = pool[int(i)]
        reps = int(np.ceil((n + talker.size) / talker.size))
        start = int(rng.integers(talker.size))
        out += np.tile(talker, reps)[start : start + n] / max(np.sqrt(np.mean(talker**2)), 1e-9)
    return out


def apply(
    x: np.ndarray, draws: Mapping[str, Any], rng: np.random.Generator, others: Sequence[np.ndarray]
) -> np.ndarray:
    """Augment clean 16 kHz speech ``x`` (float, silence-padded) with an utterance's ``draws``: speed, room,
    noise, telephone band, level, in the order a recording chain applies them."""
    y = speed_perturb(x, draws["speed"])
    if draws["rt60"] is not None:
        y = fftconvolve(y, room_response(rng, draws["rt60"]))[: y.size]
    if draws["snr_db"] is not None:
        noise = babble(others, rng, y.size) if draws["noise"] == "babble" else None
        if noise is None:  # babble before any other talker of the chunk: pink noise instead
            noise = coloured_noise(rng, y.size, "pink" if draws["noise"] == "babble" else draws["noise"])
        y = add_noise(y, noise, draws["snr_db"])
    if draws["telephone"]:
        y = telephone_band(y)
    return y * (0.5 / max(np.abs(y).max(), 1e-9)) * 10 ** (draws["gain_db"] / 20)
