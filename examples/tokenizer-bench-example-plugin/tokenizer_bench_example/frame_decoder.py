"""A frame decoder: each latent frame predicts its own ``hop_length`` samples directly.

The built-in decoders upsample in stages (SEANet's transposed convolutions) or synthesise
spectra for an inverse STFT (``istft_decoder``). This one is neither: a sub-pixel layer (the
pixel shuffle of ESPCN, Shi et al., 2016, on a 1-D signal) maps every frame to a block of
``hop_length`` samples, and one convolution over the waveform smooths the seams between blocks.
It is deliberately small (a few dozen lines), to show the decoder contract from a separate package
(docs/components.md, "Writing a decoder"): it declares ``hop_length`` and receives the encoder's
from the ``codec`` tokenizer, so a config never repeats it.
"""

from __future__ import annotations

import torch
from torch import nn


class FrameDecoder(nn.Module):
    """Latent ``[B, D, T]`` -> waveform ``[B, 1, T * hop_length]``: frame -> block of samples -> smoothing."""

    def __init__(self, dimension: int, hop_length: int, hidden: int = 64, kernel_size: int = 3,
                 smooth_kernel: int = 9) -> None:
        super().__init__()
        if hop_length < 1:
            raise ValueError(f"hop_length must be positive, got {hop_length}")
        if kernel_size % 2 == 0 or smooth_kernel % 2 == 0:
            raise ValueError(f"kernel sizes must be odd (same-length convolutions), got {kernel_size}, {smooth_kernel}")
        self.dimension = dimension
        self.hop_length = hop_length
        self.frames_to_blocks = nn.Sequential(
            nn.Conv1d(dimension, hidden, kernel_size, padding=kernel_size // 2),  # a little context across frames
            nn.GELU(),
            nn.Conv1d(hidden, hop_length, 1),  # the hop_length samples of each frame
        )
        self.smooth = nn.Conv1d(1, 1, smooth_kernel, padding=smooth_kernel // 2)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        blocks = self.frames_to_blocks(latent)  # [B, hop, T]
        batch, hop, frames = blocks.shape
        wav = blocks.transpose(1, 2).reshape(batch, 1, frames * hop)  # frame t -> samples t*hop .. (t+1)*hop - 1
        return self.smooth(wav)
