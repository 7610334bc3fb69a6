"""The embedded corpus: LibriSpeech-format tarballs of eSpeak NG speech, reproducible from a seed.

Speech comes from the libespeak-ng that the ``espeakng-loader`` wheel ships (through ctypes; no system
package). eSpeak NG keeps synthesis state between utterances (pitch flutter, wave phase, its random
generators), so the same call sequence gives byte-identical audio only in a *fresh* process. Every chunk
of ``CHUNK_SIZE`` utterances is therefore synthesised in its own child process (``python -m
lowrank_asr.corpus.synthesis``); chunk boundaries are fixed, so the output does not depend on the number of
workers nor on anything the calling process synthesised before.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import espeakng_loader
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from tqdm import tqdm

from lowrank_asr.corpus import augmentation
from lowrank_asr.corpus.broad_lexicon import broad_lexicon
from lowrank_asr.corpus.librispeech import SAMPLE_RATE, SpeakerRow, format_speakers
from lowrank_asr.corpus.wordlist import LEXICONS
from lowrank_asr.errors import ConfigError
from lowrank_asr.schema import fill_defaults, load_schema

ESPEAK_RATE = 22_050
CHUNK_SIZE = 200  # utterances per child process; part of the corpus definition, do not change lightly
TAR_MTIME = 1_420_070_400  # 2015-01-01, the LibriSpeech release year; fixed for byte-identical tarballs

# Base voices shipped in espeakng-loader's data (lang/gmw/en*). "en" is British English; "en-gb" is an alias.
VOICES: tuple[str, ...] = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-us-nyc",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
VOICE_ALIASES = {"en-gb": "en"}
DEFAULT_VOICES: tuple[str, ...] = ("en-us", "en", "en-gb-x-rp", "en-us-nyc")
MAX_WORDS = 60  # words per utterance: ~20 s of speech at LibriSpeech's 2.7 words per second
VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
LEXICON_NAMES: tuple[str, ...] = (*LEXICONS, "broad")  # broad: lowrank_asr.corpus.broad_lexicon


def variant_names() -> tuple[str, ...]:
    """Every voice variant shipped in espeakng-loader's data (voices/!v): pitch, formant and Klatt settings."""
    return tuple(sorted(p.name for p in (Path(espeakng_loader.get_data_path()) / "voices" / "!v").iterdir()))


def variant_sex(variant: str) -> str:
    """F or M, from the variant file's ``gender`` line (the classic f1-f5 have none and are female)."""
    path = Path(espeakng_loader.get_data_path()) / "voices" / "!v" / variant
    for line in path.read_text(errors="replace").splitlines():
        if line.split()[:1] == ["gender"]:
            return "F" if line.split()[1:2] == ["female"] else "M"
    return "F" if variant.startswith("f") else "M"


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """What one synthetic split contains (built from the config with :meth:`from_dict`).

    ``rate`` is eSpeak's speaking rate in words per minute (80-450, default voice 175), ``pitch`` its base
    pitch (0-99). Each speaker gets a fixed place inside both ranges; ``snr_db`` adds noise at that SNR
    (``noise``: white or pink), ``None`` keeps the audio clean.

    Words per utterance are uniform in ``[min_words, max_words]``, or, with ``mean_words``, drawn from a power
    density over that range with this mean: above the middle it rises towards ``max_words``, as LibriSpeech's
    segments pile up near their longest (1-17 s, mean ~12 s). ``lexicon`` names the word list
    (``lowrank_asr.corpus.wordlist.LEXICONS``, or ``broad``: ``lowrank_asr.corpus.broad_lexicon``). ``variants``
    names the eSpeak voice variants speakers are drawn from (null: the classic m1-m7, f1-f4), ``augment`` the
    per-utterance augmentation (``lowrank_asr.corpus.augmentation``; null: none). Absent keys take the schema's
    defaults (``config/schema.yaml``, ``$defs.synthetic_split``).
    """

    speakers: int
    speaker_offset: int
    chapters_per_speaker: int
    utterances: int
    min_words: int
    max_words: int
    rate: tuple[float, float]
    pitch: tuple[float, float]
    snr_db: float | None
    noise: str
    voices: tuple[str, ...] | None
    variants: tuple[str, ...] | None
    mean_words: float | None
    lexicon: str
    augment: augmentation.Augmentation | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SplitSpec:
        """Validate a config mapping; unknown keys or bad values raise ConfigError naming them."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"split spec must be a mapping, got {type(d).__name__}: {d!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown split spec key(s) {unknown}; allowed keys: {sorted(known)}")
        kw: dict[str, Any] = _with_schema_defaults(d)
        missing = sorted(known - set(kw))
        if missing:
            raise ConfigError(f"split spec needs key(s) {missing} (no default)")
        for key in (
            "speakers",
            "speaker_offset",
            "chapters_per_speaker",
            "utterances",
            "min_words",
            "max_words",
        ):
            if key in kw and (isinstance(kw[key], bool) or not isinstance(kw[key], int)):
                raise ConfigError(f"split spec key {key!r} must be an integer, got {kw[key]!r}")
        for key in ("rate", "pitch"):
            kw[key] = augmentation.number_pair(key, kw[key])
        if kw.get("snr_db") is not None:
            if isinstance(kw["snr_db"], bool) or not isinstance(kw["snr_db"], int | float):
                raise ConfigError(f"split spec key 'snr_db' must be a number or null, got {kw['snr_db']!r}")
            kw["snr_db"] = float(kw["snr_db"])
        if kw.get("mean_words") is not None:
            if isinstance(kw["mean_words"], bool) or not isinstance(kw["mean_words"], int | float):
                raise ConfigError(
                    f"split spec key 'mean_words' must be a number or null, got {kw['mean_words']!r}"
                )
            kw["mean_words"] = float(kw["mean_words"])
        if not isinstance(kw["lexicon"], str):
            raise ConfigError(
                f"split spec key 'lexicon' must be one of {list(LEXICON_NAMES)}, got {kw['lexicon']!r}"
            )
        for key in ("voices", "variants"):
            v = kw[key]
            if v is not None:
                if isinstance(v, str) or not isinstance(v, Sequence) or not v:
                    raise ConfigError(f"split spec key {key!r} must be a non-empty list of names, got {v!r}")
                kw[key] = tuple(v)
        if kw["augment"] is not None:
            kw["augment"] = augmentation.Augmentation.from_dict(kw["augment"])
        spec = cls(**kw)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Range checks; ConfigError names the key and the allowed range."""
        checks = [
            ("speakers", self.speakers >= 1, ">= 1"),
            ("speaker_offset", self.speaker_offset >= 0, ">= 0"),
            ("chapters_per_speaker", 1 <= self.chapters_per_speaker <= 99, "in 1..99"),
            ("utterances", self.utterances >= 1, ">= 1"),
            ("min_words", 1 <= self.min_words <= self.max_words, "in 1..max_words"),
            ("max_words", self.max_words <= MAX_WORDS, f"<= {MAX_WORDS}"),
            (
                "mean_words",
                self.mean_words is None or self.min_words < self.mean_words < self.max_words,
                "null or strictly between min_words and max_words",
            ),
            ("lexicon", self.lexicon in LEXICON_NAMES, f"one of {list(LEXICON_NAMES)}"),
            ("rate", 80 <= self.rate[0] <= self.rate[1] <= 450, "[low, high] within 80..450 words/min"),
            ("pitch", 0 <= self.pitch[0] <= self.pitch[1] <= 99, "[low, high] within 0..99"),
            ("noise", self.noise in ("white", "pink"), "'white' or 'pink'"),
        ]
        for key, ok, what in checks:
            if not ok:
                raise ConfigError(f"split spec key {key!r} must be {what}, got {getattr(self, key)!r}")
        for v in self.voices or ():
            if VOICE_ALIASES.get(v, v) not in VOICES:
                raise ConfigError(
                    f"unknown eSpeak voice {v!r} in split spec 'voices'; choose from {list(VOICES)}"
                )
        if self.variants:
            shipped = variant_names()
            for v in self.variants:
                if v not in shipped:
                    raise ConfigError(
                        f"unknown eSpeak voice variant {v!r} in split spec 'variants'; choose from {list(shipped)}"
                    )


def _with_schema_defaults(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` completed with ``$defs.synthetic_split``'s defaults, as config validation completes it."""
    root = load_schema()
    filled = dict(d)
    fill_defaults(filled, root["$defs"]["synthetic_split"], root)
    return filled


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One synthetic reader: an eSpeak voice+variant with its own pitch and rate."""

    id: int
    voice: str  # e.g. "en-us+f3"
    sex: str
    pitch: float
    rate: float


def split_seed(seed: int, split: str) -> int:
    """A per-split seed, so that train/dev/test draw different sentences from one global seed."""
    return int(np.random.SeedSequence([seed, zlib.crc32(split.encode())]).generate_state(1)[0])


def chapter_base(split: str) -> int:
    """Chapter ids differ between splits (utterance ids stay unique corpus-wide): 5 digits, split-derived."""
    return (zlib.crc32(split.encode()) % 900 + 100) * 100


def make_speaker(seed: int, index: int, spec: SplitSpec) -> Speaker:
    """Speaker ``index`` of the corpus; its voice, and its place in the rate/pitch ranges, depend only on
    (seed, index), so the same index is the same reader in every split."""
    rng = np.random.default_rng([seed, 7_919, index])
    voices = tuple(VOICE_ALIASES.get(v, v) for v in (spec.voices or DEFAULT_VOICES))
    base = voices[int(rng.integers(len(voices)))]
    variants = spec.variants or VARIANTS
    variant = variants[int(rng.integers(len(variants)))]
    u_pitch, u_rate = rng.random(2)
    return Speaker(
        id=100 + index,
        voice=f"{base}+{variant}",
        sex=variant_sex(variant),
        pitch=spec.pitch[0] + u_pitch * (spec.pitch[1] - spec.pitch[0]),
        rate=spec.rate[0] + u_rate * (spec.rate[1] - spec.rate[0]),
    )


def _draw_word_count(rng: np.random.Generator, spec: SplitSpec) -> int:
    """Words in the next utterance. The uniform draw is the one every existing corpus was built with."""
    if spec.mean_words is None:
        return int(rng.integers(spec.min_words, spec.max_words + 1))
    # x = min + width * u^(1/a) has density ∝ (x - min)^(a - 1) over [min, max + 1) and mean min + width * a/(a+1);
    # a solves that for mean_words + 0.5, since flooring x to a count takes half a word off the mean
    width = spec.max_words + 1 - spec.min_words
    f = (spec.mean_words + 0.5 - spec.min_words) / width
    x = spec.min_words + width * rng.random() ** ((1 - f) / f)
    return int(min(np.floor(x), spec.max_words))


def plan_split(split: str, spec: SplitSpec, seed: int) -> tuple[list[Speaker], list[dict[str, Any]]]:
    """The deterministic list of utterances: id, member path, text and synthesis parameters."""
    sseed = split_seed(seed, split)
    rng = np.random.default_rng(sseed)
    speakers = [make_speaker(seed, spec.speaker_offset + i, spec) for i in range(spec.speakers)]
    pairs = [(spk, chapter_base(split) + c) for spk in speakers for c in range(spec.chapters_per_speaker)]
    if spec.lexicon == "broad":
        lexicon, weights = broad_lexicon(espeak_phonemes)
    else:
        lexicon, weights = LEXICONS[spec.lexicon], None
    items = []
    for k in range(spec.utterances):
        spk, chapter = pairs[k % len(pairs)]
        n_words = _draw_word_count(rng, spec)
        if weights is None:  # the uniform draw every basic/extended corpus was built with
            picks = rng.integers(len(lexicon), size=n_words)
        else:
            picks = rng.choice(len(lexicon), size=n_words, p=weights)
        words = [lexicon[int(i)] for i in picks]
        jitter = rng.uniform(-0.05, 0.05, size=2)  # small per-utterance prosody variation
        utt_id = f"{spk.id}-{chapter}-{k // len(pairs):04d}"
        items.append(
            {
                "utt_id": utt_id,
                "path": f"LibriSpeech/{split}/{spk.id}/{chapter}/{utt_id}.flac",
                "text": " ".join(words),
                "voice": spk.voice,
                "rate": int(round(np.clip(spk.rate * (1 + jitter[0]), 80, 450))),
                "pitch": int(round(np.clip(spk.pitch * (1 + jitter[1]), 0, 99))),
                "snr_db": spec.snr_db,
                "noise": spec.noise,
                "noise_seed": [sseed, k],
            }
        )
        if spec.augment is not None:
            items[-1]["augment"] = augmentation.plan(spec.augment, [sseed, k])
    return speakers, items


def planned_texts(specs: Mapping[str, Mapping[str, Any]], seed: int) -> list[str]:
    """The sentences of the synthetic splits ``{split: spec}`` (what their tarballs will hold), without audio."""
    return [
        item["text"]
        for split, d in specs.items()
        for item in plan_split(split, SplitSpec.from_dict(d), seed)[1]
    ]


# ---------------------------------------------------------------------------------------------------------
# eSpeak NG through ctypes (used in the child processes; usable directly from a notebook, see module doc)

_ESPEAK_LOCK = threading.Lock()  # libespeak-ng is a process-wide singleton and not thread-safe
_ESPEAK: dict[str, Any] = {}
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_AUTO = 0
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PHONEMES_IPA = 0x02


def _espeak() -> dict[str, Any]:
    """Load and initialise libespeak-ng once per process (caller holds _ESPEAK_LOCK)."""
    if _ESPEAK:
        return _ESPEAK
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"libespeak-ng initialisation failed or gave {rate} Hz (expected {ESPEAK_RATE})")
    chunks: list[np.ndarray] = []

    def on_audio(wav, n, _events):  # copies: the buffer is reused by eSpeak after we return
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = _CALLBACK(on_audio)  # keep a reference or the trampoline is freed
    lib.espeak_SetSynthCallback(callback)
    _ESPEAK.update(lib=lib, chunks=chunks, callback=callback)
    return _ESPEAK


def espeak_synthesize(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """Raw eSpeak NG output: int16 at 22 050 Hz. Deterministic only for a fixed call sequence per process."""
    with _ESPEAK_LOCK:
        es = _espeak()
        lib = es["lib"]
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ConfigError(f"eSpeak NG has no voice {voice!r}; base voices: {list(VOICES)}")
        lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        lib.espeak_ng_SetRandSeed(zlib.crc32(f"{voice}|{text}".encode()))
        es["chunks"].clear()
        data = text.encode()
        err = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_AUTO, None, None)
        lib.espeak_Synchronize()
        if err != 0:
            raise RuntimeError(f"espeak_Synth failed with code {err} for {text!r}")
        out = np.concatenate(es["chunks"]) if es["chunks"] else np.zeros(0, np.int16)
        es["chunks"].clear()
        return out


def espeak_phonemes(text: str, voice: str) -> str:
    """eSpeak NG's IPA transcription of ``text`` in ``voice`` (without stress marks): equal strings sound alike."""
    with _ESPEAK_LOCK:
        lib = _espeak()["lib"]
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ConfigError(f"eSpeak NG has no voice {voice!r}; base voices: {list(VOICES)}")
        pointer = ctypes.c_char_p(text.encode())
        out = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_AUTO, _PHONEMES_IPA)
    return (out or b"").decode().strip().replace("ˈ", "").replace("ˌ", "")


def render_utterance(item: Mapping[str, Any], others: list[np.ndarray] | None = None) -> np.ndarray:
    """Synthesise, resample to 16 kHz, pad with silence, then either add noise at the item's SNR or, for an
    augmented split, apply its augmentation draws (``others``: earlier clean utterances of the chunk, the babble
    talkers; this utterance's clean audio is appended); int16 mono."""
    raw = espeak_synthesize(item["text"], item["voice"], item["rate"], item["pitch"])
    if raw.size == 0:
        raise RuntimeError(f"eSpeak NG produced no audio for {item['utt_id']} ({item['text']!r})")
    x = resample_poly(raw.astype(np.float64), 320, 441)  # 22 050 -> 16 000 Hz
    x *= 0.5 / max(np.abs(x).max(), 1e-9)  # peak at -6 dBFS leaves head room for the noise
    rng = np.random.default_rng(item["noise_seed"])
    lead, tail = (rng.uniform(0.10, 0.30, size=2) * SAMPLE_RATE).astype(int)
    x = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
    if "augment" in item:
        talkers = others if others is not None else []
        y = augmentation.apply(x, item["augment"], rng, talkers)
        talkers.append(x)
        del talkers[: -augmentation.BABBLE_POOL]
        x = y
    elif item["snr_db"] is not None:
        # SNR against the speech power of the whole padded clip (what a test can measure back)
        x = augmentation.add_noise(x, augmentation.coloured_noise(rng, x.size, item["noise"]), item["snr_db"])
    return np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def _worker_main() -> None:
    """Child process: read a job (JSON on stdin), write FLAC files, print their sample counts as JSON."""
    job = json.load(sys.stdin)
    staging = Path(job["staging"])
    counts = []
    others: list[np.ndarray] = []  # the chunk's clean utterances so far: babble talkers (chunks are fixed)
    for item in job["items"]:
        audio = render_utterance(item, others)
        path = staging / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        counts.append(int(audio.size))
    json.dump(counts, sys.stdout)


def _run_chunk(items: list[dict[str, Any]], staging: Path) -> list[int]:
    env = dict(os.environ)
    lib_dir = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = lib_dir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(
        [sys.executable, "-m", "lowrank_asr.corpus.synthesis"],
        env=env,
        input=json.dumps({"staging": str(staging), "items": items}),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"speech synthesis worker failed (exit {proc.returncode}) on "
            f"{items[0]['utt_id']}..{items[-1]['utt_id']}:\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout)


# ---------------------------------------------------------------------------------------------------------
# deterministic tarball


def _tarinfo(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "librispeech"
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def write_deterministic_tar(out: Path, files: Mapping[str, Path | bytes], compresslevel: int = 6) -> None:
    """Write ``out`` (.tar.gz) with the given members (name -> file or bytes) plus their parent directories;
    sorted, fixed metadata, gzip without name and with mtime 0: same content, same bytes."""
    dirs = {str(Path(*Path(name).parts[:i])) + "/" for name in files for i in range(1, len(Path(name).parts))}
    names = sorted([*dirs, *files], key=lambda n: Path(n).parts)
    with (
        open(out, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name in names:
            if name in dirs:
                tar.addfile(_tarinfo(name, None))
                continue
            src = files[name]
            data = src if isinstance(src, bytes) else Path(src).read_bytes()
            tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))


def synthesize_split_tarball(
    out_path: str | os.PathLike, split: str, spec: SplitSpec, seed: int, *, workers: int | None = None
) -> dict[str, Any]:
    """Write a LibriSpeech-format ``<split>.tar.gz`` of synthetic speech; byte-identical for the same
    (split, spec, seed). Returns stats: split, utterances, speakers, seconds, path."""
    if not split or "/" in split or split.startswith("."):
        raise ConfigError(f"bad split name {split!r}: use a folder name like 'train-clean-100'")
    spec.validate()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    speakers, items = plan_split(split, spec, seed)
    chunks = [items[i : i + CHUNK_SIZE] for i in range(0, len(items), CHUNK_SIZE)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(chunks)))
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        staging = Path(tmp) / "staging"
        counts: list[int] = []
        with (
            ThreadPoolExecutor(workers) as pool,
            tqdm(
                total=len(items), desc=f"synthesise {split}", unit="utt", disable=None, mininterval=5
            ) as bar,
        ):
            futures = [pool.submit(_run_chunk, chunk, staging) for chunk in chunks]
            for fut, chunk in zip(futures, chunks, strict=True):
                counts.extend(fut.result())
                bar.update(len(chunk))
        files: dict[str, Path | bytes] = {it["path"]: staging / it["path"] for it in items}
        by_chapter: dict[str, list[str]] = {}
        for it in items:
            by_chapter.setdefault(str(Path(it["path"]).parent), []).append(
                f"{it['utt_id']} {it['text'].upper()}"
            )
        for folder, lines in by_chapter.items():
            spk, chapter = Path(folder).parts[-2:]
            files[f"{folder}/{spk}-{chapter}.trans.txt"] = ("\n".join(sorted(lines)) + "\n").encode()
        seconds_by_spk: dict[int, float] = {}
        for it, n in zip(items, counts, strict=True):
            spk_id = int(it["utt_id"].split("-")[0])
            seconds_by_spk[spk_id] = seconds_by_spk.get(spk_id, 0.0) + n / SAMPLE_RATE
        rows = [
            SpeakerRow(s.id, s.sex, split, seconds_by_spk.get(s.id, 0.0) / 60, f"eSpeak NG {s.voice}")
            for s in speakers
        ]
        files["LibriSpeech/SPEAKERS.TXT"] = format_speakers(rows).encode()
        part = Path(tmp) / out.name
        write_deterministic_tar(part, files)
        os.replace(part, out)
    return {
        "split": split,
        "path": str(out),
        "utterances": len(items),
        "speakers": len(speakers),
        "seconds": round(sum(counts) / SAMPLE_RATE, 3),
    }


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        _worker_main()
