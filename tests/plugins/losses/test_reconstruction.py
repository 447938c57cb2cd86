"""Reconstruction losses against hand values and an independent numpy STFT + mel filterbank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.core.config import load_config
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.plugins.losses.reconstruction import (
    AudiocraftMelLoss,
    DMCodecMelLoss,
    MultiScaleMelLoss,
    WaveformL1Loss,
)

# ---------------------------------------------------------------- independent numpy reference


def _hz_to_mel(f: float, scale: str) -> float:
    if scale == "htk":
        return 2595.0 * math.log10(1.0 + f / 700.0)
    # slaney: linear below 1 kHz (200/3 Hz per mel), logarithmic above
    if f < 1000.0:
        return 3.0 * f / 200.0
    return 15.0 + math.log(f / 1000.0) * 27.0 / math.log(6.4)


def _mel_to_hz(m: float, scale: str) -> float:
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if m < 15.0:
        return 200.0 * m / 3.0
    return 1000.0 * math.exp((m - 15.0) * math.log(6.4) / 27.0)


def _filterbank(n_fft, n_mels, sr, fmin, fmax, norm, scale):
    """Triangles with corners at n_mels+2 mel-spaced frequencies, loop by loop; [n_mels, n_freq]."""
    lo, hi = _hz_to_mel(fmin, scale), _hz_to_mel(fmax, scale)
    corners = [_mel_to_hz(lo + (hi - lo) * i / (n_mels + 1), scale) for i in range(n_mels + 2)]
    n_freq = n_fft // 2 + 1
    fb = np.zeros((n_mels, n_freq))
    for m in range(n_mels):
        left, centre, right = corners[m], corners[m + 1], corners[m + 2]
        for k in range(n_freq):
            f = k * (sr / 2) / (n_freq - 1)
            rise = (f - left) / (centre - left)
            fall = (right - f) / (right - centre)
            fb[m, k] = max(0.0, min(rise, fall))
        if norm == "slaney":
            fb[m] *= 2.0 / (right - left)
    return fb


def _stft_mag(x, n_fft, hop, normalized, eps=0.0):
    """Reflect-pad (n_fft-hop)//2, frame without centering, periodic Hann, |rfft|."""
    pad = int((n_fft - hop) / 2)
    x = np.pad(x, (pad, pad), mode="reflect")
    n = np.arange(n_fft)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    frames = [x[s : s + n_fft] * w for s in range(0, len(x) - n_fft + 1, hop)]
    mag = np.abs(np.fft.rfft(np.stack(frames), axis=-1)).T  # [freq, frames]
    if normalized:
        mag = mag / np.sqrt((w**2).sum())
    return mag + eps


def _np_multiscale(x, y, sr, n_mels, exps, norm, scale, log, l2, normalized=True):
    total = 0.0
    for i in exps:
        n_fft = 2**i
        fb = _filterbank(n_fft, n_mels, sr, 0.0, sr / 2, norm, scale)
        sx = fb @ _stft_mag(x, n_fft, n_fft // 4, normalized)
        sy = fb @ _stft_mag(y, n_fft, n_fft // 4, normalized)
        if log:
            sx, sy = np.log(np.maximum(sx, 1e-5)), np.log(np.maximum(sy, 1e-5))
        d = sy - sx
        sq = (d**2).mean()
        total += np.abs(d).mean() + (sq if l2 == "mse" else math.sqrt(sq))
    return total


def _np_official(x, y, sr=16000, n_ffts=(1024, 512, 256, 128), hops=(240, 120, 60, 30), n_mels=80, weights=(45, 1, 1, 1)):
    total = 0.0
    for w, n_fft, hop in zip(weights, n_ffts, hops):
        fb = _filterbank(n_fft, n_mels, sr, 0.0, sr / 2, "slaney", "htk")
        mx = np.log(np.maximum(fb @ _stft_mag(x, n_fft, hop, False, 1e-9), 1e-5))
        my = np.log(np.maximum(fb @ _stft_mag(y, n_fft, hop, False, 1e-9), 1e-5))
        n = min(mx.shape[1], my.shape[1])
        total += w * np.abs(mx[:, :n] - my[:, :n]).mean()
    return total


def _signals(n, seed=0):
    g = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * g.standard_normal(n)
    y = x + 0.1 * g.standard_normal(n)
    return x, y


def _t(a):
    return torch.tensor(a, dtype=torch.float64).view(1, 1, -1)


# ---------------------------------------------------------------- tests


def test_waveform_l1_by_hand():
    x = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]])
    x_hat = torch.tensor([[[1.0, 1.0, 0.0, 3.0, 9.0, 9.0]]])  # two extra samples, trimmed
    assert WaveformL1Loss()(x, x_hat).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match="lengths differ"):
        WaveformL1Loss(length_mismatch="error")(x, x_hat)
    with pytest.raises(ValueError, match=r"\[B, 1, N\]"):
        WaveformL1Loss()(x[0], x_hat[0])


def test_paper_multiscale_mel_matches_numpy_default_config():
    x, y = _signals(4096)
    loss = get_registry("losses").build("multiscale_mel")  # 64 mels, 2^5..2^11, htk, no norm, L1+MSE
    got = loss(_t(x), _t(y)).item()
    want = _np_multiscale(x, y, 16000, 64, range(5, 12), None, "htk", log=False, l2="mse")
    assert got == pytest.approx(want, rel=1e-9)


def test_paper_multiscale_mel_options_match_numpy():
    x, y = _signals(1000, seed=1)
    loss = MultiScaleMelLoss(n_mels=16, min_exponent=6, max_exponent=8, mel_norm="slaney", mel_scale="slaney",
                             log=True, l2="rms")
    got = loss(_t(x), _t(y)).item()
    want = _np_multiscale(x, y, 16000, 16, range(6, 9), "slaney", "slaney", log=True, l2="rms")
    assert got == pytest.approx(want, rel=1e-9)
    only_l2 = MultiScaleMelLoss(n_mels=16, min_exponent=6, max_exponent=6, l1_weight=0.0, l2_weight=2.0)
    fb = _filterbank(64, 16, 16000, 0.0, 8000.0, None, "htk")
    d = fb @ _stft_mag(y, 64, 16, True) - fb @ _stft_mag(x, 64, 16, True)
    assert only_l2(_t(x), _t(y)).item() == pytest.approx(2 * (d**2).mean(), rel=1e-9)


def test_official_mel_matches_numpy_and_weights():
    x, y = _signals(3000, seed=2)
    y = np.concatenate([y, np.zeros(320)])  # generator output a little longer: frames are trimmed
    want = _np_official(x, y)
    assert (45 * DMCodecMelLoss()(_t(x), _t(y))).item() == pytest.approx(want, rel=1e-9)
    assert DMCodecMelLoss(weights=(45, 1, 1, 1))(_t(x), _t(y)).item() == pytest.approx(want, rel=1e-9)


def test_float32_close_to_float64_and_gradients_finite():
    x, y = _signals(2000, seed=3)
    loss = DMCodecMelLoss()
    x32 = _t(x).float()
    y32 = _t(y).float().requires_grad_(True)
    v = loss(x32, y32)
    assert v.item() == pytest.approx(loss(_t(x), _t(y)).item(), rel=1e-4)
    v.backward()
    assert torch.isfinite(y32.grad).all()
    same = x32.clone().requires_grad_(True)
    MultiScaleMelLoss(min_exponent=5, max_exponent=7)(x32, same).backward()  # perfect match: no NaN
    assert torch.isfinite(same.grad).all()


def test_filters_cached_per_device_and_dtype():
    loss = MultiScaleMelLoss(min_exponent=6, max_exponent=6, n_mels=8)
    a = loss.cache.mel(64, torch.device("cpu"), torch.float32)
    assert loss.cache.mel(64, torch.device("cpu"), torch.float32) is a
    b = loss.cache.mel(64, torch.device("cpu"), torch.float64)
    assert b.dtype == torch.float64 and b is not a
    assert np.allclose(b.numpy(), _filterbank(64, 8, 16000, 0, 8000, None, "htk"))


def test_invalid_options_are_errors():
    with pytest.raises(ValueError, match="Nyquist"):
        MultiScaleMelLoss(f_max=9000)
    with pytest.raises(ValueError, match="scale_weights"):
        MultiScaleMelLoss(scale_weights=[1, 2])
    with pytest.raises(ValueError, match="same non-zero length"):
        DMCodecMelLoss(hop_lengths=(240,))
    with pytest.raises(ValueError, match="too short"):
        DMCodecMelLoss()(torch.zeros(1, 1, 300), torch.zeros(1, 1, 300))


# ---------------------------------------------------------------- audiocraft reading of eq. 5


def _np_audiocraft(x, y, sr, n_mels, exps, fmin, alphas, normalized, floor=1e-5):
    """audiocraft's msspec written out: reflect pad (n-h)/2, zeros to a full last frame, periodic
    Hann, |rfft|^2 (/ sum w^2 if normalized), HTK mel; L1 on linear + alpha * MSE on log10(mel + floor)."""
    total, weight = 0.0, 0.0
    for alpha, i in zip(alphas, exps):
        n_fft = 2**i
        hop = n_fft // 4
        fb = _filterbank(n_fft, n_mels, sr, fmin, sr / 2, None, "htk")
        w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)

        def mel(sig):
            p = (n_fft - hop) // 2
            z = np.pad(sig, (p, p), mode="reflect")
            frames = math.ceil((len(z) - n_fft) / hop) + 1
            z = np.concatenate([z, np.zeros((frames - 1) * hop + n_fft - len(z))])
            spec = np.stack([np.abs(np.fft.rfft(z[k * hop : k * hop + n_fft] * w)) ** 2 for k in range(frames)]).T
            if normalized:
                spec = spec / (w**2).sum()
            return fb @ spec

        mx, my = mel(x), mel(y)
        assert mx.shape[1] == math.ceil(len(x) / hop)  # audiocraft: ceil(T / hop) frames
        total += np.abs(mx - my).mean() + alpha * ((np.log10(mx + floor) - np.log10(my + floor)) ** 2).mean()
        weight += alpha + 1
    return total / weight if normalized else total


@pytest.mark.parametrize("normalized", [False, True])
def test_audiocraft_mel_constant_signal_by_hand(normalized):
    # One scale (window 32, hop 8), one mel band over 0..8 kHz, constant signals a and b, N = 64 (a
    # multiple of the hop: no zero padding, every frame is c * periodic Hann). The DFT of a periodic
    # Hann of length 32 is 16 at bin 0, -8 at bins 1 and 31, 0 elsewhere, so |X|^2 = 256 c^2 at 0 Hz
    # and 64 c^2 at 500 Hz. The single HTK triangle rises from 0 Hz to its centre
    # 700 (sqrt(1 + 8000/700) - 1) Hz, so it weighs 0 Hz by 0 and 500 Hz by 500 / centre.
    centre = 700.0 * (math.sqrt(1.0 + 8000.0 / 700.0) - 1.0)
    a, b = 0.5, 0.25
    norm = 12.0 if normalized else 1.0  # sum of the squared periodic Hann window: 3 * 32 / 8
    m_a, m_b = 64 * a**2 * 500 / centre / norm, 64 * b**2 * 500 / centre / norm
    alpha = math.sqrt(2**5 - 1)
    want = abs(m_a - m_b) + alpha * (math.log10(m_a + 1e-5) - math.log10(m_b + 1e-5)) ** 2
    if normalized:
        want /= alpha + 1.0
    loss = AudiocraftMelLoss(n_mels=1, min_exponent=5, max_exponent=5, normalized=normalized)
    x = torch.full((1, 1, 64), a, dtype=torch.float64)
    y = torch.full((1, 1, 64), b, dtype=torch.float64)
    assert loss.mel(x[:, 0], 32, 8).shape == (1, 1, 8)
    assert loss(x, y).item() == pytest.approx(want, rel=1e-9)


def test_audiocraft_mel_matches_numpy_with_options():
    x, y = _signals(1003, seed=4)  # 1003 samples: not a multiple of any hop, so the last frame is zero-padded
    default = AudiocraftMelLoss(n_mels=16, min_exponent=5, max_exponent=8)
    sqrt_alphas = [math.sqrt(2**i - 1) for i in range(5, 9)]
    assert default.alphas == pytest.approx(sqrt_alphas)
    want = _np_audiocraft(x, y, 16000, 16, range(5, 9), 0.0, sqrt_alphas, normalized=False)
    assert default(_t(x), _t(y)).item() == pytest.approx(want, rel=1e-9)
    # audiocraft's compression recipe: f_min 64, normalized, alphas off (scales here 2^6..2^7)
    recipe = AudiocraftMelLoss(n_mels=16, min_exponent=6, max_exponent=7, f_min=64, normalized=True, alphas="one")
    want = _np_audiocraft(x, y, 16000, 16, range(6, 8), 64.0, [1.0, 1.0], normalized=True)
    assert recipe(_t(x), _t(y)).item() == pytest.approx(want, rel=1e-9)
    custom = AudiocraftMelLoss(n_mels=16, min_exponent=6, max_exponent=7, alphas=[0.5, 3.0])
    want = _np_audiocraft(x, y, 16000, 16, range(6, 8), 0.0, [0.5, 3.0], normalized=False)
    assert custom(_t(x), _t(y)).item() == pytest.approx(want, rel=1e-9)
    assert AudiocraftMelLoss(alphas=False).alphas == [1.0] * 7 and AudiocraftMelLoss(alphas=True).alphas[-1] == (
        pytest.approx(math.sqrt(2047))
    )


def test_audiocraft_mel_from_any_config_and_errors():
    c = load_config("quality/mel_eq5.yaml", TrainConfig, ["losses.mel={name: audiocraft_mel, alphas: one}"])
    # multiscale_mel's arguments are dropped
    assert c.losses["mel"].to_dict() == {"name": "audiocraft_mel", "alphas": "one"}
    assert c.losses["mel"].weight is None  # a new component: its weight is the recipe's default
    loss = c.losses["mel"].build("losses")
    assert isinstance(loss, AudiocraftMelLoss) and loss.n_ffts == [2**i for i in range(5, 12)]
    same = torch.randn(1, 1, 2048, requires_grad=True)
    value = loss(same.detach(), same)
    assert value.item() == 0.0
    value.backward()
    assert torch.isfinite(same.grad).all()
    with pytest.raises(ValueError, match="alphas"):
        AudiocraftMelLoss(alphas="half")
    with pytest.raises(ValueError, match="alphas has 2 entries"):
        AudiocraftMelLoss(alphas=[1.0, 2.0])
