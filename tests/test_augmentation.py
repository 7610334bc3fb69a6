"""The training corpus's voices, augmentation and broad lexicon; the test splits stay as they were."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lowrank_asr.corpus import augmentation, synthesis
from lowrank_asr.corpus.broad_lexicon import broad_lexicon
from lowrank_asr.corpus.synthesis import SplitSpec, plan_split, synthesize_split_tarball
from lowrank_asr.corpus.wordlist import WORDS
from lowrank_asr.errors import ConfigError
from lowrank_asr.text.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]
SR = augmentation.SAMPLE_RATE
# sha256 of the planned test-clean and test-other of config/config.yaml (speakers and every utterance's text,
# voice, rate, pitch, noise), as they were before the training corpus gained voices, augmentation and text:
# the baseline numbers of those splits stay comparable only while these hold.
TEST_SPLIT_PLANS = {
    "test-clean": "c9994d00e00566241d8b5f3ff8ddd13e92ce922e0a2dddef01ec685d1bef41bf",
    "test-other": "d80737318e2ff8cd3c11ac72edca1604c61f8848452e960fdb5b1e950dc841ff",
}
AUGMENTED = {
    "speakers": 6,
    "utterances": 8,
    "min_words": 2,
    "max_words": 4,
    "variants": ["klatt4", "Alex", "f5", "grandpa"],
    "lexicon": "broad",
    "augment": {"reverb": 1.0, "noise": 1.0, "noise_kinds": ["babble", "brown"], "telephone": 0.5},
}


def _default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_test_splits_plan_as_before():
    config = _default_config()
    for split, digest in TEST_SPLIT_PLANS.items():
        spec = SplitSpec.from_dict(config["corpus"]["synthetic"][split])
        speakers, items = plan_split(split, spec, config["seed"])
        blob = json.dumps([[dataclasses.asdict(s) for s in speakers], items], sort_keys=True).encode()
        assert hashlib.sha256(blob).hexdigest() == digest, split
        assert all("augment" not in item for item in items)


def test_augmented_split_is_byte_identical_and_independent_of_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(synthesis, "CHUNK_SIZE", 4)
    spec = SplitSpec.from_dict(AUGMENTED)
    one = synthesize_split_tarball(tmp_path / "1.tar.gz", "train-clean-100", spec, 3, workers=1)
    two = synthesize_split_tarball(tmp_path / "2.tar.gz", "train-clean-100", spec, 3, workers=2)
    assert one["seconds"] == two["seconds"] > 0
    assert (tmp_path / "1.tar.gz").read_bytes() == (tmp_path / "2.tar.gz").read_bytes()


def test_augmentation_draws_depend_on_the_utterance_only():
    spec = SplitSpec.from_dict(AUGMENTED)
    _, items = plan_split("train-clean-100", spec, 3)
    _, longer = plan_split("train-clean-100", dataclasses.replace(spec, utterances=20), 3)
    assert [it["augment"] for it in items] == [it["augment"] for it in longer[:8]]
    draws = [it["augment"] for it in items]
    assert all(d["rt60"] is not None and d["snr_db"] is not None for d in draws)  # probabilities 1
    assert {d["noise"] for d in draws} <= {"babble", "brown"}
    lo, hi = augmentation.Augmentation.from_dict(synthesis._with_schema_defaults(AUGMENTED)["augment"]).speed
    assert all(lo <= d["speed"] <= hi for d in draws)


def test_speakers_draw_from_the_configured_variants_with_their_sex():
    spec = SplitSpec.from_dict({**AUGMENTED, "speakers": 40})
    speakers, _ = plan_split("train-clean-100", spec, 3)
    variants = {s.voice.split("+")[1] for s in speakers}
    assert variants == set(AUGMENTED["variants"])
    sex = {s.voice.split("+")[1]: s.sex for s in speakers}
    assert sex["f5"] == "F" and sex["grandpa"] == "M"


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({"variants": ["klingon"]}, "klingon"),
        ({"variants": "m1"}, "variants"),
        ({"augment": {"speed": [1.2, 0.8]}}, "augment.speed"),
        ({"augment": {"noise": 1.5}}, "augment.noise"),
        ({"augment": {"noise_kinds": ["traffic"]}}, "traffic"),
        ({"augment": {"loud": 1}}, "loud"),
    ],
)
def test_bad_voice_and_augmentation_settings_name_the_key(cfg, needle):
    with pytest.raises(ConfigError, match=needle):
        SplitSpec.from_dict({"speakers": 2, "utterances": 2, **cfg})


def test_telephone_band_leaves_nothing_above_4_khz():
    x = np.random.default_rng(0).standard_normal(SR)
    y = augmentation.telephone_band(x)
    power = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / SR)
    assert y.size == x.size
    assert power[freqs > 4200].sum() < 1e-3 * power[freqs < 3800].sum()


def test_speed_perturbation_scales_the_duration_and_the_pitch():
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * 440 * t)
    y = augmentation.speed_perturb(x, 1.1)
    assert y.size == pytest.approx(x.size / 1.1, rel=0.01)
    peak = np.argmax(np.abs(np.fft.rfft(y))) * SR / y.size
    assert peak == pytest.approx(440 * 1.1, rel=0.01)
    assert augmentation.speed_perturb(x, 1.0) is x


def test_noise_is_added_at_the_drawn_snr_and_has_its_colour():
    rng = np.random.default_rng(1)
    x = np.sin(2 * np.pi * 300 * np.arange(2 * SR) / SR)
    for snr in (5.0, 20.0):
        noise = augmentation.coloured_noise(rng, x.size, "white")
        y = augmentation.add_noise(x, noise, snr)
        measured = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
        assert measured == pytest.approx(snr, abs=1e-6)
    brown = np.abs(np.fft.rfft(augmentation.coloured_noise(rng, 2 * SR, "brown"))) ** 2
    pink = np.abs(np.fft.rfft(augmentation.coloured_noise(rng, 2 * SR, "pink"))) ** 2
    low, high = slice(10, 200), slice(-2000, None)
    assert brown[low].mean() / brown[high].mean() > pink[low].mean() / pink[high].mean() > 10


def test_room_response_decays_by_60_db_over_rt60():
    h = augmentation.room_response(np.random.default_rng(2), 0.5)
    assert h[0] == 1.0 and h.size == int(0.5 * SR)
    energy = np.cumsum(h[::-1] ** 2)[::-1]  # Schroeder integral of the tail
    tail = energy[SR // 20] / energy[1]
    # 50 ms into a 0.5 s RT60 the tail has lost about 6 dB (60 dB over 0.5 s), a bit more with the noise
    assert 10 * np.log10(tail) == pytest.approx(-6, abs=2)


def test_babble_is_other_talkers_or_nothing():
    rng = np.random.default_rng(3)
    assert augmentation.babble([], rng, 100) is None
    talkers = [np.sin(np.arange(500) * f) for f in (0.1, 0.2, 0.3, 0.4)]
    mix = augmentation.babble(talkers, rng, 1200)
    assert mix.shape == (1200,) and np.std(mix) > 0


def test_broad_lexicon_is_plain_broad_distinct_and_keeps_the_basic_words():
    words, p = broad_lexicon(synthesis.espeak_phonemes)
    assert len(words) > 5000 and len(set(words)) == len(words)
    assert set(WORDS) <= set(words)  # the test splits' words stay in the training text
    assert all(w.isascii() and w.isalpha() and w.islower() and normalize(w) == w for w in words)
    assert p.sum() == pytest.approx(1.0) and np.all(p > 0) and p[0] == p.max()  # most frequent first
    spoken: dict[str, str] = {}
    for w in words:
        other = spoken.setdefault(synthesis.espeak_phonemes(w, "en-us"), w)
        assert other == w, f"{w!r} sounds like {other!r}"
    for homophones in ({"to", "two", "too"}, {"their", "there"}, {"know", "no"}, {"new", "knew"}):
        assert len(homophones & set(words)) == 1, homophones
