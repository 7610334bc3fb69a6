"""Build and read the transcripts TSV (``PATH\\tDURATION\\tTRANSCRIPT``) of one LibriSpeech-layout split.

A split folder holds ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` (lines ``<utt_id> TEXT``) and
``<speaker>/<chapter>/<utt_id>.flac``. Every FLAC is fully decoded once here, so a corrupt file is found at
this stage rather than hours into training.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import soundfile as sf
from tqdm import tqdm

from lowrank_asr.corpus.librispeech import SAMPLE_RATE
from lowrank_asr.corpus.skip_list import skipped_utterances
from lowrank_asr.errors import ConfigError, CorpusError
from lowrank_asr.text import normalize

log = logging.getLogger(__name__)

HEADER = ("PATH", "DURATION", "TRANSCRIPT")
_REMEDY = "fix or remove the file(s), or set `data.on_bad_audio: skip` to leave these utterances out"
_MAX_LISTED = 20


@dataclass(frozen=True)
class Row:
    """One utterance of a transcripts TSV. ``path`` is kept exactly as written (not resolved)."""

    path: str
    duration: float
    transcript: str


@dataclass(frozen=True)
class _Problem:
    path: str
    utt_id: str | None
    reason: str

    def as_dict(self) -> dict:
        return {"path": self.path, "utt_id": self.utt_id, "reason": self.reason}


def _atomic_tmp(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _parse_trans_file(trans: Path) -> Iterator[tuple[int, str | None, str | None, str | None]]:
    """Yield ``(line_no, utt_id, text, problem)`` per non-blank line; ``problem`` is None for a good line."""
    speaker, chapter = trans.parent.parent.name, trans.parent.name
    expected = re.compile(rf"{re.escape(speaker)}-{re.escape(chapter)}-\d+")
    try:
        lines = trans.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        yield 0, None, None, f"cannot read transcript file ({e})"
        return
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue  # a trailing blank line is harmless
        utt_id, _, text = line.strip().partition(" ")
        if not expected.fullmatch(utt_id):
            yield (
                n,
                utt_id,
                None,
                (
                    f"malformed transcript line {n} of {trans} ({line[:60]!r}): it must start with an "
                    f"utterance id '{speaker}-{chapter}-NNNN' followed by a space and the text"
                ),
            )
        elif not normalize(text):
            yield (
                n,
                utt_id,
                None,
                f"malformed transcript line {n} of {trans}: no transcript text after {utt_id!r}",
            )
        else:
            yield n, utt_id, normalize(text), None


def _header_only_flac(path: Path) -> bool:
    """Whether a FLAC file ends where its metadata blocks end, i.e. holds no audio frames at all.

    libsndfile reports such a file as ``Internal psf_fseek() failed.``, which does not say what is wrong.
    """
    try:
        with path.open("rb") as f:
            if f.read(4) != b"fLaC":
                return False
            offset, size = 4, path.stat().st_size
            while True:
                header = f.read(4)  # last-block flag and type, then a 24-bit length
                if len(header) < 4:
                    return False  # cut inside the metadata: corrupt, not header-only
                offset += 4 + int.from_bytes(header[1:], "big")
                if header[0] & 0x80:
                    return offset >= size
                f.seek(offset)
    except OSError:
        return False


def _check_audio(path: Path, sample_rate: int | None) -> tuple[float | None, str | None]:
    """Decode the whole file; return ``(duration, None)`` or ``(None, problem)``."""
    try:
        info = sf.info(str(path))
        if info.channels != 1:
            return None, f"audio has {info.channels} channels, expected mono"
        if sample_rate is not None and info.samplerate != sample_rate:
            return None, f"audio sample rate is {info.samplerate} Hz, expected {sample_rate} Hz"
        # Decoding everything is the point: libsndfile only notices corrupt frames when it reaches them.
        data, _ = sf.read(str(path), dtype="int16", always_2d=True)
    except Exception as e:  # libsndfile errors are RuntimeError; unreadable files give OSError
        if _header_only_flac(path):
            return None, "no audio samples: the FLAC file holds a header but no audio frames"
        return None, f"corrupt or unreadable FLAC ({e})"
    if len(data) != info.frames:
        return None, f"corrupt FLAC: header says {info.frames} samples but {len(data)} decode"
    if len(data) == 0:
        return None, "no audio samples: the file decodes to 0 samples"
    return len(data) / info.samplerate, None


def write_transcripts(
    split_dir: Path,
    out_tsv: Path,
    *,
    on_bad_audio: Literal["fail", "skip"],
    skipped_json: Path | None = None,
    sample_rate: int | None = SAMPLE_RATE,
    num_workers: int | None = None,
) -> dict:
    """Scan ``split_dir``, check every utterance and write the sorted transcripts TSV (and the skip list).

    Problems (corrupt/unreadable FLAC, wrong sample rate or channels, a transcript line without audio, audio
    without a transcript line, a malformed transcript line) raise CorpusError listing them when
    ``on_bad_audio == "fail"`` (nothing written), or are left out, logged and listed in ``skipped_json``
    (``[{path, utt_id, reason}, ...]``, an empty list when nothing was skipped) when ``"skip"``.
    An empty split always raises. Returns ``{"utterances", "hours", "skipped", "problems"}``: ``skipped`` counts
    utterances left out (one may have several problems), ``problems`` the entries of the list.
    """
    if on_bad_audio not in ("fail", "skip"):
        raise ConfigError(f"data.on_bad_audio must be 'fail' or 'skip', got {on_bad_audio!r}")
    split_dir, out_tsv = Path(split_dir), Path(out_tsv)
    if not split_dir.is_dir():
        raise CorpusError(
            f"split folder {split_dir} does not exist; run the extract (or synthesis) stage first"
        )

    problems: list[_Problem] = []
    texts: dict[Path, tuple[str, str]] = {}  # flac path -> (utt_id, normalised text)
    claimed: set[Path] = set()  # flacs named by a transcript line, good or malformed
    for trans in sorted(split_dir.glob("*/*/*.trans.txt")):
        seen: set[str] = set()
        for _, utt_id, text, problem in _parse_trans_file(trans):
            flac = trans.parent / f"{utt_id}.flac" if utt_id else None
            duplicate = problem is None and utt_id in seen
            if duplicate:
                problem = f"duplicate utterance id {utt_id!r} in {trans}"
            if problem is not None:
                has_audio = flac is not None and flac.is_file()
                # a duplicate line leaves out no utterance (its first line is used): no utt_id, so not counted
                problems.append(
                    _Problem(str(flac if has_audio else trans), None if duplicate else utt_id, problem)
                )
                if has_audio:
                    claimed.add(flac)
                continue
            seen.add(utt_id)
            claimed.add(flac)
            texts[flac] = (utt_id, text)
    flacs = sorted(split_dir.glob("*/*/*.flac"))
    if not flacs and not texts:
        raise CorpusError(
            f"split folder {split_dir} holds no utterances (expected <speaker>/<chapter>/*.flac and "
            "*.trans.txt); check the download/extract stage and the split name"
        )
    flac_set = set(flacs)
    for flac, (utt_id, _) in texts.items():
        if flac not in flac_set:
            problems.append(_Problem(str(flac), utt_id, "transcript line has no audio file"))
    for flac in flacs:
        if flac not in claimed:
            problems.append(_Problem(str(flac), flac.stem, "audio file has no transcript line"))

    to_check = [f for f in flacs if f in texts]
    rows: list[Row] = []
    workers = num_workers or min(8, os.cpu_count() or 1)
    # libsndfile releases the GIL while decoding, so threads overlap the decoding of many files.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda f: _check_audio(f, sample_rate), to_check)
        bar = tqdm(
            results,
            total=len(to_check),
            desc=f"transcripts {split_dir.name}",
            unit="utt",
            disable=None,
            mininterval=5,
        )
        for flac, (duration, problem) in zip(to_check, bar, strict=True):
            utt_id, text = texts[flac]
            if problem is not None:
                problems.append(_Problem(str(flac), utt_id, problem))
            elif "\t" in str(flac) or "\n" in str(flac):
                problems.append(_Problem(str(flac), utt_id, "path contains a tab or newline"))
            else:
                rows.append(Row(str(flac), duration, text))

    problems.sort(key=lambda p: (p.path, p.reason))
    if problems and on_bad_audio == "fail":
        listed = "\n".join(f"  {p.path}: {p.reason}" for p in problems[:_MAX_LISTED])
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise CorpusError(f"{len(problems)} problem(s) in split {split_dir}:\n{listed}{more}\n{_REMEDY}")
    for p in problems:
        log.warning("skipping %s (utterance %s): %s", p.path, p.utt_id, p.reason)
    if not rows:
        raise CorpusError(
            f"no usable utterances left in split {split_dir} after skipping {len(problems)}; fix the corpus"
        )

    rows.sort(key=lambda r: r.path)
    tmp_tsv = _atomic_tmp(out_tsv)
    tmp_json = _atomic_tmp(skipped_json) if skipped_json is not None else None
    try:
        with open(tmp_tsv, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\t".join(HEADER) + "\n")
            for r in rows:
                fh.write(f"{r.path}\t{r.duration:.4f}\t{r.transcript}\n")
        if tmp_json is not None:
            tmp_json.write_text(
                json.dumps([p.as_dict() for p in problems], indent=2) + "\n", encoding="utf-8"
            )
            os.replace(tmp_json, skipped_json)
        os.replace(tmp_tsv, out_tsv)
    except BaseException:
        tmp_tsv.unlink(missing_ok=True)
        if tmp_json is not None:
            tmp_json.unlink(missing_ok=True)
        raise
    seconds = sum(r.duration for r in rows)
    entries = [p.as_dict() for p in problems]
    stats = {
        "utterances": len(rows),
        "hours": seconds / 3600.0,
        "skipped": skipped_utterances(entries),
        "problems": len(problems),
    }
    log.info(
        "%s: %d utterances, %.3f h, %d skipped (%d problems) -> %s",
        split_dir,
        len(rows),
        stats["hours"],
        stats["skipped"],
        len(problems),
        out_tsv,
    )
    return stats


def read_transcripts(tsv: Path) -> list[Row]:
    """Read a transcripts TSV written by ``write_transcripts``; raise CorpusError naming file and line."""
    tsv = Path(tsv)
    try:
        lines = tsv.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CorpusError(f"transcripts file {tsv} does not exist; run the transcripts stage") from None
    if not lines or tuple(lines[0].split("\t")) != HEADER:
        got = lines[0][:80] if lines else "an empty file"
        raise CorpusError(
            f"{tsv}: header must be {chr(9).join(HEADER)!r}, got {got!r}; regenerate it with the transcripts stage"
        )
    rows = []
    for n, line in enumerate(lines[1:], 2):
        if not line:
            continue
        fields = line.split("\t")
        try:
            if len(fields) != 3:
                raise ValueError(f"expected 3 tab-separated fields, got {len(fields)}")
            path, duration, transcript = fields
            rows.append(Row(path, float(duration), transcript))
        except ValueError as e:
            raise CorpusError(f"{tsv} line {n}: {e}; regenerate it with the transcripts stage") from None
    return rows
