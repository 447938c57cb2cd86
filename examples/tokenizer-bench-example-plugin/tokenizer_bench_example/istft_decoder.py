"""A Vocos-style decoder: latent frames -> STFT frames (log-magnitude and phase) -> inverse STFT.

Vocos (Siuzdak, 2023) predicts each frame's spectrum and lets an inverse STFT produce the
samples, instead of upsampling with transposed convolutions. This one is the smallest version of
that idea (two convolutions, no ConvNeXt backbone), enough to show a decoder from a separate
package composed into the ``codec`` tokenizer: it declares ``hop_length`` and receives the
encoder's from the codec (docs/components.md, "Writing a decoder"), so a config never repeats it.
"""

from __future__ import annotations

import torch
from torch import nn


class ISTFTDecoder(nn.Module):
    """Latent ``[B, D, T]`` -> waveform ``[B, 1, T * hop_length]`` through an inverse STFT."""

    def __init__(self, dimension: int, hop_length: int, hidden: int = 64, n_fft_per_hop: int = 4,
                 kernel_size: int = 3) -> None:
        super().__init__()
        if hop_length < 1 or n_fft_per_hop < 1:
            raise ValueError(f"hop_length and n_fft_per_hop must be positive, got {hop_length}, {n_fft_per_hop}")
        self.dimension = dimension
        self.hop_length = hop_length
        self.n_fft = n_fft_per_hop * hop_length
        bins = self.n_fft // 2 + 1
        self.body = nn.Sequential(
            nn.Conv1d(dimension, hidden, kernel_size, padding=kernel_size // 2),
            nn.GELU(),
            nn.Conv1d(hidden, 2 * bins, 1),
        )
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        log_mag, phase = self.body(latent).float().chunk(2, dim=1)  # [B, bins, T] each
        spec = torch.polar(torch.exp(log_mag.clamp(max=10.0)), phase)
        frames = latent.shape[-1]
        wav = torch.istft(spec, self.n_fft, hop_length=self.hop_length, window=self.window, center=True,
                          length=frames * self.hop_length)
        return wav.unsqueeze(1)
