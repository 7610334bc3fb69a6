"""Resumable, retried, MD5-checked downloads against a local HTTP server (no internet)."""

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lowrank_asr.corpus import download
from lowrank_asr.corpus.download import LIBRISPEECH_MD5, download_file, librispeech_url, split_url
from lowrank_asr.errors import CorpusError, PipelineError

PAYLOAD = np.random.default_rng(0).integers(0, 256, size=300_000, dtype=np.uint8).tobytes()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if self.path != "/dev-clean.tar.gz":
            self.send_error(404)
            return
        start, rng = 0, self.headers.get("Range")
        if rng and srv.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drops > 0:  # send part of the body, then hang up
            srv.drops -= 1
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.requests, srv.honour_range, srv.drops = [], True, 0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_full_download(server, tmp_path):
    dest = tmp_path / "dl" / "dev-clean.tar.gz"
    assert download_file(split_url(server.url, "dev-clean"), dest, MD5, backoff=0) == dest
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["dev-clean.tar.gz"]
    assert server.requests == [{"path": "/dev-clean.tar.gz", "range": None}]
    # a verified file already in place is kept without asking the server again
    download_file(f"{server.url}/dev-clean.tar.gz", dest, MD5)
    assert len(server.requests) == 1


def test_resume_from_partial_file(server, tmp_path):
    dest = tmp_path / "dev-clean.tar.gz"
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(PAYLOAD[:123_456])
    download_file(f"{server.url}/dev-clean.tar.gz", dest, MD5, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] == "bytes=123456-"
    assert not (tmp_path / "dev-clean.tar.gz.part").exists()


def test_server_ignoring_range_restarts(server, tmp_path):
    server.honour_range = False
    dest = tmp_path / "dev-clean.tar.gz"
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(b"garbage" * 1000)
    download_file(f"{server.url}/dev-clean.tar.gz", dest, MD5, backoff=0)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_verified(server, tmp_path):
    dest = tmp_path / "dev-clean.tar.gz"
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(PAYLOAD)  # e.g. killed between download and rename
    download_file(f"{server.url}/dev-clean.tar.gz", dest, MD5, backoff=0)
    assert dest.read_bytes() == PAYLOAD


def test_md5_mismatch_names_file_and_sums_and_deletes(server, tmp_path):
    dest = tmp_path / "dev-clean.tar.gz"
    wrong = "0" * 32
    with pytest.raises(CorpusError) as err:
        download_file(f"{server.url}/dev-clean.tar.gz", dest, wrong, backoff=0)
    msg = str(err.value)
    assert str(dest) in msg and wrong in msg and MD5 in msg
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_is_retried_and_resumed(server, tmp_path):
    server.drops = 2
    dest = tmp_path / "dev-clean.tar.gz"
    download_file(f"{server.url}/dev-clean.tar.gz", dest, MD5, retries=3, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    ranges = [r["range"] for r in server.requests]
    assert len(ranges) == 3 and ranges[0] is None
    assert ranges[1] == f"bytes={len(PAYLOAD) // 3}-"  # the second request resumes where the first stopped


def test_gives_up_after_retries(server, tmp_path):
    server.drops = 10
    dest = tmp_path / "dev-clean.tar.gz"
    with pytest.raises(CorpusError, match="after 3 attempts"):
        download_file(f"{server.url}/dev-clean.tar.gz", dest, MD5, retries=2, backoff=0)
    assert len(server.requests) == 3 and not dest.exists()
    assert (tmp_path / "dev-clean.tar.gz.part").exists()  # kept, so that the next run resumes


def test_http_404_fails_at_once(server, tmp_path):
    with pytest.raises(CorpusError, match="HTTP 404"):
        download_file(f"{server.url}/missing.tar.gz", tmp_path / "x.tar.gz", None, backoff=0)
    assert len(server.requests) == 1


def test_unreachable_server(tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CorpusError, match="cannot download"):
        download_file(
            f"http://127.0.0.1:{port}/dev-clean.tar.gz", tmp_path / "d.tar.gz", None, retries=3, timeout=2
        )
    assert sleeps == [2.0, 4.0, 8.0]  # exponential backoff


def test_official_urls_and_checksums():
    assert librispeech_url("test-other") == "https://www.openslr.org/resources/12/test-other.tar.gz"
    assert split_url("http://mirror/x/", "dev-clean") == "http://mirror/x/dev-clean.tar.gz"
    assert len(LIBRISPEECH_MD5) == 7 and all(
        re.fullmatch(r"[0-9a-f]{32}", v) for v in LIBRISPEECH_MD5.values()
    )
    assert LIBRISPEECH_MD5["train-clean-100"] == "2a93770f6d5c6c964bc51631d519a4f7"
    with pytest.raises(PipelineError, match="train-clean-50"):
        librispeech_url("train-clean-50")
