"""The real-speech test split ``real-test``, built from Debian packages (no install, no other network source).

Debian's main archive ships recorded, transcribed human English speech:

- ``asterisk-core-sounds-en-wav`` (audio, 8 kHz 16-bit mono WAV under ``ASTERISK_AUDIO``) with
  ``asterisk-core-sounds-en`` (its prompt texts, ``ASTERISK_TEXTS``: lines ``name: text``, ``;`` comments):
  one professional female voice, CC-BY-SA-3.0;
- ``pocketsphinx-testdata``: five LibriVox sentences at 16 kHz (``LIBRIVOX_DIR``, ``transcription`` lines
  ``<s> text </s> (fileid)``), BSD-2.

``apt-get download`` fetches the .deb files, ``dpkg-deb -x`` unpacks them, and :func:`build_split_tarball`
writes a LibriSpeech-format tarball: one speaker folder per source, 16 kHz FLAC, normalised texts. The
selection of prompts is fixed (:func:`keep_prompt`) so that numbers on the split stay comparable.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from math import gcd
from pathlib import Path
from typing import Any

from lowrank_asr.corpus.librispeech import SAMPLE_RATE, SpeakerRow, format_speakers
from lowrank_asr.errors import CorpusError
from lowrank_asr.text.normalize import normalize

SPLIT = "real-test"
PACKAGED_SPLITS: tuple[str, ...] = (SPLIT,)
PACKAGES: tuple[str, ...] = (
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-en",
    "pocketsphinx-testdata",
)
ASTERISK_TEXTS = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
ASTERISK_AUDIO = "usr/share/asterisk/sounds/en_US_f_Allison"
LIBRIVOX_DIR = "usr/share/pocketsphinx/test/data/librivox"
# (source, speaker id, sex, SPEAKERS.TXT name); ids far above the synthetic corpus's (100 + index)
SOURCES: tuple[tuple[str, int, str, str], ...] = (
    ("asterisk", 9001, "F", "Allison (asterisk-core-sounds-en, CC-BY-SA-3.0)"),
    ("librivox", 9002, "F", "LibriVox reader (pocketsphinx-testdata, BSD-2)"),
)
CHAPTER = 1
SENTENCE_WORDS = 3  # utterances of at least this many words count as sentences (the sentences-only WER)
# Where a marker left by a failed fetch lives (beside the cached tarball); the DAG build then skips the split.
UNAVAILABLE_MARKER = "resources/downloads/real-test.unavailable"
INSTALL_HINT = (
    "run `apt-get update` on a Debian/Ubuntu machine (apt-get and dpkg-deb needed, the Debian archive "
    "reachable)"
)

# Texts the audio does not say as written: digits (spoken as words), tones in brackets ``[..]`` or ``<..>``,
# stage directions in parentheses, and the keypad symbols ``*`` and ``#`` (spoken "star", "pound").
_NOT_AS_SPOKEN = re.compile(r"[0-9\[\]<>()*#]")
_LIBRIVOX_LINE = re.compile(r"^<s>\s*(?P<text>.*?)\s*</s>\s*\((?P<id>[^)]+)\)\s*$")

Runner = Callable[..., subprocess.CompletedProcess]


@dataclasses.dataclass(frozen=True)
class Utterance:
    source: str  # "asterisk" | "librivox"
    name: str  # the prompt name or LibriVox file id
    text: str  # normalised
    audio: Path


# ---------------------------------------------------------------------------------------------------------
# texts and selection


def parse_prompt_list(text: str) -> list[tuple[str, str]]:
    """``(name, text)`` pairs of asterisk's ``core-sounds-en.txt`` (``;`` comments and blank lines skipped)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        name, sep, prompt = line.partition(":")
        if not sep or not name.strip():
            raise CorpusError(f"{ASTERISK_TEXTS} line {n} is not 'name: text': {line[:60]!r}")
        out.append((name.strip(), prompt.strip()))
    return out


def keep_prompt(text: str) -> bool:
    """The fixed selection: a prompt is kept when its text is what the audio says, word for word."""
    return not _NOT_AS_SPOKEN.search(text) and bool(normalize(text))


def parse_librivox_transcription(text: str) -> list[tuple[str, str]]:
    """``(fileid, text)`` pairs of a Sphinx ``transcription`` file (lines ``<s> text </s> (fileid)``)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LIBRIVOX_LINE.match(line.strip())
        if not m:
            raise CorpusError(
                f"{LIBRIVOX_DIR}/transcription line {n} is not '<s> text </s> (fileid)': {line[:60]!r}"
            )
        out.append((m["id"], m["text"]))
    return out


def collect_utterances(root: str | os.PathLike) -> tuple[list[Utterance], dict[str, int]]:
    """The split's utterances from an unpacked package tree, and counts of what the selection left out."""
    root = Path(root)
    texts = root / ASTERISK_TEXTS
    trans = root / LIBRIVOX_DIR / "transcription"
    for path in (texts, trans):
        if not path.is_file():
            raise CorpusError(
                f"{path.relative_to(root)} is missing from the unpacked packages {', '.join(PACKAGES)}"
            )
    prompts = parse_prompt_list(gzip.decompress(texts.read_bytes()).decode("utf-8", errors="replace"))
    dropped = {"prompts": len(prompts), "not_as_spoken": 0, "no_audio": 0}
    utts = []
    for name, text in prompts:
        if not keep_prompt(text):
            dropped["not_as_spoken"] += 1
            continue
        wav = root / ASTERISK_AUDIO / f"{name}.wav"
        if not wav.is_file():
            dropped["no_audio"] += 1
            continue
        utts.append(Utterance("asterisk", name, normalize(text), wav))
    for fileid, text in parse_librivox_transcription(trans.read_text(encoding="utf-8")):
        wav = root / LIBRIVOX_DIR / f"{fileid}.wav"
        if not wav.is_file():
            raise CorpusError(f"{LIBRIVOX_DIR}/{fileid}.wav, named in its transcription, is missing")
        utts.append(Utterance("librivox", fileid, normalize(text), wav))
    return utts, dropped


def verbatim_in_training(
    transcripts: Iterable[str], training_texts: Iterable[str], min_words: int = SENTENCE_WORDS
) -> list[str]:
    """Transcripts of ``min_words`` or more words that some training text holds verbatim (as a run of whole
    words). Empty means no real-test sentence was spoken in training."""
    corpus = "\n".join(f" {t} " for t in training_texts)  # one text per line: a match cannot span two texts
    return [t for t in transcripts if len(t.split()) >= min_words and f" {t} " in corpus]


# ---------------------------------------------------------------------------------------------------------
# audio and the tarball: their imports stay inside the functions because the Snakefile imports this module at
# DAG build (split names, the gate below), and scipy.signal alone takes 1.5-3 s to import


def to_16k(audio, rate: int):
    """int16 mono at 16 kHz (polyphase resampling, e.g. 8 kHz -> 16 kHz up by 2)."""
    import numpy as np  # deferred: DAG build (see above)
    from scipy.signal import resample_poly  # deferred: DAG build

    audio = np.asarray(audio)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate == SAMPLE_RATE:
        return audio.astype(np.int16)
    g = gcd(SAMPLE_RATE, rate)
    x = resample_poly(audio.astype(np.float64), SAMPLE_RATE // g, rate // g)
    return np.round(np.clip(x, -32768, 32767)).astype(np.int16)


def _flac_bytes(audio) -> bytes:
    import soundfile as sf  # deferred: DAG build

    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def build_split_tarball(
    out_path: str | os.PathLike, root: str | os.PathLike, split: str = SPLIT
) -> dict[str, Any]:
    """Write the LibriSpeech-format ``<split>.tar.gz`` from an unpacked package tree; deterministic for the same
    packages. Returns stats: utterances per source, single words, sentences, seconds, what was dropped."""
    import soundfile as sf  # deferred: DAG build

    from lowrank_asr.corpus.synthesis import write_deterministic_tar  # deferred: DAG build (NumPy)

    utts, dropped = collect_utterances(root)
    speakers = {source: (spk, sex, name) for source, spk, sex, name in SOURCES}
    files: dict[str, Path | bytes] = {}
    lines: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    names: dict[str, str] = {}  # utterance id -> source:prompt name (recorded in the sources JSON)
    for source in speakers:
        spk = speakers[source][0]
        clips = [
            (to_16k(*sf.read(u.audio, dtype="int16", always_2d=False)), u) for u in utts if u.source == source
        ]
        # numbered shortest first: evaluation batches in file order, and prompts in name order mix 0.5 s words with
        # 30 s sentences (padded audio 3 924 s for 988 s of speech in batches of 32; by duration 1 345 s)
        clips.sort(key=lambda c: (c[0].size, c[1].name))
        for k, (audio, utt) in enumerate(clips):
            utt_id = f"{spk}-{CHAPTER}-{k:04d}"
            folder = f"LibriSpeech/{split}/{spk}/{CHAPTER}"
            files[f"{folder}/{utt_id}.flac"] = _flac_bytes(audio)
            lines.setdefault(folder, []).append(f"{utt_id} {utt.text.upper()}")
            names[utt_id] = f"{utt.source}:{utt.name}"
            seconds[source] = seconds.get(source, 0.0) + audio.size / SAMPLE_RATE
    for folder, rows in lines.items():
        spk = folder.split("/")[-2]
        files[f"{folder}/{spk}-{CHAPTER}.trans.txt"] = ("\n".join(rows) + "\n").encode()
    rows = [
        SpeakerRow(spk, sex, split, seconds.get(src, 0.0) / 60, name)
        for src, (spk, sex, name) in speakers.items()
    ]
    files["LibriSpeech/SPEAKERS.TXT"] = format_speakers(rows).encode()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    write_deterministic_tar(part, files)
    os.replace(part, out)
    words = [len(u.text.split()) for u in utts]
    return {
        "split": split,
        "path": str(out),
        "utterances": len(utts),
        "by_source": {s: sum(u.source == s for u in utts) for s in speakers},
        "single_words": sum(n == 1 for n in words),
        "sentences": sum(n >= SENTENCE_WORDS for n in words),
        "seconds": {s: round(v, 3) for s, v in seconds.items()},
        "dropped": dropped,
        "names": names,
        "transcripts": [u.text for u in utts],
    }


# ---------------------------------------------------------------------------------------------------------
# fetching: apt-get download + dpkg-deb -x


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def unavailable_reason(run: Runner = subprocess.run) -> str | None:
    """Why ``apt-get download`` cannot fetch the packages, or None when the package lists offer all of them.

    Reads only the local package lists (``apt-cache policy``, ~0.1 s, no network); an archive that is listed
    but unreachable shows only when the fetch runs (the rule then leaves ``UNAVAILABLE_MARKER``)."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (not a Debian/Ubuntu machine)"
    try:
        proc = run(
            ["apt-cache", "policy", *PACKAGES], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"apt-cache policy failed: {e}"
    candidates = dict(
        re.findall(r"^(\S+):\s*\n(?:\s+Installed:.*\n)?\s+Candidate:\s*(\S+)", proc.stdout, re.M)
    )
    missing = [p for p in PACKAGES if candidates.get(p, "(none)") == "(none)"]
    if missing:
        return f"the package lists offer no {', '.join(missing)}"
    return None


def fetch_packages(dest: str | os.PathLike, run: Runner = subprocess.run) -> dict[str, dict[str, str]]:
    """``apt-get download`` the packages into ``dest``; returns {package: {file, sha256}}. CorpusError when
    the download fails (no archive reachable, stale lists)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    proc = run(["apt-get", "download", *PACKAGES], cwd=dest, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CorpusError(
            f"apt-get download {' '.join(PACKAGES)} failed (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-600:]}"
        )
    out = {}
    for pkg in PACKAGES:
        debs = sorted(dest.glob(f"{pkg}_*.deb"))
        if len(debs) != 1:
            raise CorpusError(f"apt-get download left {len(debs)} files for {pkg} in {dest}")
        out[pkg] = {"file": debs[0].name, "sha256": sha256sum(debs[0])}
    return out


def unpack(debs: Iterable[str | os.PathLike], root: str | os.PathLike, run: Runner = subprocess.run) -> Path:
    """``dpkg-deb -x`` every package into ``root`` (nothing is installed)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        proc = run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise CorpusError(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()[-600:]}")
    return root


def build_from_packages(
    out_path: str | os.PathLike,
    sources_path: str | os.PathLike,
    *,
    training_texts: Iterable[str],
    marker: str | os.PathLike | None = None,
    run: Runner = subprocess.run,
) -> dict[str, Any]:
    """Fetch, unpack and build the split; write ``sources_path`` (packages with their sha256, counts). When the
    fetch fails, write ``marker`` (the reason) so that later DAG builds skip the split, and raise. A transcript
    that one of ``training_texts`` holds verbatim refuses the split (it would flatter the score)."""
    with tempfile.TemporaryDirectory(prefix=".real-test.", dir=Path(out_path).parent) as tmp:
        try:
            debs = fetch_packages(Path(tmp) / "debs", run=run)
        except CorpusError as e:
            if marker is not None:
                Path(marker).write_text(f"{e}\n")
            raise CorpusError(
                f"{e}\nThe split {SPLIT} cannot be built: {INSTALL_HINT}. Later runs skip it while "
                f"{marker} exists; delete that file to try again."
            ) from e
        root = unpack([Path(tmp) / "debs" / d["file"] for d in debs.values()], Path(tmp) / "root", run=run)
        stats = build_split_tarball(out_path, root)
    transcripts = stats.pop("transcripts")
    seen = verbatim_in_training(transcripts, training_texts)
    if seen:  # a test sentence that training has spoken verbatim would flatter the split
        Path(out_path).unlink()
        raise CorpusError(
            f"{len(seen)} {SPLIT} transcript(s) of {SENTENCE_WORDS}+ words appear verbatim in the synthetic "
            f"training text: {seen[:5]}. Change the training splits' seed or lexicon (corpus.synthetic)."
        )
    record = {**stats, "packages": debs}
    Path(sources_path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    stats["transcripts"] = transcripts
    return stats


# ---------------------------------------------------------------------------------------------------------
# the gate at DAG build


SPLIT_LIST_KEYS: tuple[tuple[str, str], ...] = (
    ("data", "test_splits"),
    ("evaluation", "splits"),
    ("compression", "splits"),
)


def drop_unavailable_splits(
    config: dict,
    cached: bool,
    marker: str | os.PathLike,
    probe: Callable[[], str | None] = unavailable_reason,
) -> str | None:
    """Remove ``real-test`` from the config's split lists when it cannot be built here; returns the one-line
    notice to print (None when the split stays, or the config does not ask for it).

    The split stays when its tarball is cached (``cached``); otherwise when no failed fetch left ``marker``
    and the package lists offer the packages (``probe``)."""
    wanted = any(SPLIT in ((config.get(sec) or {}).get(key) or []) for sec, key in SPLIT_LIST_KEYS)
    if not wanted or cached:
        return None
    marker = Path(marker)
    reason = f"an earlier fetch failed ({marker})" if marker.is_file() else probe()
    if reason is None:
        return None
    for sec, key in SPLIT_LIST_KEYS:
        section = config.get(sec) or {}
        if SPLIT in (section.get(key) or []):
            section[key] = [s for s in section[key] if s != SPLIT]
    return (
        f"lowrank-asr: evaluating without the real-speech split {SPLIT}: {reason}; to include it, {INSTALL_HINT}"
        + (f" and delete {marker}" if marker.is_file() else "")
        + "."
    )
