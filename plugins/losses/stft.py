"""The multi-resolution STFT loss of Parallel WaveGAN (Yamamoto et al., 2020): ``multi_resolution_stft``.

Why built in: it constrains the linear-frequency magnitudes at several time-frequency trade-offs
(short windows pin down onsets and, through overlapping frames, part of the phase consistency),
where the mel losses see only a smoothed magnitude; issue #24 lists it among the levers of a
small-budget codec. It was the example plugin's loss; this is now its one implementation.

For each resolution m (FFT size, hop, window length) with |X_m| the STFT magnitude of the
reference x and |X̂_m| that of the reconstruction x̂:

* spectral convergence  L_sc = ‖ |X_m| − |X̂_m| ‖_F / ‖ |X_m| ‖_F
* log-magnitude L1      L_mag = mean | log |X_m| − log |X̂_m| |

and the loss is ``(1/M) Σ_m (sc_weight · L_sc + mag_weight · L_mag)``. Magnitudes are
``sqrt(max(re² + im², eps))`` so the logarithm stays finite on silent bins. Framing is
``torch.stft``'s centred framing (reflect padding of n_fft/2 on both sides) with a periodic Hann
window of ``win_length`` samples, zero-padded to the FFT size. (:mod:`._spectral`'s
``stft_magnitude`` frames the official DM-Codec way, reflect padding of ``(n_fft - hop)/2`` and a
full-length window, so it is not this loss's STFT.)

The default resolutions are Parallel WaveGAN's three (FFT 1024/2048/512, windows 600/1200/240 and
hops 120/240/50 at 24 kHz) kept at the same durations at 16 kHz: windows 25/50/10 ms (400, 800,
160 samples), hops 5/10/≈2 ms (80, 160, 33 samples).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tokenizer_bench.core.interfaces import WAVEFORMS


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1, averaged over STFT resolutions (see the module docstring).

    ``inputs = WAVEFORMS``: a training recipe calls it as ``loss(wav, wav_hat)`` for a term of the
    config's ``losses:`` mapping (the loss-input vocabulary of ``tokenizer_bench.core.interfaces``).
    The spectral convergence is taken over the whole batch (one Frobenius norm), as in Parallel WaveGAN.
    """

    inputs = WAVEFORMS

    def __init__(
        self,
        n_ffts: Sequence[int] = (1024, 2048, 512),
        hop_lengths: Sequence[int] = (80, 160, 33),
        win_lengths: Sequence[int] = (400, 800, 160),
        sc_weight: float = 1.0,
        mag_weight: float = 1.0,
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        if not n_ffts or not (len(n_ffts) == len(hop_lengths) == len(win_lengths)):
            raise ValueError(
                "multi_resolution_stft: n_ffts, hop_lengths and win_lengths must have the same non-zero length, got "
                f"{len(n_ffts)}, {len(hop_lengths)}, {len(win_lengths)}"
            )
        for n_fft, hop, win in zip(n_ffts, hop_lengths, win_lengths):
            if not 0 < win <= n_fft or hop <= 0:
                raise ValueError(
                    f"multi_resolution_stft: need 0 < win_length <= n_fft and hop > 0, got {n_fft}/{hop}/{win}"
                )
        if eps <= 0:
            raise ValueError(f"multi_resolution_stft: eps must be > 0 (it keeps log|X| finite), got {eps}")
        self.resolutions = [(int(n), int(h), int(w)) for n, h, w in zip(n_ffts, hop_lengths, win_lengths)]
        self.sc_weight, self.mag_weight, self.eps = float(sc_weight), float(mag_weight), float(eps)

    def magnitude(self, wav: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
        """``[B, N]`` -> ``[B, n_fft//2 + 1, frames]``, ``sqrt(max(|STFT|², eps))``."""
        if wav.shape[-1] <= n_fft // 2:
            raise ValueError(
                f"multi_resolution_stft: a signal of {wav.shape[-1]} samples is too short for n_fft={n_fft}"
            )
        window = torch.hann_window(win, device=wav.device, dtype=wav.dtype)
        spec = torch.stft(wav, n_fft, hop_length=hop, win_length=win, window=window, center=True,
                          pad_mode="reflect", return_complex=True)
        return torch.sqrt(torch.clamp(spec.real.pow(2) + spec.imag.pow(2), min=self.eps))

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Loss between reference ``x`` and reconstruction ``x_hat``, both ``[B, 1, N]``.

        A generator's output may be a few samples longer than its input (frames × hop); both are
        cut to the common prefix, as the project's other reconstruction losses do.
        """
        if x.dim() != 3 or x.shape[1] != 1 or x_hat.dim() != 3 or x_hat.shape[1] != 1:
            raise ValueError(
                f"multi_resolution_stft expects waveforms [B, 1, N], got {tuple(x.shape)} and {tuple(x_hat.shape)}"
            )
        n = min(x.shape[-1], x_hat.shape[-1])
        x, x_hat = x[:, 0, :n], x_hat[:, 0, :n]
        total = x.new_zeros(())
        for n_fft, hop, win in self.resolutions:
            ref, est = self.magnitude(x, n_fft, hop, win), self.magnitude(x_hat, n_fft, hop, win)
            sc = torch.linalg.vector_norm(ref - est) / torch.linalg.vector_norm(ref)
            mag = (torch.log(ref) - torch.log(est)).abs().mean()
            total = total + self.sc_weight * sc + self.mag_weight * mag
        return total / len(self.resolutions)


def register_losses(register) -> None:
    register("multi_resolution_stft", MultiResolutionSTFTLoss)
