"""LibriSpeech's on-disk conventions: split names, file names, SPEAKERS.TXT and trans.txt formats."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from pathlib import Path

from lowrank_asr.errors import CorpusError

STANDARD_SPLITS: tuple[str, ...] = (
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
)

UTT_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")

# LibriSpeech's audio rate: the synthetic corpus writes it, the transcripts stage accepts only it, and
# model.features.sample_rate must equal it (config.py checks).
SAMPLE_RATE = 16_000

SPEAKERS_HEADER = """\
; The file contains a pipe(|) separated metadata about all LibriVox readers, whose work was used
; in the corpus.
;
; The meaning of the fields in left-to-right order is as follows:
;
; reader_id: the ID of the reader in the LibriVox's database
; gender: 'F' for female, 'M' for male
; subset: the corpus subset to which the reader's audio is assigned
; duration: total number of minutes of speech by the reader, included in the corpus
; name: the name under which the reader is registered in LibriVox
;
;ID  |SEX| SUBSET           |MINUTES| NAME
"""


@dataclasses.dataclass(frozen=True)
class SpeakerRow:
    """One row of SPEAKERS.TXT."""

    id: int
    sex: str
    subset: str
    minutes: float
    name: str

    def format(self) -> str:
        return f"{self.id:<5}| {self.sex} | {self.subset:<16} | {self.minutes:5.2f} | {self.name}"


def utterance_member(split: str, utt_id: str) -> str:
    """Tarball member (and path below the corpus root) of an utterance's FLAC file."""
    m = UTT_ID.match(utt_id)
    if not m:
        raise CorpusError(f"utterance id {utt_id!r} is not <speaker>-<chapter>-<number>")
    return f"LibriSpeech/{split}/{m.group(1)}/{m.group(2)}/{utt_id}.flac"


def format_speakers(rows: Iterable[SpeakerRow]) -> str:
    """SPEAKERS.TXT text (LibriSpeech's header, rows sorted by id)."""
    return SPEAKERS_HEADER + "".join(r.format() + "\n" for r in sorted(rows, key=lambda r: r.id))


def parse_speakers(text: str, source: str = "SPEAKERS.TXT") -> dict[int, SpeakerRow]:
    """Rows of a SPEAKERS.TXT by speaker id (``;`` lines are comments; names may contain ``|``)."""
    rows = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        parts = [p.strip() for p in line.split("|", 4)]
        try:
            row = SpeakerRow(
                int(parts[0]), parts[1], parts[2], float(parts[3]), parts[4] if len(parts) > 4 else ""
            )
        except (IndexError, ValueError) as e:
            raise CorpusError(
                f"{source} line {n} is not 'ID | SEX | SUBSET | MINUTES | NAME': {line!r}"
            ) from e
        rows[row.id] = row
    return rows


def read_trans_file(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(utt_id, TEXT) pairs of a ``<speaker>-<chapter>.trans.txt``; a malformed line raises CorpusError."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        utt_id, _, text = line.partition(" ")
        if not UTT_ID.match(utt_id):
            raise CorpusError(f"{path} line {n}: {line[:60]!r} does not start with an utterance id")
        out.append((utt_id, text.strip()))
    return out


def check_split_dir(split_dir: str | os.PathLike, source: str | os.PathLike | None = None) -> None:
    """Raise CorpusError unless ``split_dir`` is a folder holding at least one .trans.txt and one .flac."""
    split_dir = Path(split_dir)
    where = source if source is not None else split_dir
    if not split_dir.is_dir():
        raise CorpusError(f"{where}: split folder {split_dir.name}/ is missing")
    has_trans = has_flac = False
    for _root, _dirs, files in os.walk(split_dir, followlinks=True):
        has_trans = has_trans or any(f.endswith(".trans.txt") for f in files)
        has_flac = has_flac or any(f.endswith(".flac") for f in files)
        if has_trans and has_flac:
            return
    missing = " and ".join(w for w, ok in (("*.trans.txt", has_trans), ("*.flac", has_flac)) if not ok)
    raise CorpusError(
        f"{where}: split folder {split_dir.name}/ holds no {missing} files; "
        f"it is not a LibriSpeech-format split"
    )
