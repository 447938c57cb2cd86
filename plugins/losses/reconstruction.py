"""Reconstruction losses: time-domain L1 (eq. 4) and multi-scale mel losses (eq. 5 and its readings).

The paper's eq. 5, the reference implementation behind the same formula and the official code
compute three different mel losses; each is a registered name, usable from any config as
``losses.mel: {name: ...}``:

* ``multiscale_mel`` — the paper's eq. 5 **read literally** (from SpeechTokenizer/EnCodec): 64-bin
  mel spectrograms of the window-normalised STFT *magnitude* with window 2^i and hop 2^i/4 for
  i = 5..11, L1 + L2 (MSE) of their difference on the **linear** mel, summed over scales, weight 1
  per scale. Bins, scales, weights, log compression and the L2 form are options. No reference
  recipe trains with exactly this loss.
* ``audiocraft_mel`` — the **audiocraft reading**: audiocraft's ``MultiScaleMelSpectrogramLoss``
  (``msspec``), the implementation behind EnCodec's multi-scale spectral loss ℓ_f, which eq. 5
  copies. Per scale i: ``L1(S_i(x), S_i(x̂)) + α_i·MSE(log10(S_i(x) + 1e-5), log10(S_i(x̂) + 1e-5))``
  with S_i a torchaudio-style *power* (|STFT|²) mel spectrogram (64 HTK mels, no filter norm),
  framed with reflect padding (2^i − hop)/2 plus zeros so the last frame is full, L1 on the
  **linear** mel and MSE on the **log** mel, α_i = sqrt(2^i − 1) (audiocraft's class default;
  ``alphas: one`` for α_i = 1, or a list). ``normalized: true`` normalises the STFT by the window
  and divides the sum by Σ_i (α_i + 1), as audiocraft's single ``normalized`` flag does. Defaults
  keep eq. 5's scales 2^5..2^11; audiocraft's own default scales are 2^6..2^10 and its compression
  recipe (``config/solver/compression/default.yaml``) sets ``f_min 64, normalized true, alphas
  false``.
* ``dmcodec_mel`` — what the official DM-Codec trainer computes: four resolutions (n_fft
  1024/512/256/128, hop 240/120/60/30), 80 slaney-normalised HTK mels, log-compressed, L1. The
  official trainer weights the resolutions [45, 1, 1, 1] inside the mel loss and adds it to the
  total with weight 1. Here the 45 lives in the weighted total (``mel`` weight 45, like every other
  loss weight), so the default resolution weights are [1, 1/45, 1/45, 1/45]: 45 × this loss equals
  the official ``loss_mel`` exactly. Pass ``weights=[45, 1, 1, 1]`` and a ``mel`` weight of 1 to
  log the official number itself.

The three differ widely in size (up to ~100x on the same pair), so the eq. 10 ``mel`` weight
(45, the official code's, tuned for ``dmcodec_mel``) is not interchangeable between them.

Waveforms are ``[B, 1, N]``. A generator's output may be a few samples longer than its input
(frames × hop); ``length_mismatch="trim"`` (default, the official behaviour) compares the common
prefix, ``"error"`` refuses any mismatch.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tokenizer_bench.core.interfaces import WAVEFORMS

from tokenizer_bench.plugins.losses._spectral import SpectralCache, stft_magnitude

LengthPolicy = Literal["trim", "error"]


def _check_pair(x: torch.Tensor, x_hat: torch.Tensor, who: str) -> None:
    if x.dim() != 3 or x.shape[1] != 1 or x_hat.dim() != 3 or x_hat.shape[1] != 1:
        raise ValueError(f"{who} expects waveforms [B, 1, N], got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    if x.shape[0] != x_hat.shape[0]:
        raise ValueError(f"{who}: batch sizes differ ({x.shape[0]} vs {x_hat.shape[0]})")


def _check_policy(policy: str) -> None:
    if policy not in ("trim", "error"):
        raise ValueError(f"length_mismatch must be 'trim' or 'error', got {policy!r}")


def common_length(
    x: torch.Tensor, x_hat: torch.Tensor, policy: LengthPolicy, who: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trim both to the shorter length (``trim``) or refuse different lengths (``error``)."""
    _check_policy(policy)
    if x.shape[-1] != x_hat.shape[-1]:
        if policy == "error":
            raise ValueError(
                f"{who}: lengths differ ({x.shape[-1]} vs {x_hat.shape[-1]} samples) and length_mismatch='error'"
            )
        n = min(x.shape[-1], x_hat.shape[-1])
        x, x_hat = x[..., :n], x_hat[..., :n]
    return x, x_hat


class WaveformL1Loss(nn.Module):
    """Eq. 4: mean absolute difference of the waveforms (official weight 500)."""

    inputs = WAVEFORMS

    def __init__(self, length_mismatch: LengthPolicy = "trim") -> None:
        super().__init__()
        _check_policy(length_mismatch)
        self.length_mismatch = length_mismatch

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        _check_pair(x, x_hat, "waveform_l1")
        x, x_hat = common_length(x, x_hat, self.length_mismatch, "waveform_l1")
        return F.l1_loss(x_hat, x)


class MultiScaleMelLoss(nn.Module):
    """Eq. 5 (paper): Σ_i w_i (l1_weight·mean|S_i(x)−S_i(x̂)| + l2_weight·L2(S_i(x)−S_i(x̂))).

    S_i is an ``n_mels``-bin mel spectrogram of the (window-normalised, if ``normalized``) STFT
    magnitude with window 2^i and hop 2^i/``hop_divisor``, i = ``min_exponent``..``max_exponent``
    inclusive. ``l2="mse"`` uses the mean squared difference, ``"rms"`` its square root (the
    norm up to a constant; its gradient is infinite at a perfect match, hence not the default).
    ``log=True`` compares ``log(clamp(S, log_floor))``. Mel filters default to torchaudio's
    defaults (HTK scale, no normalisation).
    """

    inputs = WAVEFORMS

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        min_exponent: int = 5,
        max_exponent: int = 11,
        hop_divisor: int = 4,
        f_min: float = 0.0,
        f_max: float | None = None,
        mel_norm: str | None = None,
        mel_scale: str = "htk",
        normalized: bool = True,
        log: bool = False,
        log_floor: float = 1e-5,
        l1_weight: float = 1.0,
        l2_weight: float = 1.0,
        l2: Literal["mse", "rms"] = "mse",
        scale_weights: Sequence[float] | None = None,
        length_mismatch: LengthPolicy = "trim",
    ) -> None:
        super().__init__()
        if not 1 <= min_exponent <= max_exponent:
            raise ValueError(f"need 1 <= min_exponent <= max_exponent, got {min_exponent}, {max_exponent}")
        self.n_ffts = [2 ** i for i in range(min_exponent, max_exponent + 1)]
        if hop_divisor < 1 or any(n % hop_divisor for n in self.n_ffts):
            raise ValueError(f"hop_divisor {hop_divisor} must divide every window size {self.n_ffts}")
        self.hops = [n // hop_divisor for n in self.n_ffts]
        if scale_weights is None:
            scale_weights = [1.0] * len(self.n_ffts)
        if len(scale_weights) != len(self.n_ffts):
            raise ValueError(f"scale_weights has {len(scale_weights)} entries for {len(self.n_ffts)} scales")
        if l2 not in ("mse", "rms"):
            raise ValueError(f"l2 must be 'mse' or 'rms', got {l2!r}")
        _check_policy(length_mismatch)
        self.scale_weights = [float(w) for w in scale_weights]
        self.normalized, self.log, self.log_floor = bool(normalized), bool(log), float(log_floor)
        self.l1_weight, self.l2_weight, self.l2 = float(l1_weight), float(l2_weight), l2
        self.length_mismatch = length_mismatch
        self.cache = SpectralCache(sample_rate, n_mels, f_min, f_max, mel_norm, mel_scale)

    def mel(self, wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
        """``[B, N]`` -> ``[B, n_mels, frames]``."""
        spec = stft_magnitude(
            wav, n_fft, hop, self.cache.window(n_fft, wav.device, wav.dtype), normalized=self.normalized
        )
        mel = torch.matmul(self.cache.mel(n_fft, wav.device, wav.dtype), spec)
        return torch.log(torch.clamp(mel, min=self.log_floor)) if self.log else mel

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        _check_pair(x, x_hat, "multiscale_mel")
        x, x_hat = common_length(x, x_hat, self.length_mismatch, "multiscale_mel")
        x, x_hat = x.squeeze(1), x_hat.squeeze(1)
        total = x.new_zeros(())
        for w, n_fft, hop in zip(self.scale_weights, self.n_ffts, self.hops):
            diff = self.mel(x_hat, n_fft, hop) - self.mel(x, n_fft, hop)
            l1 = diff.abs().mean()
            sq = diff.pow(2).mean()
            l2 = sq if self.l2 == "mse" else torch.sqrt(sq + 1e-12)
            total = total + w * (self.l1_weight * l1 + self.l2_weight * l2)
        return total


class AudiocraftMelLoss(nn.Module):
    """audiocraft's multi-scale mel loss (EnCodec's ℓ_f as implemented); see the module docstring.

    ``Σ_i [mean|S_i(x) − S_i(x̂)| + α_i·mean(log10(S_i(x) + floor) − log10(S_i(x̂) + floor))²]``,
    divided by ``Σ_i (α_i + 1)`` when ``normalized``. S_i: mel filters (``mel_scale``/``mel_norm``,
    default HTK, none) applied to ``|STFT|^power`` (default 2, torchaudio's ``MelSpectrogram``) of a
    periodic-Hann window 2^i, hop 2^i/``hop_divisor``, reflect padding (2^i − hop)/2 and zeros to a
    full last frame, i = ``min_exponent``..``max_exponent`` inclusive. ``normalized`` also divides
    the STFT by the window's L2 norm. ``alphas``: ``"sqrt"`` (α_i = sqrt(2^i − 1), audiocraft's
    ``alphas=True``), ``"one"`` (α_i = 1, ``alphas=False``), a bool with audiocraft's meaning, or
    one number per scale.
    """

    inputs = WAVEFORMS

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        min_exponent: int = 5,
        max_exponent: int = 11,
        hop_divisor: int = 4,
        f_min: float = 0.0,
        f_max: float | None = None,
        mel_norm: str | None = None,
        mel_scale: str = "htk",
        power: float = 2.0,
        normalized: bool = False,
        alphas: Literal["sqrt", "one"] | bool | Sequence[float] = "sqrt",
        floor_level: float = 1e-5,
        length_mismatch: LengthPolicy = "trim",
    ) -> None:
        super().__init__()
        if not 1 <= min_exponent <= max_exponent:
            raise ValueError(f"need 1 <= min_exponent <= max_exponent, got {min_exponent}, {max_exponent}")
        exponents = list(range(min_exponent, max_exponent + 1))
        self.n_ffts = [2 ** i for i in exponents]
        if hop_divisor < 1 or any(n % hop_divisor for n in self.n_ffts):
            raise ValueError(f"hop_divisor {hop_divisor} must divide every window size {self.n_ffts}")
        self.hops = [n // hop_divisor for n in self.n_ffts]
        if alphas is True or alphas == "sqrt":
            values = [math.sqrt(2 ** i - 1) for i in exponents]
        elif alphas is False or alphas == "one":
            values = [1.0] * len(exponents)
        elif isinstance(alphas, str):
            raise ValueError(f"alphas must be 'sqrt', 'one', a bool or one number per scale, got {alphas!r}")
        else:
            values = [float(a) for a in alphas]
            if len(values) != len(exponents):
                raise ValueError(f"alphas has {len(values)} entries for {len(exponents)} scales")
        if power <= 0:
            raise ValueError(f"power must be > 0, got {power}")
        if floor_level <= 0:
            raise ValueError(f"floor_level must be > 0, got {floor_level}")
        _check_policy(length_mismatch)
        self.alphas = values
        self.power, self.normalized, self.floor_level = float(power), bool(normalized), float(floor_level)
        self.total_weight = sum(a + 1.0 for a in values)
        self.length_mismatch = length_mismatch
        self.cache = SpectralCache(sample_rate, n_mels, f_min, f_max, mel_norm, mel_scale)

    def mel(self, wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
        """Linear mel ``[B, n_mels, ceil(N/hop)]`` of ``wav[B, N]`` (the L1 term's input)."""
        spec = stft_magnitude(
            wav, n_fft, hop, self.cache.window(n_fft, wav.device, wav.dtype), normalized=self.normalized,
            full_frames=True,
        )
        return torch.matmul(self.cache.mel(n_fft, wav.device, wav.dtype), spec.pow(self.power))

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        _check_pair(x, x_hat, "audiocraft_mel")
        x, x_hat = common_length(x, x_hat, self.length_mismatch, "audiocraft_mel")
        x, x_hat = x.squeeze(1), x_hat.squeeze(1)
        total = x.new_zeros(())
        for alpha, n_fft, hop in zip(self.alphas, self.n_ffts, self.hops):
            a, b = self.mel(x, n_fft, hop), self.mel(x_hat, n_fft, hop)
            l1 = F.l1_loss(b, a)
            log_mse = F.mse_loss(torch.log10(b + self.floor_level), torch.log10(a + self.floor_level))
            total = total + l1 + alpha * log_mse
        return total / self.total_weight if self.normalized else total


class DMCodecMelLoss(nn.Module):
    """The official DM-Codec trainer's mel loss (for parity runs); see the module docstring for weights.

    Per resolution: reflect padding of (n_fft−hop)/2, STFT (``center=False``, Hann window of
    n_fft, not normalised), |STFT| + 1e-9, slaney-normalised HTK mel filters (f_max = sr/2),
    log(clamp(·, 1e-5)), and L1 over the frames both signals have.
    """

    inputs = WAVEFORMS

    def __init__(
        self,
        sample_rate: int = 16000,
        n_ffts: Sequence[int] = (1024, 512, 256, 128),
        hop_lengths: Sequence[int] = (240, 120, 60, 30),
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
        weights: Sequence[float] = (1.0, 1 / 45, 1 / 45, 1 / 45),
        magnitude_eps: float = 1e-9,
        log_floor: float = 1e-5,
    ) -> None:
        super().__init__()
        if not n_ffts or not (len(n_ffts) == len(hop_lengths) == len(weights)):
            raise ValueError(
                f"n_ffts, hop_lengths and weights must have the same non-zero length, got "
                f"{len(n_ffts)}, {len(hop_lengths)}, {len(weights)}"
            )
        self.n_ffts = [int(n) for n in n_ffts]
        self.hops = [int(h) for h in hop_lengths]
        self.weights = [float(w) for w in weights]
        self.magnitude_eps, self.log_floor = float(magnitude_eps), float(log_floor)
        self.cache = SpectralCache(sample_rate, n_mels, f_min, f_max, "slaney", "htk")

    def mel(self, wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
        """``[B, N]`` -> log-mel ``[B, n_mels, frames]``, as the official ``mel_spectrogram``."""
        spec = stft_magnitude(
            wav, n_fft, hop, self.cache.window(n_fft, wav.device, wav.dtype), normalized=False, eps=self.magnitude_eps
        )
        mel = torch.matmul(self.cache.mel(n_fft, wav.device, wav.dtype), spec)
        return torch.log(torch.clamp(mel, min=self.log_floor))

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        _check_pair(x, x_hat, "dmcodec_mel")
        x, x_hat = x.squeeze(1), x_hat.squeeze(1)
        total = x.new_zeros(())
        for w, n_fft, hop in zip(self.weights, self.n_ffts, self.hops):
            a, b = self.mel(x, n_fft, hop), self.mel(x_hat, n_fft, hop)
            n = min(a.shape[-1], b.shape[-1])
            total = total + w * F.l1_loss(a[..., :n], b[..., :n])
        return total


def register_losses(register) -> None:
    register("waveform_l1", WaveformL1Loss)
    register("multiscale_mel", MultiScaleMelLoss)
    register("dmcodec_mel", DMCodecMelLoss)
    register("audiocraft_mel", AudiocraftMelLoss)
