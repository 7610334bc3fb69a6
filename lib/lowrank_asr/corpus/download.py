"""Download the official LibriSpeech tarballs: resumable, retried, MD5-verified (urllib only)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from lowrank_asr.errors import CorpusError, PipelineError

LIBRISPEECH_BASE_URL = "https://www.openslr.org/resources/12"

# Published at https://www.openslr.org/12 (md5sum of each <split>.tar.gz).
LIBRISPEECH_MD5: dict[str, str] = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc51631d519a4f7",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _Incomplete(OSError):
    """The connection ended before Content-Length bytes arrived (retry with a Range request)."""


def librispeech_url(split: str, base_url: str = LIBRISPEECH_BASE_URL) -> str:
    """URL of ``<split>.tar.gz`` under ``base_url``."""
    if split not in LIBRISPEECH_MD5:
        raise PipelineError(f"unknown LibriSpeech split {split!r}; choose from {sorted(LIBRISPEECH_MD5)}")
    return split_url(base_url, split)


def split_url(base_url: str, split: str) -> str:
    """URL of ``<split>.tar.gz`` under ``base_url`` (any split name: mirrors may hold others)."""
    return f"{base_url.rstrip('/')}/{split}.tar.gz"


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download_split(
    split: str,
    dest_dir: str | os.PathLike,
    *,
    base_url: str = LIBRISPEECH_BASE_URL,
    verify: bool = True,
    retries: int = 5,
    timeout: float = 60,
) -> Path:
    """Download ``<dest_dir>/<split>.tar.gz`` from ``base_url`` and check the published MD5."""
    dest = Path(dest_dir) / f"{split}.tar.gz"
    md5 = LIBRISPEECH_MD5[split] if verify else None
    return download_file(librispeech_url(split, base_url), dest, md5, retries=retries, timeout=timeout)


def _attempt(url: str, part: Path, timeout: float, chunk: int, bar_desc: str) -> None:
    """One HTTP request: resume ``part`` if it exists (Range), else start over; raise on short reads."""
    offset = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(
        url, headers={"User-Agent": "lowrank-asr/0.1", "Accept-Encoding": "identity"}
    )
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length is not None else None
        mode = "wb"
        if offset and resp.status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if m and int(m.group(1)) == offset:
                mode = "ab"
            else:  # a range we did not ask for: distrust the partial file
                raise _Incomplete(
                    f"server answered Range {offset}- with {resp.headers.get('Content-Range')!r}"
                )
        if mode == "wb":
            offset = 0  # server ignored the Range header (200): restart from scratch
        total = offset + length if length is not None else None
        got = 0
        with (
            open(part, mode) as f,
            tqdm(
                total=total,
                initial=offset,
                desc=bar_desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                disable=None,
                mininterval=5,
            ) as bar,
        ):
            while block := resp.read(chunk):
                f.write(block)
                got += len(block)
                bar.update(len(block))
        if length is not None and got < length:
            raise _Incomplete(f"connection closed after {offset + got} of {total} bytes")


def download_file(
    url: str,
    dest: str | os.PathLike,
    md5: str | None,
    retries: int = 5,
    timeout: float = 60,
    chunk: int = 1 << 20,
    *,
    backoff: float = 2.0,
) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part`` (resumed with HTTP Range when present), retrying
    network errors up to ``retries`` times with exponential backoff; verify ``md5`` then rename atomically.

    An existing ``dest`` with the right MD5 is kept. A wrong checksum deletes the download and raises
    CorpusError naming the file, the expected and the actual sum.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and md5 is not None and md5sum(dest) == md5.lower():
        return dest
    part = dest.with_name(dest.name + ".part")
    last_error: BaseException | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff * 2 ** (attempt - 1), 60.0))
        try:
            _attempt(url, part, timeout, chunk, dest.name)
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and part.exists():
                break  # nothing left to fetch past the end of .part: it is complete; the MD5 decides
            if 400 <= e.code < 500 and e.code not in (408, 429):
                raise CorpusError(
                    f"cannot download {url}: HTTP {e.code} {e.reason}; check the URL "
                    f"(base URL setting) or place the file at {dest} yourself"
                ) from e
            last_error = e
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as e:
            last_error = e
    else:
        raise CorpusError(
            f"cannot download {url} after {retries + 1} attempts (last error: {last_error}); "
            f"check the network and run again (the partial file {part} is resumed), "
            f"or place the file at {dest} yourself"
        )
    if md5 is not None:
        got = md5sum(part)
        if got != md5.lower():
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise CorpusError(
                f"MD5 mismatch for {dest} (downloaded from {url}): expected {md5.lower()}, "
                f"got {got}; the file was deleted, run again to re-download it"
            )
    os.replace(part, dest)
    return dest
