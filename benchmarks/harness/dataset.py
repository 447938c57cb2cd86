"""Evaluation sets and the reproducible sample the paper's protocol asks for.

Sources are read with :func:`tokenizer_bench.core.data.corpus.list_utterances`: a LibriSpeech
folder (any level: the corpus root, ``test-other``, one speaker), a JSONL manifest (``path``
relative to the manifest or absolute, optional ``id`` and ``text``) or a folder of audio files.

Sampling procedure (``--num-samples K --seed S``), chosen so it is reproducible on any machine
and Python/numpy version, and so a larger sample contains every smaller one with the same seed:

1. list every utterance of the sources (ids must be unique);
2. give each the key ``SHA-256("S:" + id)`` (hex digest, compared as a string);
3. keep the K utterances with the smallest keys;
4. evaluate them in id order.

The paper (DM-Codec: 300 utterances of LibriSpeech test, seed 42) gives neither its utterance
list nor its sampling code, so its exact 300 cannot be recovered; the list this harness draws is
written with the results (``utterances.jsonl``) so that our own figures can be reproduced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.io import write_text_atomic


@dataclass(frozen=True)
class EvalUtterance:
    """One evaluation utterance; ``text`` is None when no reference transcript is known."""

    id: str
    path: str
    text: str | None

    def to_json(self) -> dict:
        return {"id": self.id, "path": self.path, "text": self.text}


def load_eval_set(sources: Iterable[str | Path]) -> list[EvalUtterance]:
    """All utterances of ``sources`` sorted by id (ConfigError names a bad source)."""
    from tokenizer_bench.core.data.corpus import list_utterances

    utts = list_utterances(list(sources))
    return [EvalUtterance(u.id, str(Path(u.path).resolve()), u.text) for u in utts]


def sample_key(seed: int, utterance_id: str) -> str:
    """Ordering key of an utterance in the seeded draw (see module docstring)."""
    return hashlib.sha256(f"{int(seed)}:{utterance_id}".encode("utf-8")).hexdigest()


def sample_utterances(utts: Sequence[EvalUtterance], num_samples: int | None, seed: int) -> list[EvalUtterance]:
    """The seeded sample of ``num_samples`` utterances in id order (all of them when None)."""
    if num_samples is None:
        return sorted(utts, key=lambda u: u.id)
    if num_samples < 1:
        raise ConfigError(f"--num-samples must be at least 1, got {num_samples}")
    if num_samples > len(utts):
        raise ConfigError(
            f"--num-samples {num_samples} exceeds the {len(utts)} utterances of the evaluation set; "
            "lower it or omit it to use every utterance"
        )
    chosen = sorted(utts, key=lambda u: sample_key(seed, u.id))[:num_samples]
    return sorted(chosen, key=lambda u: u.id)


def write_utterance_list(path: str | Path, utts: Sequence[EvalUtterance]) -> Path:
    """The evaluated utterances as JSONL (id, path, text), written atomically."""
    import json

    text = "".join(json.dumps(u.to_json(), ensure_ascii=False) + "\n" for u in utts)
    return write_text_atomic(path, text)


def read_utterance_list(path: str | Path) -> list[EvalUtterance]:
    import json

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: utterance list not found (was this folder written by `compare`?)")
    out = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append(EvalUtterance(obj["id"], obj["path"], obj.get("text")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{p}:{lineno}: malformed utterance line ({exc})") from None
    return out


def audio_duration(path: str | Path) -> float | None:
    """Duration in seconds from the file header (no decoding); None when unreadable."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # unreadable files are reported when they are loaded
        return None
    return info.frames / info.samplerate if info.samplerate else None


def pick_examples(utts: Sequence[EvalUtterance], k: int) -> list[str]:
    """Ids of the ``k`` shortest utterances (ties by id): audio players in the HTML report."""
    if k <= 0:
        return []
    timed = [(audio_duration(u.path), u.id) for u in utts]
    timed = [(d, i) for d, i in timed if d is not None]
    timed.sort()
    return [i for _, i in timed[:k]]
