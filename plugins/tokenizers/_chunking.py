"""Bounded-memory encode/decode for frame-based codecs: sub-batches and overlapping windows.

Memory of a SEANet codec grows linearly with the audio it holds at once (~20 MiB per second of
audio for the paper model, benchmarks/results/peer_comparison.md), so an hour-long file or a big
batch needs tens of GiB in one call. Two levers, both applied only above a size limit:

* **Sub-batches** (exact). Examples are independent (no batch statistics), so a batch is split
  into groups of at most ``max_batch_seconds`` of audio and the outputs concatenated; the
  result is identical to one call.
* **Windows with context** (approximate at window edges). An input longer than
  ``chunk_seconds`` is cut at frame boundaries into windows of ``chunk_seconds``; each window is
  encoded (or decoded) with ``context_seconds`` of real neighbouring audio (frames) on both
  sides, and only its own frames (samples) are kept. Convolutions see exactly the audio they
  would see in one pass when the context covers their receptive field, so a codec without
  recurrence gives identical codes; an LSTM (SEANet has one) carries state across the whole
  input, so a few frames near window edges can differ from a single pass. The default context
  (2 s = 100 frames at 50 Hz) is far beyond the convolutions' receptive field.
"""

from __future__ import annotations

from typing import Callable

import torch


def batch_groups(batch: int, seconds_each: float, max_batch_seconds: float | None) -> list[slice]:
    """Consecutive groups of examples holding at most ``max_batch_seconds`` of audio (at least one each)."""
    if max_batch_seconds is None or batch * seconds_each <= max_batch_seconds:
        return [slice(0, batch)]
    size = max(1, int(max_batch_seconds // max(seconds_each, 1e-9)))
    return [slice(i, min(batch, i + size)) for i in range(0, batch, size)]


def windows(total: int, chunk: int, context: int) -> list[tuple[int, int, int, int]]:
    """``(start, end, window_start, window_end)`` per window over ``total`` units (frames)."""
    out = []
    for start in range(0, total, chunk):
        end = min(total, start + chunk)
        out.append((start, end, max(0, start - context), min(total, end + context)))
    return out


def encode_in_windows(
    encode: Callable[[torch.Tensor], torch.Tensor], wav: torch.Tensor, hop: int, chunk_frames: int,
    context_frames: int,
) -> torch.Tensor:
    """``encode(wav [B,1,N]) -> codes [B,Q,T]`` over windows of ``chunk_frames`` frames.

    A frame ``t`` starts at sample ``t * hop`` and the codec gives ``ceil(N / hop)`` frames, so a
    window over frames ``[ws, we)`` is the audio ``[ws*hop, min(N, we*hop))`` and its own frames are
    rows ``start - ws`` to ``end - ws`` of that window's codes.
    """
    n = wav.shape[-1]
    total = -(-n // hop)
    parts = []
    for start, end, ws, we in windows(total, chunk_frames, context_frames):
        codes = encode(wav[..., ws * hop : min(n, we * hop)])
        if codes.shape[-1] != we - ws:
            raise RuntimeError(
                f"windowed encoding expected {we - ws} frames for {min(n, we * hop) - ws * hop} samples "
                f"(hop {hop}), the codec gave {codes.shape[-1]}; set chunk_seconds: null"
            )
        parts.append(codes[..., start - ws : end - ws])
    return torch.cat(parts, dim=-1)


def decode_in_windows(
    decode: Callable[[torch.Tensor], torch.Tensor], codes: torch.Tensor, hop: int, chunk_frames: int,
    context_frames: int,
) -> torch.Tensor:
    """``decode(codes [B,Q,T]) -> wav [B,1,T*hop]`` over windows of ``chunk_frames`` frames."""
    parts = []
    for start, end, ws, we in windows(codes.shape[-1], chunk_frames, context_frames):
        wav = decode(codes[..., ws:we])
        if wav.shape[-1] != (we - ws) * hop:
            raise RuntimeError(
                f"windowed decoding expected {(we - ws) * hop} samples for {we - ws} frames (hop {hop}), "
                f"the codec gave {wav.shape[-1]}; set chunk_seconds: null"
            )
        parts.append(wav[..., (start - ws) * hop : (end - ws) * hop])
    return torch.cat(parts, dim=-1)
