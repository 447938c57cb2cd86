"""Spectral helpers shared by the reconstruction losses: cached mel filters and windows, STFT magnitude.

Mel filterbanks come from ``transformers.audio_utils.mel_filter_bank`` (torchaudio is unusable
here); it is imported lazily because transformers is heavy. Filters and windows are built once
per setting (numpy, ``lru_cache``) and once per device/dtype (a small dict on the owning loss).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


@lru_cache(maxsize=64)
def _mel_filters_numpy(
    n_freqs: int, n_mels: int, sample_rate: int, f_min: float, f_max: float, norm: str | None, mel_scale: str
) -> np.ndarray:
    from transformers.audio_utils import mel_filter_bank

    with warnings.catch_warnings():
        # Small FFTs with many mel bins (the paper's 2^5 window with 64 mels) leave some filters
        # empty; that is a property of the configuration, not an error, so don't warn every build.
        warnings.filterwarnings("ignore", message=".*mel filter has all zero values.*")
        fb = mel_filter_bank(
            num_frequency_bins=n_freqs, num_mel_filters=n_mels, min_frequency=float(f_min),
            max_frequency=float(f_max), sampling_rate=int(sample_rate), norm=norm, mel_scale=mel_scale,
        )
    return np.ascontiguousarray(fb.T, dtype=np.float64)  # [n_mels, n_freqs]


class SpectralCache:
    """Per-loss cache of mel filterbanks ``[n_mels, n_fft//2+1]`` and Hann windows, keyed by device/dtype."""

    def __init__(
        self, sample_rate: int, n_mels: int, f_min: float, f_max: float | None, norm: str | None, mel_scale: str
    ) -> None:
        if f_max is not None and f_max > sample_rate / 2:
            raise ValueError(f"f_max={f_max} exceeds the Nyquist frequency {sample_rate / 2}")
        if norm not in (None, "slaney"):
            raise ValueError(f"mel norm must be None or 'slaney', got {norm!r}")
        if mel_scale not in ("htk", "slaney", "kaldi"):
            raise ValueError(f"mel_scale must be 'htk', 'slaney' or 'kaldi', got {mel_scale!r}")
        self.sample_rate, self.n_mels = int(sample_rate), int(n_mels)
        self.f_min, self.f_max = float(f_min), float(sample_rate / 2 if f_max is None else f_max)
        self.norm, self.mel_scale = norm, mel_scale
        self._tensors: dict[tuple, torch.Tensor] = {}

    def mel(self, n_fft: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = ("mel", n_fft, device, dtype)
        if key not in self._tensors:
            fb = _mel_filters_numpy(
                n_fft // 2 + 1, self.n_mels, self.sample_rate, self.f_min, self.f_max, self.norm, self.mel_scale
            )
            self._tensors[key] = torch.from_numpy(fb).to(device=device, dtype=dtype)
        return self._tensors[key]

    def window(self, win_length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = ("hann", win_length, device, dtype)
        if key not in self._tensors:
            self._tensors[key] = torch.hann_window(win_length, device=device, dtype=dtype)
        return self._tensors[key]


def full_frame_padding(length: int, n_fft: int, hop_length: int) -> int:
    """Zeros to append to ``length`` samples so that the last ``n_fft`` frame is full.

    audiocraft's ``pad_for_conv1d``: after the ``(n_fft - hop)//2`` reflect padding on each side,
    a signal of N samples then gives ceil(N / hop) frames (for hop = n_fft/4).
    """
    frames = max(1, math.ceil((length - n_fft) / hop_length) + 1)
    return (frames - 1) * hop_length + n_fft - length


def stft_magnitude(
    wav: torch.Tensor,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    *,
    normalized: bool,
    eps: float = 0.0,
    full_frames: bool = False,
) -> torch.Tensor:
    """|STFT| of ``wav[B, N]`` as ``[B, n_fft//2+1, frames]``.

    Framing follows the official DM-Codec loss: reflect padding of ``(n_fft - hop)//2`` samples on
    both sides, then ``center=False``, so a signal of N samples gives about N/hop frames.
    ``full_frames`` then appends zeros so the last frame is full (audiocraft's mel losses; see
    :func:`full_frame_padding`). ``normalized`` divides by the window's L2 norm (torchaudio's
    ``normalized=True``); ``eps`` is added to the magnitude (the official code adds 1e-9 before the
    mel projection).
    """
    pad = int((n_fft - hop_length) / 2)
    if wav.shape[-1] <= pad:
        raise ValueError(f"a signal of {wav.shape[-1]} samples is too short for n_fft={n_fft} (needs > {pad})")
    x = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    if full_frames:
        x = F.pad(x, (0, full_frame_padding(x.shape[-1], n_fft, hop_length)))
    if x.shape[-1] < n_fft:
        raise ValueError(f"a signal of {wav.shape[-1]} samples is too short for n_fft={n_fft}")
    spec = torch.stft(
        x, n_fft, hop_length=hop_length, win_length=window.shape[0], window=window,
        center=False, normalized=False, onesided=True, return_complex=True,
    ).abs()
    if normalized:
        spec = spec / window.pow(2).sum().sqrt()
    return spec + eps if eps else spec
