"""Listing the utterances of a corpus: LibriSpeech folders, JSONL manifests and plain audio folders.

Listing only reads directory entries, transcript files and manifests; it never decodes audio, so
listing train-clean-100 (28k files) takes a second. A missing or corrupt audio file surfaces
later, when it is read, as an :class:`~tokenizer_bench.core.errors.AudioError` naming the file
(the teacher cache and the dataset skip it and report it).

Formats (``format="auto"`` picks one per source):

* ``manifest`` — a ``.jsonl`` file, one JSON object per line with ``path`` (relative to the
  manifest's folder, or absolute) and optional ``id`` (default: the file name without extension),
  ``text``, ``num_samples``, ``sample_rate``. Other keys (``subset``, ``speaker``...) are ignored.
  Blank lines are allowed.
* ``librispeech`` — ``<root>/[subset/]speaker/chapter/<speaker>-<chapter>-<n>.flac`` with
  optional ``<speaker>-<chapter>.trans.txt`` (``ID TRANSCRIPT`` per line). ``auto`` picks it for a
  folder holding ``*.trans.txt`` files or FLAC files named like LibriSpeech ids.
* ``folder`` — any folder of audio files (searched recursively); the id is the path relative to
  the folder without its extension; an optional ``<name>.txt`` beside ``<name>.wav`` is its text.

The result is sorted by id (deterministic whatever the file system's order); ids must be unique
across all sources.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tokenizer_bench.core.audio import AUDIO_EXTENSIONS
from tokenizer_bench.core.errors import ConfigError

FORMATS = ("auto", "librispeech", "manifest", "folder")
_LIBRISPEECH_ID = re.compile(r"^\d+-\d+-\d+$")


@dataclass
class Utterance:
    """One audio file and what is known about it without decoding it."""

    id: str
    path: Path
    text: str | None
    num_samples: int | None = None
    sample_rate: int | None = None

    @property
    def duration(self) -> float | None:
        """Seconds, when the listing knew the length (manifests do; folders do not)."""
        if self.num_samples is None or not self.sample_rate:
            return None
        return self.num_samples / self.sample_rate


def list_utterances(
    sources: Iterable[str | Path] | str | Path,
    format: str = "auto",
    max_utterances: int | None = None,
) -> list[Utterance]:
    """All utterances of ``sources`` (folders and/or manifests), sorted by id.

    ``max_utterances`` keeps the first N after sorting (a deterministic subset for quick runs).
    Raises :class:`ConfigError` naming the source (and line) for a missing source, a source with no
    audio, a malformed manifest line or transcript line, and a duplicate id.
    """
    if format not in FORMATS:
        raise ConfigError(f"data.format: unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if isinstance(sources, (str, Path)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise ConfigError("data: no sources given (expected LibriSpeech folders, audio folders or JSONL manifests)")
    if max_utterances is not None and max_utterances < 1:
        raise ConfigError(f"data.max_utterances must be at least 1, got {max_utterances}")

    seen: dict[str, Path] = {}
    found: list[Utterance] = []
    for source in sources:
        path = Path(source).expanduser()
        if not path.exists():
            raise ConfigError(f"data source {str(source)!r} does not exist")
        kind = _detect(path) if format == "auto" else format
        if kind == "manifest":
            utts = _read_manifest(path)
        elif kind == "librispeech":
            utts = _read_librispeech(path)
        else:
            utts = _read_folder(path)
        if not utts:
            raise ConfigError(f"data source {str(path)!r} ({kind}): no utterances found")
        for u in utts:
            if u.id in seen:
                raise ConfigError(
                    f"duplicate utterance id {u.id!r}: {seen[u.id]} and {u.path} (ids must be unique across data "
                    "sources)"
                )
            seen[u.id] = u.path
            found.append(u)
    found.sort(key=lambda u: u.id)
    return found[:max_utterances] if max_utterances is not None else found


# --------------------------------------------------------------------------- detection
def _detect(path: Path) -> str:
    if path.is_file():
        if path.suffix.lower() in (".jsonl", ".json"):
            return "manifest"
        raise ConfigError(
            f"data source {str(path)!r} is a file but not a .jsonl manifest; pass its folder, or set data.format"
        )
    if next(path.rglob("*.trans.txt"), None) is not None:
        return "librispeech"
    for flac in path.rglob("*.flac"):
        return "librispeech" if _LIBRISPEECH_ID.match(flac.stem) else "folder"
    return "folder"


def _audio_files(root: Path) -> list[Path]:
    """Audio files under ``root``, sorted; a symbolic link that points nowhere is listed too, so the
    reader reports it ("broken symbolic link") instead of it vanishing from the data without a word."""
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in AUDIO_EXTENSIONS and (p.is_file() or (p.is_symlink() and not p.exists())))


# --------------------------------------------------------------------------- readers
def _read_manifest(path: Path) -> list[Utterance]:
    if not path.is_file():
        raise ConfigError(f"manifest {str(path)!r} is not a file")
    base = path.parent
    out: list[Utterance] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read manifest ({exc})") from exc
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        raw_path = obj.get("path")
        if not isinstance(raw_path, str) or not raw_path:
            raise ConfigError(f"{where}: missing or empty 'path' (the audio file, relative to {base} or absolute)")
        audio = Path(raw_path).expanduser()
        if not audio.is_absolute():
            audio = base / audio
        uid = obj.get("id", Path(raw_path).stem)
        if not isinstance(uid, str) or not uid:
            raise ConfigError(f"{where}: 'id' must be a non-empty string, got {uid!r}")
        text = obj.get("text")
        if text is not None and not isinstance(text, str):
            raise ConfigError(f"{where}: 'text' must be a string or null, got {type(text).__name__}")
        num_samples = _opt_int(obj, "num_samples", where)
        sample_rate = _opt_int(obj, "sample_rate", where)
        out.append(Utterance(uid, audio, text, num_samples, sample_rate))
    return out


def _opt_int(obj: dict, key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {key!r} must be a non-negative integer, got {value!r}")
    return value


def _read_librispeech(root: Path) -> list[Utterance]:
    if not root.is_dir():
        raise ConfigError(f"LibriSpeech source {str(root)!r} is not a folder")
    texts: dict[str, str] = {}
    for trans in sorted(root.rglob("*.trans.txt")):
        texts.update(_read_trans(trans))
    out = []
    for audio in _audio_files(root):
        uid = audio.stem
        out.append(Utterance(uid, audio, texts.get(uid)))
    return out


def _read_trans(path: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read transcript file ({exc})") from exc
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        uid, sep, text = line.strip().partition(" ")
        if not sep:
            raise ConfigError(f"{path}:{lineno}: expected 'UTTERANCE-ID TRANSCRIPT', got {line.strip()[:60]!r}")
        texts[uid] = text.strip()
    return texts


def _read_folder(root: Path) -> list[Utterance]:
    if root.is_file():
        return [Utterance(root.stem, root, _sidecar_text(root))]
    out = []
    for audio in _audio_files(root):
        uid = audio.relative_to(root).with_suffix("").as_posix()
        out.append(Utterance(uid, audio, _sidecar_text(audio)))
    return out


def _sidecar_text(audio: Path) -> str | None:
    txt = audio.with_suffix(".txt")
    if not txt.is_file():
        return None
    try:
        return txt.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{txt}: cannot read transcript ({exc})") from exc
