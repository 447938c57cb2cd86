"""LibriSpeech downloader against a local HTTP server: resume with Range, checksums, atomic extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tokenizer_bench.core.data import download as dl
from tokenizer_bench.core.data.download import DownloadError, download_librispeech, fetch


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` support; records the Range headers it saw."""

    seen_ranges: list = []
    support_range = True

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        type(self).seen_ranges.append(rng)
        if rng and self.support_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    RangeHandler.seen_ranges = []
    RangeHandler.support_range = True
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/files"
    httpd.shutdown()
    httpd.server_close()


def make_archive(path: Path, subset: str, files: dict[str, bytes]) -> str:
    """A LibriSpeech-shaped tar.gz; returns its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        members = {"LibriSpeech/README.TXT": b"readme", **{f"LibriSpeech/{subset}/{k}": v for k, v in files.items()}}
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


FILES = {
    "19/198/19-198.trans.txt": b"19-198-0000 HELLO WORLD\n",
    "19/198/19-198-0000.flac": bytes(range(256)) * 400,  # 100 kB: several read chunks
}


def test_download_verify_extract(server, tmp_path):
    www, base = server
    sha = make_archive(www / "files" / "dev-tiny.tar.gz", "dev-tiny", FILES)
    out = tmp_path / "data"
    [folder] = download_librispeech(["dev-tiny"], out, base_url=base, checksums={"dev-tiny": sha})
    assert folder == out / "LibriSpeech" / "dev-tiny"
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    assert (out / "LibriSpeech" / "README.TXT").read_bytes() == b"readme"
    assert dl.is_complete(out, "dev-tiny")
    assert not (out / ".downloads" / "dev-tiny.tar.gz").exists()  # archive removed after extraction
    assert not list((out / "LibriSpeech").glob(".extract-*"))  # no temp folders left
    # a second call is a no-op (no request)
    n = len(RangeHandler.seen_ranges)
    download_librispeech(["dev-tiny"], out, base_url=base, checksums={"dev-tiny": sha})
    assert len(RangeHandler.seen_ranges) == n


def test_md5_checksum_accepted(server, tmp_path):
    www, base = server
    archive = www / "files" / "dev-tiny.tar.gz"
    make_archive(archive, "dev-tiny", FILES)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    [folder] = download_librispeech(["dev-tiny"], tmp_path / "d", base_url=base, checksums={"dev-tiny": md5})
    assert (folder / "19/198/19-198-0000.flac").is_file()


def test_resume_sends_range_and_completes(server, tmp_path):
    www, base = server
    archive = www / "files" / "dev-tiny.tar.gz"
    sha = make_archive(archive, "dev-tiny", FILES)
    data = archive.read_bytes()
    out = tmp_path / "data"
    part = out / ".downloads" / "dev-tiny.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: len(data) // 3])  # an interrupted earlier download
    download_librispeech(["dev-tiny"], out, base_url=base, checksums={"dev-tiny": sha})
    assert RangeHandler.seen_ranges[-1] == f"bytes={len(data) // 3}-"
    flac = out / "LibriSpeech" / "dev-tiny" / "19/198/19-198-0000.flac"
    assert flac.read_bytes() == FILES["19/198/19-198-0000.flac"]


def test_server_without_range_restarts_the_file(server, tmp_path):
    www, base = server
    archive = www / "files" / "x.bin"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"0123456789" * 1000)
    RangeHandler.support_range = False
    dest = tmp_path / "x.bin.part"
    dest.write_bytes(b"garbage-prefix")
    fetch(f"{base}/x.bin", dest)
    assert dest.read_bytes() == archive.read_bytes()


def test_checksum_mismatch_deletes_and_extracts_nothing(server, tmp_path):
    www, base = server
    make_archive(www / "files" / "dev-tiny.tar.gz", "dev-tiny", FILES)
    out = tmp_path / "data"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_librispeech(["dev-tiny"], out, base_url=base, checksums={"dev-tiny": "0" * 64})
    assert not (out / "LibriSpeech" / "dev-tiny").exists()
    assert not list((out / ".downloads").iterdir())  # the bad partial file was removed


def test_missing_file_and_unknown_subset(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_librispeech(["dev-tiny"], tmp_path, base_url=base, checksums={"dev-tiny": "0" * 64})
    with pytest.raises(DownloadError, match="no checksum known"):
        download_librispeech(["nope"], tmp_path, base_url=base)


def test_unsafe_archive_member_refused(server, tmp_path):
    www, base = server
    archive = www / "files" / "evil.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(DownloadError, match="outside"):
        download_librispeech(["evil"], tmp_path / "d", base_url=base, checksums={"evil": sha})
    assert not (tmp_path / "escape.txt").exists()


def test_official_checksums_known():
    assert set(dl.LIBRISPEECH_SHA256) >= {"train-clean-100", "test-clean", "dev-clean"}
    assert all(len(v) == 64 for v in dl.LIBRISPEECH_SHA256.values())
