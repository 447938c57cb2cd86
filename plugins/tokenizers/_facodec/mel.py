"""Log-mel front end of FACodec V2 (its prosody features), without librosa or torchaudio.

The official module builds a librosa mel filterbank (Slaney mel scale, Slaney area
normalisation: sr 16 kHz, n_fft 1024, 80 mels, 0-8000 Hz) and a periodic Hann window, both
registered as state-dict buffers (``mel_basis [80, 513]``, ``hann_window [800]``). The same
filterbank comes from ``transformers.audio_utils.mel_filter_bank(norm="slaney",
mel_scale="slaney")``. Loading a checkpoint overwrites both buffers with the stored values
anyway; the computed ones matter for freshly built models.

Spectrogram: reflect-pad ``(n_fft - hop) / 2`` on both sides, STFT without centring,
magnitude ``sqrt(re^2 + im^2 + 1e-9)``, mel projection, ``log(clamp(., 1e-5))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def slaney_mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """``[n_mels, n_fft // 2 + 1]`` float32 filterbank equal to ``librosa.filters.mel`` defaults."""
    from transformers.audio_utils import mel_filter_bank  # heavy import, only when building

    bank = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=fmin,
        max_frequency=fmax,
        sampling_rate=sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(bank.T.copy()).float()


class LogMelSpectrogram(nn.Module):
    def __init__(self, n_fft: int = 1024, num_mels: int = 80, sampling_rate: int = 16000, hop_size: int = 200,
                 win_size: int = 800, fmin: float = 0.0, fmax: float = 8000.0) -> None:
        super().__init__()
        self.n_fft, self.hop_size, self.win_size = n_fft, hop_size, win_size
        device = torch.get_default_device()
        self.register_buffer("mel_basis", slaney_mel_basis(sampling_rate, n_fft, num_mels, fmin, fmax).to(device))
        self.register_buffer("hann_window", torch.hann_window(win_size, device="cpu").to(device))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``y [B, N]`` -> log-mel ``[B, num_mels, frames]`` with ``frames = (N - hop) // hop + 1``."""
        pad = (self.n_fft - self.hop_size) // 2
        y = F.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            y,
            self.n_fft,
            hop_length=self.hop_size,
            win_length=self.win_size,
            window=self.hann_window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        spec = torch.view_as_real(spec)
        mag = torch.sqrt(spec.pow(2).sum(-1) + 1e-9)
        return torch.log(torch.clamp(self.mel_basis @ mag, min=1e-5))
