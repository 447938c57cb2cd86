"""Aligners: LM token features -> codec frames (``features [T, D]`` + ``mask [T]``).

The official code compares LM token i with codec frame i (docs/parity.md). The default
here, ``timestamps``, uses the STT's word timings instead.

Frame f spans ``[f * h, (f + 1) * h)`` seconds, ``h = hop / sample_rate``. Where several tokens
land on one frame, the frame holds their mean. Frames that receive no token hold ``fill`` and are
``False`` in the mask (the distillation loss may exclude them: ``losses.distillation.mask_silence``).
"""

from __future__ import annotations

import math

import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces_teachers import AlignedFeatures, TokenFeatures, Transcript


class _Accumulator:
    """Sum and count per frame; ``result()`` averages where several tokens landed."""

    def __init__(self, num_frames: int, dim: int) -> None:
        self.sum = torch.zeros(num_frames, dim)
        self.count = torch.zeros(num_frames)

    def add(self, frames: range, feature: torch.Tensor) -> None:
        if len(frames):
            self.sum[frames.start : frames.stop] += feature
            self.count[frames.start : frames.stop] += 1

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.count > 0
        feats = self.sum / self.count.clamp_min(1).unsqueeze(1)
        return feats, mask


def word_frames(start: float, end: float, num_frames: int, frame_seconds: float) -> range:
    """Frames overlapping ``[start, end)``; a zero-length word gets the frame containing ``start``.

    Clamped to the utterance; a word entirely after the last frame gets no frame.
    """
    first = math.floor(start / frame_seconds + 1e-9)
    last = math.ceil(end / frame_seconds - 1e-9)  # exclusive
    last = max(last, first + 1)
    first, last = max(first, 0), min(last, num_frames)
    return range(first, max(first, last))


def _fill_nearest(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Copy each unmasked frame from the nearest masked frame (ties -> the earlier one)."""
    idx = torch.nonzero(mask).flatten()
    if idx.numel() == 0:
        return feats
    t = torch.arange(feats.shape[0])
    pos = torch.searchsorted(idx, t).clamp(max=idx.numel() - 1)
    prev = (pos - 1).clamp(min=0)
    use_prev = (t - idx[prev]).abs() <= (idx[pos] - t).abs()
    nearest = torch.where(use_prev, idx[prev], idx[pos])
    return feats[nearest]


class TimestampAligner:
    """``timestamps`` (default): each token goes to the frames its word spans.

    A word's frames are those overlapping its ``[start, end)`` from the STT word timings. Its k
    tokens (special tokens dropped) share them in order: token j of k gets frames
    ``[floor(j m / k), floor((j+1) m / k))`` of the word's m frames, so token order survives
    inside the word; when m < k, tokens that fall on the same frame are averaged. Overlapping
    words (Whisper's timings sometimes overlap) are averaged on the shared frames.

    ``fill``: ``"zeros"`` (default) puts zeros on frames between words; ``"nearest"`` copies the
    nearest word frame's features. Either way, ``mask`` is ``False`` there.
    """

    needs_timings = True

    def __init__(self, fill: str = "zeros") -> None:
        if fill not in ("zeros", "nearest"):
            raise ConfigError(f"aligner timestamps: fill must be 'zeros' or 'nearest', got {fill!r}")
        self.fill = fill

    def __call__(
        self, tokens: TokenFeatures, transcript: Transcript, num_frames: int, frame_seconds: float
    ) -> AlignedFeatures:
        acc = _Accumulator(num_frames, tokens.features.shape[1])
        word_of = tokens.word_index(transcript)
        by_word: dict[int, list[int]] = {}
        for i, w in enumerate(word_of.tolist()):
            if w >= 0:
                by_word.setdefault(w, []).append(i)
        without_tokens = sum(1 for k in range(len(transcript.words)) if k not in by_word)
        outside = 0
        for w, tok_ids in by_word.items():
            word = transcript.words[w]
            frames = word_frames(word.start, word.end, num_frames, frame_seconds)
            m, k = len(frames), len(tok_ids)
            if m == 0:
                outside += 1
                continue
            for j, tok in enumerate(tok_ids):
                a = (j * m) // k
                b = max(((j + 1) * m) // k, a + 1)
                acc.add(range(frames.start + a, frames.start + b), tokens.features[tok])
        feats, mask = acc.result()
        if self.fill == "nearest":
            feats = _fill_nearest(feats, mask)
        info = {"words_without_tokens": without_tokens, "words_outside_audio": outside}
        return AlignedFeatures(feats, mask, info)


class InterpolateAligner:
    """``interpolate``: stretch the n non-special tokens uniformly over the T frames (no timings).

    Token i covers frames ``[floor(i T / n), floor((i+1) T / n))`` (at least its first frame);
    with n > T several tokens share a frame and are averaged. Every frame is covered (mask all
    ``True``) unless the text has no token.
    """

    needs_timings = False

    def __call__(
        self, tokens: TokenFeatures, transcript: Transcript, num_frames: int, frame_seconds: float
    ) -> AlignedFeatures:
        keep = torch.nonzero(~tokens.special).flatten().tolist()
        acc = _Accumulator(num_frames, tokens.features.shape[1])
        n, T = len(keep), num_frames
        for i, tok in enumerate(keep):
            a = (i * T) // n
            b = max(((i + 1) * T) // n, a + 1)
            acc.add(range(a, b), tokens.features[tok])
        feats, mask = acc.result()
        return AlignedFeatures(feats, mask, {})


def register_aligners(register) -> None:
    register("timestamps", TimestampAligner, "Each LM token on the frames its word spans (STT word timings)")
    register("interpolate", InterpolateAligner, "Stretch the LM tokens uniformly over the codec frames")


__all__ = ["InterpolateAligner", "TimestampAligner", "word_frames"]
