"""Pitch (F0) fidelity: RMSE in Hz and Pearson correlation over frames voiced in both signals.

What is compared: a YIN pitch track (de Cheveigné & Kawahara, 2002) of the reference and of the
reconstruction, on the same 10 ms frames (the harness gives both at 16 kHz with equal lengths).
Only frames that both tracks call voiced count (VERSA's convention for F0 RMSE/correlation), so
a codec that devoices speech is scored on fewer frames rather than with huge errors (the frame
count is not reported), and pitch a codec invents in silence is not scored.

- ``f0_rmse``: sqrt(mean((f0_ref - f0_rec)^2)) in **Hz** (VERSA's unit; lower is better);
- ``f0_corr``: Pearson correlation of the two tracks (higher is better; undefined, hence an error,
  when either track is constant over the scored frames, e.g. two steady tones).

Why our own tracker: YIN is ~40 lines of numpy, adds no dependency and is deterministic; both
metrics read one cached track per signal (:mod:`._shared`). Settings (documented, options of the
metrics): search range ``fmin``..``fmax`` = 50..500 Hz (speech), 40 ms integration window, 10 ms
hop, voiced when YIN's cumulative-mean-normalised difference at the chosen lag is below
``threshold`` = 0.2 and the frame's RMS is within ``silence_db`` = 40 dB of the loudest frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._common import mono_pair
from tokenizer_bench.plugins.metrics._shared import ResultCache, signal_key

_CACHE = ResultCache(size=16)


@dataclass(frozen=True)
class PitchSettings:
    fmin: float = 50.0
    fmax: float = 500.0
    window_s: float = 0.040
    hop_s: float = 0.010
    threshold: float = 0.2
    silence_db: float = 40.0

    def check(self) -> "PitchSettings":
        if not (0 < self.fmin < self.fmax):
            raise ValueError(f"F0 search range must satisfy 0 < fmin < fmax, got {self.fmin}..{self.fmax} Hz")
        if self.window_s <= 0 or self.hop_s <= 0 or not (0 < self.threshold < 1) or self.silence_db <= 0:
            raise ValueError("F0 settings: window_s, hop_s, silence_db must be > 0 and 0 < threshold < 1")
        return self


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    count = 1 + (x.size - length) // hop
    idx = np.arange(length)[None, :] + hop * np.arange(count)[:, None]
    return x[idx]


def yin_track(samples: np.ndarray, sample_rate: int,
              settings: PitchSettings = PitchSettings()) -> tuple[np.ndarray, np.ndarray]:
    """``(f0_hz, voiced)`` per hop for a mono signal; ``f0_hz`` is NaN where unvoiced."""
    s = settings.check()
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    sr = int(sample_rate)
    w = int(round(s.window_s * sr))
    hop = int(round(s.hop_s * sr))
    tau_min = max(2, int(np.floor(sr / s.fmax)))
    tau_max = int(np.ceil(sr / s.fmin))
    if tau_max + 1 >= w + tau_max or x.size < w + tau_max + 1:
        raise ValueError(f"signal too short for pitch tracking: {x.size} samples, needs {w + tau_max + 1} at {sr} Hz")
    frames = _frames(x, w + tau_max + 1, hop)  # [F, W + tau_max + 1]
    n_fft = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
    spec_full = np.fft.rfft(frames, n_fft)
    spec_head = np.fft.rfft(frames[:, :w], n_fft)
    acf = np.fft.irfft(np.conj(spec_head) * spec_full, n_fft)[:, : tau_max + 1]  # sum_j x_j x_{j+tau}
    sq = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(tau_max + 1)
    energy_shift = sq[:, lags + w] - sq[:, lags]  # sum_{j=tau}^{tau+W-1} x_j^2
    diff = np.maximum(energy_shift[:, :1] + energy_shift - 2.0 * acf, 0.0)  # d(tau)
    cum = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        cmnd[:, 1:] = np.where(cum > 0, diff[:, 1:] * lags[1:] / cum, 1.0)

    f0 = np.full(frames.shape[0], np.nan)
    aperiodic = np.ones(frames.shape[0])
    for i, row in enumerate(cmnd):
        seg = row[tau_min : tau_max + 1]
        below = np.nonzero(seg < s.threshold)[0]
        if below.size:  # first dip under the threshold, followed down to its local minimum
            k = int(below[0])
            while k + 1 < seg.size and seg[k + 1] < seg[k]:
                k += 1
        else:
            k = int(np.argmin(seg))
        tau = k + tau_min
        shift = 0.0
        if tau_min < tau < tau_max:  # parabolic interpolation of the dip
            a, b, c = row[tau - 1], row[tau], row[tau + 1]
            den = a - 2 * b + c
            if den > 0:
                shift = 0.5 * (a - c) / den
        f0[i] = sr / (tau + shift)
        aperiodic[i] = row[tau]
    rms = np.sqrt(np.mean(frames[:, :w] ** 2, axis=1))
    loud = rms > rms.max() * 10 ** (-s.silence_db / 20) if rms.max() > 0 else np.zeros_like(rms, dtype=bool)
    voiced = (aperiodic < s.threshold) & loud
    f0[~voiced] = np.nan
    return f0, voiced


def _track(samples: np.ndarray, sample_rate: int, settings: PitchSettings) -> tuple[np.ndarray, np.ndarray]:
    return _CACHE.get_or_compute(signal_key(samples, sample_rate, settings),
                                 lambda: yin_track(samples, sample_rate, settings))


def voiced_pair(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                settings: PitchSettings = PitchSettings()) -> tuple[np.ndarray, np.ndarray]:
    """F0 of both signals on the frames voiced in both (Hz)."""
    ref, est = mono_pair(reference, estimate)
    f_ref, v_ref = _track(ref, sample_rate, settings)
    f_est, v_est = _track(est, sample_rate, settings)
    both = v_ref & v_est
    if both.sum() < 2:
        raise ValueError(f"fewer than 2 frames voiced in both signals ({int(v_ref.sum())} voiced in the reference, "
                         f"{int(v_est.sum())} in the reconstruction)")
    return f_ref[both], f_est[both]


class _F0Metric:
    def __init__(self, fmin: float = 50.0, fmax: float = 500.0, threshold: float = 0.2, silence_db: float = 40.0,
                 sample_rate: int = 16000) -> None:
        self.settings = PitchSettings(fmin=float(fmin), fmax=float(fmax), threshold=float(threshold),
                                      silence_db=float(silence_db)).check()
        self.needs = MetricNeeds(reference_audio=True, sample_rate=int(sample_rate))


class F0RMSE(_F0Metric):
    """F0 RMSE in Hz over frames voiced in both signals (lower is better)."""

    name = "f0_rmse"
    meta = MetricMeta(higher_is_better=False, display="F0 RMSE", unit="Hz", decimals=3, kind="audio")

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        a, b = voiced_pair(np.asarray(reference), np.asarray(estimate), int(sample_rate), self.settings)
        return float(np.sqrt(np.mean((a - b) ** 2)))


class F0Correlation(_F0Metric):
    """Pearson correlation of the F0 tracks over frames voiced in both (higher is better)."""

    name = "f0_corr"
    meta = MetricMeta(higher_is_better=True, display="F0 corr", decimals=3, kind="audio")

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        a, b = voiced_pair(np.asarray(reference), np.asarray(estimate), int(sample_rate), self.settings)
        da, db = a - a.mean(), b - b.mean()
        den = np.sqrt((da**2).sum() * (db**2).sum())
        if den <= 1e-12 * max(1.0, float(np.abs(a).max()) ** 2):
            raise ValueError("F0 correlation undefined: a pitch track is constant over the frames voiced in both")
        return float((da * db).sum() / den)


def register_metrics(register) -> None:
    register("f0_rmse", F0RMSE)
    register("f0_corr", F0Correlation)
