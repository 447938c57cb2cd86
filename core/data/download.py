"""LibriSpeech download: resumable (HTTP Range), checksum-verified, extracted atomically.

Why: train-clean-100 is a 6.3 GB archive. A dropped connection must not restart it from zero,
a corrupt archive must never be extracted, and an interrupted extraction must never leave a
half-filled ``LibriSpeech/<subset>`` folder that later looks complete. So:

1. the archive is fetched to ``<root>/.downloads/<subset>.tar.gz.part``; a later call resumes it
   with ``Range: bytes=<size>-`` (a server that ignores Range restarts the file);
2. the finished file is checked against a SHA-256 (the table below, or one given by the caller)
   and only then renamed to ``<subset>.tar.gz``; a mismatch deletes it and raises;
3. it is extracted into a temporary folder beside the target and the subset folder is renamed
   into place in one step; a ``.complete`` marker inside records the archive's checksum.

``base_url`` can point at any mirror (or a local test server).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable

from tokenizer_bench.core.errors import TokenizerBenchError

DEFAULT_BASE_URL = "https://www.openslr.org/resources/12"

#: SHA-256 of the official OpenSLR LibriSpeech archives (<subset>.tar.gz).
LIBRISPEECH_SHA256: dict[str, str] = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}

ARCHIVE_FOLDER = "LibriSpeech"
COMPLETE_MARKER = ".complete"
CHUNK = 1 << 20

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class DownloadError(TokenizerBenchError):
    """A download failed or its checksum did not match."""


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def md5_of(path: str | Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def subset_dir(root: str | Path, subset: str) -> Path:
    """Where ``subset`` lives once extracted: ``<root>/LibriSpeech/<subset>``."""
    return Path(root) / ARCHIVE_FOLDER / subset


def is_complete(root: str | Path, subset: str) -> bool:
    return (subset_dir(root, subset) / COMPLETE_MARKER).is_file()


def fetch(url: str, dest: str | Path, *, timeout: float = 60.0, progress: Progress | None = None) -> Path:
    """Download ``url`` to ``dest``, resuming a partial ``dest`` with an HTTP Range request."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = dest.stat().st_size if dest.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # asked past the end: the partial file is already whole
            return dest
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: cannot connect ({getattr(exc, 'reason', exc)})") from exc
    with resp:
        status = getattr(resp, "status", 200)
        length = resp.headers.get("Content-Length")
        if have and status == 206:
            mode, done = "ab", have
            total = have + int(length) if length is not None else None
        else:  # 200: the server sent the whole file (no Range support, or a fresh start)
            mode, done = "wb", 0
            total = int(length) if length is not None else None
        try:
            with open(dest, mode) as fh:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    fh.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except (OSError, urllib.error.URLError) as exc:
            raise DownloadError(
                f"{url}: transfer interrupted after {done} bytes ({exc}); run again to resume"
            ) from exc
    if total is not None and dest.stat().st_size != total:
        raise DownloadError(
            f"{url}: got {dest.stat().st_size} of {total} bytes; run again to resume"
        )
    return dest


def _safe_members(tar: tarfile.TarFile, where: Path) -> Iterable[tarfile.TarInfo]:
    """Members that stay inside ``where`` and are plain files or folders (no links, devices)."""
    base = where.resolve()
    for m in tar.getmembers():
        target = (base / m.name).resolve()
        if base not in target.parents and target != base:
            raise DownloadError(f"archive member {m.name!r} would be written outside {where}")
        if not (m.isfile() or m.isdir()):
            raise DownloadError(f"archive member {m.name!r} is not a plain file or folder")
        yield m


def extract_subset(archive: str | Path, root: str | Path, subset: str, checksum: str) -> Path:
    """Extract ``archive`` (holding ``LibriSpeech/<subset>/...``) and move the subset into place atomically."""
    root = Path(root)
    final = subset_dir(root, subset)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{subset}-", dir=final.parent))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(tmp, members=list(_safe_members(tar, tmp)))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DownloadError(f"{archive}: cannot extract ({exc})") from exc
        inner = tmp / ARCHIVE_FOLDER / subset
        if not inner.is_dir():
            raise DownloadError(f"{archive}: has no {ARCHIVE_FOLDER}/{subset}/ folder")
        # Other top-level files of the archive (README, SPEAKERS.TXT, ...) go beside the subsets.
        for extra in (tmp / ARCHIVE_FOLDER).iterdir():
            if extra.is_file() and not (final.parent / extra.name).exists():
                os.replace(extra, final.parent / extra.name)
        (inner / COMPLETE_MARKER).write_text(checksum + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)  # a previous, unmarked (incomplete) copy
        os.replace(inner, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def download_librispeech(
    subsets: Iterable[str],
    root: str | Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    checksums: dict[str, str] | None = None,
    keep_archive: bool = False,
    progress: Callable[[str], Progress | None] | None = None,
) -> list[Path]:
    """Make ``<root>/LibriSpeech/<subset>`` exist for every subset; returns those folders.

    ``checksums`` maps a subset to its SHA-256 (64 hex digits) or MD5 (32 hex digits); subsets
    not in it use :data:`LIBRISPEECH_SHA256`. A subset with no known checksum is refused.
    """
    root = Path(root)
    table = {**LIBRISPEECH_SHA256, **(checksums or {})}
    out: list[Path] = []
    for subset in subsets:
        if is_complete(root, subset):
            out.append(subset_dir(root, subset))
            continue
        expected = table.get(subset)
        if expected is None:
            raise DownloadError(
                f"no checksum known for LibriSpeech subset {subset!r}; known: {', '.join(sorted(table))}"
            )
        expected = expected.lower()
        digest = {64: sha256_of, 32: md5_of}.get(len(expected))
        if digest is None:
            raise DownloadError(f"checksum for {subset!r} is neither SHA-256 nor MD5: {expected!r}")
        archive = root / ".downloads" / f"{subset}.tar.gz"
        if not archive.exists():
            part = archive.with_name(archive.name + ".part")
            url = f"{base_url.rstrip('/')}/{subset}.tar.gz"
            fetch(url, part, progress=progress(subset) if progress else None)
            got = digest(part)
            if got != expected:
                part.unlink()
                raise DownloadError(
                    f"{url}: checksum mismatch (expected {expected}, got {got}); the partial file was "
                    "deleted, run again to download it anew"
                )
            os.replace(part, archive)
        else:
            got = digest(archive)
            if got != expected:
                archive.unlink()
                raise DownloadError(f"{archive}: checksum mismatch (expected {expected}, got {got}); deleted it")
        out.append(extract_subset(archive, root, subset, expected))
        if not keep_archive:
            archive.unlink()
    return out
