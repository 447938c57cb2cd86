"""Frame-rate encoder and decoder around the STFT: ``mel_encoder`` and ``istft_decoder`` (Vocos-style).

Why they exist: at the CPU budgets of the small-scale quality benchmark a SEANet codec spends its
steps learning a filterbank and a vocoder from scratch at 16 kHz and reconstructs envelope-shaped
noise (docs/training.md). These components move the signal processing to fixed transforms and run
the learned part at the frame rate:

* ``mel_encoder`` — log-mel spectrogram (hop ``hop_length / downsample``) -> ConvNeXt stack ->
  a ``downsample``-strided convolution to the codec's frame rate -> projection to ``dimension``.
  Its frames are the SEANet encoder's: ``ceil(N / hop_length)`` frames for ``N`` samples, frame
  ``t`` reading samples from about ``t·hop_length`` on.
* ``istft_decoder`` — projection from ``dimension`` -> ConvNeXt stack at the frame rate -> optional
  ``upsample``-fold transposed convolution (and a short stack) -> a linear head giving log-magnitude
  and phase of an STFT with hop ``hop_length / upsample`` and window ``n_fft`` -> inverse STFT.
  Output: exactly ``T · hop_length`` samples for ``T`` frames, as the SEANet decoder.

Both take ``activation: gelu | snake`` for their ConvNeXt blocks (:mod:`._convnext`).

The encoder discards the phase of its input; the decoder has to produce one. Neither is the
paper's architecture (the paper configs keep SEANet); they are options for small budgets.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.nn_init import check_init, initialise_
from tokenizer_bench.plugins.losses._spectral import SpectralCache

from tokenizer_bench.plugins.encoders._convnext import ConvNeXtStack

#: log-mel statistics of LibriSpeech speech at unit-range amplitude (mean about -6, std about 2, natural
#: log of slaney-normalised mels): the encoder's input is ``(log_mel - LOG_MEL_MEAN) / LOG_MEL_STD``, so its
#: first layer starts on unit-scale values instead of a large constant offset.
LOG_MEL_MEAN, LOG_MEL_STD = -6.0, 2.0


def _divides(hop_length: int, factor: int, who: str, what: str) -> int:
    if hop_length < 1 or factor < 1 or hop_length % factor:
        raise ConfigError(f"{who}: {what} {factor} must be a positive divisor of hop_length {hop_length}")
    return hop_length // factor


class MelEncoder(nn.Module):
    """Waveform ``[B, 1, N]`` -> latent ``[B, dimension, ceil(N / hop_length)]`` from a log-mel spectrogram."""

    def __init__(
        self,
        dimension: int = 128,
        hop_length: int = 320,
        downsample: int = 2,
        sample_rate: int = 16000,
        n_mels: int = 80,
        n_fft: int | None = None,
        dim: int = 256,
        hidden: int = 768,
        num_layers: int = 6,
        kernel_size: int = 7,
        channels: int = 1,
        init: str = "variance_preserving",
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        check_init(init, "mel_encoder")
        if channels != 1:
            raise ConfigError(f"mel_encoder: only mono audio (channels 1) is supported, got {channels}")
        self.channels = 1
        self.dimension = int(dimension)
        self.hop_length = int(hop_length)
        self.downsample = int(downsample)
        self.spec_hop = _divides(self.hop_length, self.downsample, "mel_encoder", "downsample")
        self.n_fft = int(n_fft or 4 * self.spec_hop)
        if self.n_fft < self.spec_hop:
            raise ConfigError(f"mel_encoder: n_fft {self.n_fft} is shorter than the spectrogram hop {self.spec_hop}")
        self.mels = SpectralCache(sample_rate, n_mels, 0.0, None, "slaney", "slaney")
        self.embed = nn.Conv1d(n_mels, dim, kernel_size, padding=kernel_size // 2)
        self.backbone = ConvNeXtStack(dim, hidden, num_layers, kernel_size, activation)
        self.down = nn.Conv1d(dim, dim, self.downsample, stride=self.downsample)
        self.proj = nn.Conv1d(dim, self.dimension, 1)
        initialise_(self, init)

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """``[B, 1, N]`` -> ``[B, n_mels, ceil(N / hop_length) · downsample]`` natural-log mel magnitudes."""
        n = wav.shape[-1]
        frames = math.ceil(n / self.hop_length) * self.downsample
        x = nn.functional.pad(wav[:, 0], (0, frames * self.spec_hop - n))
        window = self.mels.window(self.n_fft, x.device, x.dtype)
        spec = torch.stft(x, self.n_fft, hop_length=self.spec_hop, window=window, center=True,
                          pad_mode="reflect" if x.shape[-1] > self.n_fft // 2 else "constant",
                          return_complex=True).abs()[..., :frames]
        mel = torch.matmul(self.mels.mel(self.n_fft, x.device, x.dtype), spec)
        return torch.log(mel.clamp(min=1e-5))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise ValueError(f"mel_encoder expects [B, 1, N] audio, got {tuple(wav.shape)}")
        x = self.backbone(self.embed((self.log_mel(wav) - LOG_MEL_MEAN) / LOG_MEL_STD))
        return self.proj(self.down(x))


class ISTFTDecoder(nn.Module):
    """Latent ``[B, dimension, T]`` -> waveform ``[B, 1, T · hop_length]`` through an inverse STFT."""

    def __init__(
        self,
        dimension: int = 128,
        hop_length: int = 320,
        upsample: int = 2,
        n_fft: int | None = None,
        dim: int = 384,
        hidden: int = 1152,
        num_layers: int = 8,
        post_layers: int = 2,
        kernel_size: int = 7,
        max_log_magnitude: float = 4.6,
        head_scale: float = 0.1,
        channels: int = 1,
        init: str = "variance_preserving",
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        check_init(init, "istft_decoder")
        if channels != 1:
            raise ConfigError(f"istft_decoder: only mono audio (channels 1) is supported, got {channels}")
        self.channels = 1
        self.dimension = int(dimension)
        self.hop_length = int(hop_length)
        self.upsample = int(upsample)
        self.istft_hop = _divides(self.hop_length, self.upsample, "istft_decoder", "upsample")
        self.n_fft = int(n_fft or 4 * self.istft_hop)
        if self.n_fft < 2 * self.istft_hop or self.n_fft % 2:
            raise ConfigError(f"istft_decoder: n_fft {self.n_fft} must be even and at least twice the hop "
                              f"{self.istft_hop} (the inverse STFT needs overlapping windows)")
        self.max_log_magnitude = float(max_log_magnitude)
        self.embed = nn.Conv1d(self.dimension, dim, kernel_size, padding=kernel_size // 2)
        self.backbone = ConvNeXtStack(dim, hidden, num_layers, kernel_size, activation)
        self.up: nn.Module | None = None
        self.post: nn.Module | None = None
        if self.upsample > 1:
            u = self.upsample
            self.up = nn.ConvTranspose1d(dim, dim, 2 * u, stride=u, padding=u // 2, output_padding=u % 2)
            self.post = ConvNeXtStack(dim, hidden, post_layers, kernel_size, activation) if post_layers else None
        self.head = nn.Linear(dim, self.n_fft + 2)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        initialise_(self, init)
        with torch.no_grad():  # a quiet, near-zero-phase start: unit-variance log-magnitudes would be +-1 neper noise
            self.head.weight.mul_(head_scale)

    def spectrum(self, latent: torch.Tensor) -> torch.Tensor:
        """The complex STFT ``[B, n_fft/2 + 1, T · upsample]`` the waveform is synthesised from."""
        x = self.backbone(self.embed(latent))
        if self.up is not None:
            x = self.up(x)
            if self.post is not None:
                x = self.post(x)
        log_mag, phase = self.head(x.transpose(1, 2)).transpose(1, 2).chunk(2, dim=1)
        mag = torch.exp(log_mag.clamp(max=self.max_log_magnitude))
        return torch.polar(mag, phase)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        if latent.dim() != 3 or latent.shape[1] != self.dimension:
            raise ValueError(f"istft_decoder expects [B, {self.dimension}, T] latents, got {tuple(latent.shape)}")
        spec = self.spectrum(latent)
        length = latent.shape[-1] * self.hop_length
        wav = torch.istft(spec, self.n_fft, hop_length=self.istft_hop, window=self.window.to(spec.real.dtype),
                          center=True, length=length)
        return wav.unsqueeze(1)


def register_encoders(register) -> None:
    register("mel_encoder", MelEncoder)


def register_decoders(register) -> None:
    register("istft_decoder", ISTFTDecoder)
