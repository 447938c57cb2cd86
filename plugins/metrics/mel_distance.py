"""Log-mel spectral distance between reference and reconstruction.

Definition (documented in docs/benchmark.md): 80 mel bands (HTK scale, 0-8 kHz, unnormalised
triangles) of the STFT *magnitude* (Hann window 1024, hop 256, centred with reflection padding)
at 16 kHz; distance = mean over bands and frames of ``|log10(max(M_ref, 1e-5)) -
log10(max(M_est, 1e-5))|``. 0 for identical signals; a gain of 10x on a signal well above the
floor gives exactly 1.0 (one decade), which makes the unit easy to read.
"""

from __future__ import annotations

import numpy as np
import torch

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._common import mono_pair


class MelDistance:
    """Mean absolute log10-mel-magnitude difference (lower is better)."""

    name = "mel_distance"
    meta = MetricMeta(higher_is_better=False, display="Mel dist", decimals=3, kind="audio")

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 80,
                 sample_rate: int = 16000, floor: float = 1e-5) -> None:
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.floor = float(floor)
        self.needs = MetricNeeds(reference_audio=True, packages=("transformers",), sample_rate=int(sample_rate))
        self._fb: torch.Tensor | None = None
        self._fb_rate = 0

    def _filters(self, sample_rate: int) -> torch.Tensor:
        if self._fb is None or self._fb_rate != sample_rate:
            from transformers.audio_utils import mel_filter_bank

            fb = mel_filter_bank(
                num_frequency_bins=self.n_fft // 2 + 1,
                num_mel_filters=self.n_mels,
                min_frequency=0.0,
                max_frequency=sample_rate / 2,
                sampling_rate=sample_rate,
                norm=None,
                mel_scale="htk",
            )  # [freq, mels]
            self._fb = torch.from_numpy(np.ascontiguousarray(fb.T))
            self._fb_rate = sample_rate
        return self._fb

    def log_mel(self, wav: np.ndarray, sample_rate: int) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(wav, dtype=np.float64))
        if x.numel() <= self.n_fft // 2:
            raise ValueError(f"signal too short for mel distance ({x.numel()} samples)")
        spec = torch.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=torch.hann_window(self.n_fft, dtype=torch.float64),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        ).abs()  # [freq, frames]
        mel = self._filters(sample_rate) @ spec
        return torch.log10(mel.clamp_min(self.floor))

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        ref, est = mono_pair(reference, estimate)
        a = self.log_mel(ref, int(sample_rate))
        b = self.log_mel(est, int(sample_rate))
        return float((a - b).abs().mean())

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fb"] = None
        return state


def register_metrics(register) -> None:
    register("mel_distance", MelDistance)
