"""Interfaces of the teachers and aligners: what they exchange with the teacher cache.

Every teacher plugin produces one of these types and the cache builder (plugins/recipes/teacher_cache/build.py)
consumes them; they live in core so that a third-party teacher needs nothing but core to implement
one. A teacher declares its role with ``role``: ``"stt"`` (speech to text with word timings),
``"lm"`` (text to per-token features) or ``"sm"`` (speech to per-frame features). An aligner puts an
LM's token features on the codec's frames.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Protocol, runtime_checkable

import torch


@dataclass
class WordTiming:
    """One word of a transcript: its text, its time span in seconds and its character span in the text."""

    word: str
    start: float
    end: float
    char_start: int
    char_end: int


@dataclass
class Transcript:
    """Text plus word timings. ``words[i]`` covers ``text[char_start:char_end]``.

    ``source`` says where text and timings came from (the STT teacher's registry name, or
    ``dataset+`` and how the dataset's words were timed); ``notes`` records anything a user should
    know (dropped characters, words whose timing was interpolated).
    """

    text: str
    words: list[WordTiming]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_words(
        cls,
        words: Iterable[tuple[str, float, float]],
        joiners: Iterable[str] | None = None,
        source: str = "",
        notes: list[str] | None = None,
    ) -> "Transcript":
        """Build the text from words; ``joiners[i]`` goes before word i (default: one space).

        Recognisers whose pieces carry their own leading whitespace (``" Hello"``, ``"-fattened"``)
        pass it as joiners, so that ``flower-fattened`` stays one piece of text with two timed words.
        """
        words = [(str(w).strip(), float(s), float(e)) for w, s, e in words]
        joins = list(joiners) if joiners is not None else [" "] * len(words)
        if len(joins) != len(words):
            raise ValueError("joiners and words differ in length")
        text, timed = "", []
        for (w, s, e), j in zip(words, joins):
            if not w:
                continue
            text += j if text else ""
            timed.append(WordTiming(w, s, max(s, e), len(text), len(text) + len(w)))
            text += w
        return cls(text, timed, source, list(notes or []))

    @classmethod
    def from_text(cls, text: str, source: str = "dataset") -> "Transcript":
        """Whitespace-separated words of ``text`` with unknown (zero) timings."""
        words = [WordTiming(m.group(), 0.0, 0.0, m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        return cls(text, words, source)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "words": [asdict(w) for w in self.words], "source": self.source, "notes": self.notes}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Transcript":
        words = [WordTiming(**w) for w in obj["words"]]
        return cls(obj["text"], words, obj.get("source", ""), list(obj.get("notes", [])))

    def word_of_char(self, index: int) -> int:
        """Index of the word whose character span contains ``index``, or -1."""
        starts = [w.char_start for w in self.words]
        i = bisect.bisect_right(starts, index) - 1
        if i >= 0 and index < self.words[i].char_end:
            return i
        return -1


@dataclass
class TokenFeatures:
    """An LM's per-token features for one text, special tokens included.

    ``offsets[i]`` is token i's character span in the text (``(0, 0)`` for special tokens);
    ``special[i]`` marks special tokens (``[CLS]``, ``[SEP]``...), which belong to no word.
    """

    features: torch.Tensor  # [n, D] float32
    offsets: torch.Tensor  # [n, 2] int64
    special: torch.Tensor  # [n] bool
    tokens: list[str]
    unk_token: str | None = None

    @property
    def unk_count(self) -> int:
        return sum(t == self.unk_token for t in self.tokens) if self.unk_token else 0

    def word_index(self, transcript: Transcript) -> torch.Tensor:
        """Word of each token (by its first character), -1 for special tokens and tokens outside words."""
        out = []
        for (a, b), sp in zip(self.offsets.tolist(), self.special.tolist()):
            out.append(-1 if sp or b <= a else transcript.word_of_char(a))
        return torch.tensor(out, dtype=torch.long)


@dataclass
class AlignedFeatures:
    """Teacher features on codec frames: ``features [T, D]``; ``mask [T]`` marks frames that carry a token."""

    features: torch.Tensor
    mask: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SpeechToText(Protocol):
    """``role = "stt"``. Mono float audio ``[N]`` at ``sample_rate`` in, :class:`Transcript` out."""

    role: str
    sample_rate: int

    def transcribe(self, wav: torch.Tensor) -> Transcript: ...

    def align(self, wav: torch.Tensor, text: str) -> Transcript:
        """Word timings for a *given* text (forced alignment, or transcription + word matching)."""
        ...


@runtime_checkable
class TextEncoder(Protocol):
    """``role = "lm"``: text -> :class:`TokenFeatures`."""

    role: str
    dimension: int

    def encode(self, text: str) -> TokenFeatures: ...


@runtime_checkable
class SpeechEncoder(Protocol):
    """``role = "sm"``: audio ``[N]`` at ``sample_rate`` -> features ``[num_frames, D]`` on codec frames."""

    role: str
    sample_rate: int
    dimension: int

    def encode(self, wav: torch.Tensor, num_frames: int, frame_seconds: float) -> torch.Tensor: ...


@runtime_checkable
class Aligner(Protocol):
    """Token features -> codec frames. ``needs_timings`` says whether word timings are used."""

    needs_timings: bool

    def __call__(
        self, tokens: TokenFeatures, transcript: Transcript, num_frames: int, frame_seconds: float
    ) -> AlignedFeatures: ...
