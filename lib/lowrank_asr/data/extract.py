"""Unpack one LibriSpeech split safely and atomically into ``<dest_root>/LibriSpeech/<split>``."""

from __future__ import annotations

import fcntl
import gzip
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from lowrank_asr.data.librispeech import check_split_dir
from lowrank_asr.errors import CorpusError

# Top-level LibriSpeech files worth keeping beside the splits (SPEAKERS.TXT rows are merged across splits).
METADATA_FILES = ("SPEAKERS.TXT", "CHAPTERS.TXT", "BOOKS.TXT", "LICENSE.TXT", "README.TXT")


def _check_member(member: tarfile.TarInfo, split: str, tarball: Path) -> None:
    """Refuse anything that could write outside the target or does not belong to this split."""
    name = member.name
    where = f"member {name!r} of {tarball}"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise CorpusError(f"{where} has an absolute path; refusing to extract this tarball")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise CorpusError(f"{where} contains '..'; refusing to extract this tarball")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise CorpusError(f"{where} is a device, FIFO or other special file; refusing to extract this tarball")
    if not parts or parts[0] != "LibriSpeech":
        raise CorpusError(f"{where} is not under LibriSpeech/: is this a LibriSpeech-format tarball?")
    in_split = len(parts) >= 2 and parts[1] == split
    top_file = len(parts) == 2 and member.isfile()
    if not (len(parts) == 1 or in_split or top_file):
        raise CorpusError(f"{where} is outside LibriSpeech/{split}/: the tarball holds another split; "
                          f"check that the file is {split}.tar.gz")
    if member.issym() or member.islnk():
        link = member.linkname
        base = posixpath.dirname(posixpath.normpath(name)) if member.issym() else ""
        target = posixpath.normpath(posixpath.join(base, link))
        # the split folder is moved into place on its own, so links must stay inside it
        if link.startswith("/") or not target.startswith(f"LibriSpeech/{split}/"):
            raise CorpusError(f"{where} links to {link!r} outside the extraction folder "
                              f"(LibriSpeech/{split}/); refusing to extract")


def _check_layout(split_dir: Path, split: str, source: Path) -> None:
    if not split_dir.is_dir():
        raise CorpusError(f"{source} has no LibriSpeech/{split}/ folder: is it the {split} split?")
    check_split_dir(split_dir, source)


def _speaker_rows(text: str) -> dict[str, str]:
    return {line.split("|")[0].strip(): line for line in text.splitlines()
            if line.strip() and not line.startswith(";")}


def _install_metadata(src_root: Path, dst_root: Path) -> None:
    """Merge SPEAKERS.TXT rows (each split's tarball may list only its own readers); copy the other
    metadata files when absent. A lock serialises parallel extractions of different splits."""
    dst_root.mkdir(parents=True, exist_ok=True)
    with open(dst_root / ".metadata.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in METADATA_FILES:
            src, dst = src_root / name, dst_root / name
            if not src.is_file() or (dst.exists() and dst.samefile(src)):
                continue
            text = src.read_text(encoding="utf-8", errors="replace")
            if name == "SPEAKERS.TXT" and dst.is_file():
                old = dst.read_text(encoding="utf-8", errors="replace")
                rows = _speaker_rows(old) | _speaker_rows(text)
                header = [line for line in text.splitlines() if line.startswith(";")]
                text = "\n".join([*header, *(rows[k] for k in sorted(rows, key=_id_key))]) + "\n"
            elif dst.exists():
                continue
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=dst_root)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, dst)


def _id_key(k: str) -> tuple[int, str]:
    return (int(k), k) if k.isdigit() else (1 << 62, k)


def _replace_dir(src: Path, target: Path) -> None:
    """Rename ``src`` (a folder or symlink) to ``target``; a previous target is moved aside first and
    deleted only once the new one is in place (put back if the rename fails)."""
    if not (target.is_symlink() or target.exists()):
        src.rename(target)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    old = trash / target.name
    target.rename(old)
    try:
        src.rename(target)
    except OSError:
        old.rename(target)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _corrupt_tarball_remedy(tarball: Path, split: str, user_file: bool) -> str:
    """What to do about a truncated or corrupt tarball: a downloaded one can go; the user's own file must stay."""
    if user_file:
        return (f"it is your own file (corpus.local.{split}), which the pipeline never deletes: check it "
                f"(`gzip -t {tarball}`), replace it with a complete copy, or point corpus.local.{split} at the "
                "extracted LibriSpeech folder instead")
    return "delete it and rerun: the pipeline downloads (or synthesises) it again"


def _extract_tarball(tarball: Path, split: str, dest: Path, user_file: bool = False) -> Path:
    lib_root = dest / "LibriSpeech"
    lib_root.mkdir(parents=True, exist_ok=True)
    target = lib_root / split
    tmp = Path(tempfile.mkdtemp(prefix=f".{split}.tmp.", dir=lib_root))
    try:
        try:
            # stream mode: one pass over multi-GB tarballs, each member checked before it is written
            with tarfile.open(tarball, mode="r|*") as tar:
                for member in tar:
                    _check_member(member, split, tarball)
                    if hasattr(tarfile, "data_filter"):
                        tar.extract(member, tmp, filter="data")
                    else:  # pragma: no cover - Python < 3.11.4
                        tar.extract(member, tmp)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise CorpusError(f"{tarball} is truncated or corrupt ({type(e).__name__}: {e}); "
                              f"{_corrupt_tarball_remedy(tarball, split, user_file)}") from e
        _check_layout(tmp / "LibriSpeech" / split, split, tarball)
        _install_metadata(tmp / "LibriSpeech", lib_root)
        _replace_dir(tmp / "LibriSpeech" / split, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _find_split_dir(folder: Path, split: str) -> Path:
    for cand in (folder / split, folder / "LibriSpeech" / split):
        if cand.is_dir():
            return cand
    if folder.name == split:
        return folder
    raise CorpusError(f"folder {folder} has no {split}/ (nor LibriSpeech/{split}/) and is not itself named "
                      f"{split}: point to the LibriSpeech folder that holds the split")


def _link_folder(folder: Path, split: str, dest: Path) -> Path:
    src = _find_split_dir(folder, split).resolve()
    _check_layout(src, split, folder)
    lib_root = dest / "LibriSpeech"
    lib_root.mkdir(parents=True, exist_ok=True)
    target = lib_root / split
    if target.exists() and target.resolve() == src:
        return target
    _install_metadata(src.parent, lib_root)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{split}.tmp.", dir=lib_root))
    try:
        link = tmp_dir / split
        link.symlink_to(src, target_is_directory=True)
        _replace_dir(link, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def extract_split(tarball_or_dir: str | os.PathLike, split: str, dest_root: str | os.PathLike, *,
                  user_file: bool = False) -> Path:
    """Make ``<dest_root>/LibriSpeech/<split>`` from a ``<split>.tar.gz`` (checked member by member,
    extracted beside the target and renamed into place) or from an extracted LibriSpeech folder (linked
    with a symlink after a layout check). Top-level SPEAKERS.TXT rows are merged. Returns the split folder.
    ``user_file``: the tarball is the user's own (``corpus.local``), so a corrupt one is not to be deleted.
    """
    source = Path(tarball_or_dir)
    if not split or "/" in split or split in (".", ".."):
        raise CorpusError(f"bad split name {split!r}")
    dest = Path(dest_root)
    if source.is_dir():
        return _link_folder(source, split, dest)
    if not source.is_file():
        raise CorpusError(f"{source} does not exist: download or synthesise the {split} tarball first")
    return _extract_tarball(source, split, dest, user_file)
