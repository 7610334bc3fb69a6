"""Unpack one LibriSpeech split safely and atomically into ``<dest_root>/LibriSpeech/<split>``.

The extract rule declares a small manifest (``<dest_root>/<split>.extracted.json``) as its output, not the split
folder: Snakemake deletes a job's declared outputs before it runs, so a declared folder would be gone before a
bad tarball could be refused. The folder is replaced only once a new extraction has succeeded, and an extraction
from the same tarball as last time into a folder still holding the same files (tarball path, size and mtime;
each file's path and size: recorded beside the folder) is not repeated.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from lowrank_asr.corpus.librispeech import check_split_dir
from lowrank_asr.errors import CorpusError

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".extracted.json"

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
        raise CorpusError(
            f"{where} is a device, FIFO or other special file; refusing to extract this tarball"
        )
    if not parts or parts[0] != "LibriSpeech":
        raise CorpusError(f"{where} is not under LibriSpeech/: is this a LibriSpeech-format tarball?")
    in_split = len(parts) >= 2 and parts[1] == split
    top_file = len(parts) == 2 and member.isfile()
    if not (len(parts) == 1 or in_split or top_file):
        raise CorpusError(
            f"{where} is outside LibriSpeech/{split}/: the tarball holds another split; "
            f"check that the file is {split}.tar.gz"
        )
    if member.issym() or member.islnk():
        link = member.linkname
        base = posixpath.dirname(posixpath.normpath(name)) if member.issym() else ""
        target = posixpath.normpath(posixpath.join(base, link))
        # the split folder is moved into place on its own, so links must stay inside it
        if link.startswith("/") or not target.startswith(f"LibriSpeech/{split}/"):
            raise CorpusError(
                f"{where} links to {link!r} outside the extraction folder "
                f"(LibriSpeech/{split}/); refusing to extract"
            )


def _check_layout(split_dir: Path, split: str, source: Path) -> None:
    if not split_dir.is_dir():
        raise CorpusError(f"{source} has no LibriSpeech/{split}/ folder: is it the {split} split?")
    check_split_dir(split_dir, source)


def _speaker_rows(text: str) -> dict[str, str]:
    return {
        line.split("|")[0].strip(): line
        for line in text.splitlines()
        if line.strip() and not line.startswith(";")
    }


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
        return (
            f"it is your own file (corpus.local.{split}), which the pipeline never deletes: check it "
            f"(`gzip -t {tarball}`), replace it with a complete copy, or point corpus.local.{split} at the "
            "extracted LibriSpeech folder instead"
        )
    return "delete it and rerun: the pipeline downloads (or synthesises) it again"


def _source_stamp(tarball: Path, split_dir: Path) -> dict:
    """The identity of a tarball and of the folder extracted from it (each file's path and size, digested)."""
    stat = tarball.stat()
    listing = hashlib.sha256()
    for path in sorted(split_dir.rglob("*")):
        if path.is_file() or path.is_symlink():
            listing.update(f"{path.relative_to(split_dir)}\0{path.lstat().st_size}\n".encode())
    return {
        "tarball": str(tarball.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "files": listing.hexdigest(),
    }


def _stamp_path(target: Path) -> Path:
    """Where the identity of the tarball that `target` came from is kept (beside it: `target` is replaced
    whole)."""
    return target.with_name(f".{target.name}.source.json")


def _extracted_from(target: Path, tarball: Path) -> bool:
    """Whether `target` is the untouched extraction of `tarball` (same tarball path, size and mtime; same
    files with the same sizes)."""
    try:
        return target.is_dir() and json.loads(_stamp_path(target).read_text()) == _source_stamp(
            tarball, target
        )
    except (OSError, ValueError):
        return False


def _extract_tarball(tarball: Path, split: str, dest: Path, user_file: bool = False) -> Path:
    lib_root = dest / "LibriSpeech"
    lib_root.mkdir(parents=True, exist_ok=True)
    target = lib_root / split
    if _extracted_from(target, tarball):
        log.info("%s already holds the extraction of %s (same tarball, same files): kept", target, tarball)
        return target
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
            raise CorpusError(
                f"{tarball} is truncated or corrupt ({type(e).__name__}: {e}); "
                f"{_corrupt_tarball_remedy(tarball, split, user_file)}"
            ) from e
        _check_layout(tmp / "LibriSpeech" / split, split, tarball)
        _install_metadata(tmp / "LibriSpeech", lib_root)
        stamp = _stamp_path(target)
        stamp.unlink(missing_ok=True)  # before the swap: a stamp must never describe another tarball's folder
        (tmp / "stamp").write_text(json.dumps(_source_stamp(tarball, tmp / "LibriSpeech" / split)))
        _replace_dir(tmp / "LibriSpeech" / split, target)
        os.replace(tmp / "stamp", stamp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _find_split_dir(folder: Path, split: str) -> Path:
    for cand in (folder / split, folder / "LibriSpeech" / split):
        if cand.is_dir():
            return cand
    if folder.name == split:
        return folder
    raise CorpusError(
        f"folder {folder} has no {split}/ (nor LibriSpeech/{split}/) and is not itself named "
        f"{split}: point to the LibriSpeech folder that holds the split"
    )


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


def extract_split(
    tarball_or_dir: str | os.PathLike, split: str, dest_root: str | os.PathLike, *, user_file: bool = False
) -> Path:
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


def manifest_path(dest_root: str | os.PathLike, split: str) -> Path:
    return Path(dest_root) / f"{split}{MANIFEST_SUFFIX}"


def write_manifest(
    manifest: str | os.PathLike, split_dir: str | os.PathLike, source: str | os.PathLike
) -> None:
    """The extract rule's output: the split folder (as given, so that transcript paths keep their form) and
    the tarball or folder it came from. It takes the time of the folder's extraction as its mtime, so that a
    rerun which found the folder already extracted (e.g. after a bad tarball was tried and the config put back)
    does not make Snakemake rerun the stages after it."""
    manifest, split_dir = Path(manifest), Path(split_dir)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(f".{manifest.name}.tmp")
    tmp.write_text(json.dumps({"split_dir": str(split_dir), "source": str(source)}, indent=1) + "\n")
    stamp = _stamp_path(split_dir)
    if stamp.is_file():
        os.utime(tmp, ns=(stamp.stat().st_mtime_ns, stamp.stat().st_mtime_ns))
    os.replace(tmp, manifest)


def split_folder(path: str | os.PathLike) -> Path:
    """The split folder to read: ``path`` itself (a LibriSpeech-format folder), or the one that an extract
    manifest (``*.extracted.json``) names."""
    path = Path(path)
    if not path.name.endswith(MANIFEST_SUFFIX):
        return path
    try:
        folder = Path(json.loads(path.read_text())["split_dir"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorpusError(
            f"extract manifest {path} is unreadable ({exc}); delete it and rerun to extract the split again"
        ) from None
    if not folder.is_dir():
        raise CorpusError(
            f"{folder}, the split folder named by {path}, is missing; delete {path} and rerun to "
            "extract it again"
        )
    return folder
