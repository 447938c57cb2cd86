"""Kaldi log-mel filter banks in plain torch: what X-Codec2 and NeuCodec feed their semantic encoder.

Why here: their transformers feature extractors call ``torchaudio.compliance.kaldi.fbank``, and
torchaudio is not a dependency of this project (it crashes on import on some installs and pins
torch). The computation is small and fully specified by Kaldi's ``compute-fbank-feats``, with the
options those extractors pass (``snip_edges=True``, 25 ms frames every 10 ms at 16 kHz, Povey
window, DC removal, pre-emphasis 0.97, no dither, power spectrum, 80 triangular filters equally
spaced on Kaldi's mel scale ``1127 ln(1 + f / 700)`` between 20 Hz and Nyquist, natural log floored
at float32 epsilon, no energy). It is batched (one call for ``[B, N]``) and runs on any device.
tests/plugins/tokenizers/test_kaldi_fbank.py checks it against transformers' numpy implementation
(``SeamlessM4TFeatureExtractor``, what the original X-Codec2 code used) on LibriSpeech audio.
"""

from __future__ import annotations

import math

import torch

EPS = torch.finfo(torch.float32).eps


def _mel(f: torch.Tensor | float) -> torch.Tensor:
    return 1127.0 * torch.log1p(torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_banks(num_bins: int, n_fft: int, sample_rate: int, low_freq: float, high_freq: float) -> torch.Tensor:
    """``[num_bins, n_fft // 2 + 1]`` triangles on Kaldi's mel scale (the Nyquist column is zero, as in Kaldi)."""
    half = n_fft // 2
    freqs = torch.arange(half, dtype=torch.float64) * sample_rate / n_fft
    mel = _mel(freqs)
    lo, hi = _mel(low_freq), _mel(high_freq)
    delta = (hi - lo) / (num_bins + 1)
    left = lo + delta * torch.arange(num_bins, dtype=torch.float64)
    center, right = left + delta, left + 2 * delta
    up = (mel[None] - left[:, None]) / (center - left)[:, None]
    down = (right[:, None] - mel[None]) / (right - center)[:, None]
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1))


def fbank(wav: torch.Tensor, sample_rate: int = 16000, num_mel_bins: int = 80, frame_length: int = 400,
          frame_shift: int = 160, preemphasis: float = 0.97, low_freq: float = 20.0,
          high_freq: float | None = None) -> torch.Tensor:
    """``wav [B, N]`` (already scaled, e.g. x 2**15) -> log-mel ``[B, frames, num_mel_bins]`` (float32).

    ``frames = 1 + (N - frame_length) // frame_shift`` (``snip_edges``); N < frame_length gives 0 frames.
    """
    x = wav.to(torch.float64)
    if x.shape[-1] < frame_length:
        return x.new_zeros(x.shape[0], 0, num_mel_bins).float()
    frames = x.unfold(-1, frame_length, frame_shift)  # [B, F, L]
    frames = frames - frames.mean(dim=-1, keepdim=True)
    shifted = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
    frames = frames - preemphasis * shifted
    n = torch.arange(frame_length, dtype=torch.float64, device=x.device)
    window = (0.5 - 0.5 * torch.cos(2 * math.pi * n / (frame_length - 1))) ** 0.85
    n_fft = 1 << (frame_length - 1).bit_length()
    spectrum = torch.fft.rfft(frames * window, n=n_fft).abs() ** 2  # [B, F, n_fft/2+1]
    banks = mel_banks(num_mel_bins, n_fft, sample_rate, low_freq,
                      sample_rate / 2 if high_freq is None else high_freq).to(x.device)
    energies = spectrum @ banks.T
    return torch.log(torch.clamp(energies, min=EPS)).float()


def normalise(features: torch.Tensor) -> torch.Tensor:
    """Per example, per bin: zero mean, unit (unbiased) variance over frames, ``+1e-7`` in the root."""
    return (features - features.mean(dim=-2, keepdim=True)) / torch.sqrt(
        features.var(dim=-2, unbiased=True, keepdim=True) + 1e-7)


__all__ = ["fbank", "mel_banks", "normalise"]
