"""The multi-resolution STFT loss against hand-worked values and a direct numpy STFT."""

import math

import numpy as np
import pytest
import torch

from tokenizer_bench.plugins.losses.stft import MultiResolutionSTFTLoss

RESOLUTIONS = dict(n_fft=(64, 128), hop_lengths=(16, 32), win_lengths=(48, 128))


def _loss(**kwargs) -> MultiResolutionSTFTLoss:
    return MultiResolutionSTFTLoss(
        n_ffts=RESOLUTIONS["n_fft"], hop_lengths=RESOLUTIONS["hop_lengths"],
        win_lengths=RESOLUTIONS["win_lengths"], **kwargs,
    )


def _numpy_magnitude(x: np.ndarray, n_fft: int, hop: int, win: int, eps: float) -> np.ndarray:
    """Centred STFT written out: reflect-pad n_fft/2, periodic Hann of ``win`` centred in n_fft, rfft per frame."""
    n = np.arange(win)
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left:left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * n / win)
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    spec = np.stack([np.fft.rfft(padded[i * hop:i * hop + n_fft] * window) for i in range(frames)], axis=-1)
    return np.sqrt(np.maximum(spec.real ** 2 + spec.imag ** 2, eps))


def _numpy_loss(x: np.ndarray, y: np.ndarray, eps: float = 1e-7) -> float:
    """(1/M) Σ_m (‖|X|−|Y|‖_F / ‖|X|‖_F + mean|log|X| − log|Y||) over a batch [B, N]."""
    total = 0.0
    for n_fft, hop, win in zip(RESOLUTIONS["n_fft"], RESOLUTIONS["hop_lengths"], RESOLUTIONS["win_lengths"]):
        ref = np.stack([_numpy_magnitude(row, n_fft, hop, win, eps) for row in x])
        est = np.stack([_numpy_magnitude(row, n_fft, hop, win, eps) for row in y])
        total += np.sqrt(((ref - est) ** 2).sum()) / np.sqrt((ref ** 2).sum())
        total += np.abs(np.log(ref) - np.log(est)).mean()
    return total / len(RESOLUTIONS["n_fft"])


def test_identical_signals_give_zero():
    x = torch.randn(2, 1, 1000, dtype=torch.float64)
    assert float(_loss()(x, x.clone())) == 0.0


@pytest.mark.parametrize("a", [0.5, 2.0])
def test_scaled_signal_closed_form(a):
    # x̂ = a·x scales every magnitude by a (white noise keeps every bin far above eps), so
    # spectral convergence is |1 − a| and the log-magnitude L1 is |log a| at every resolution.
    x = torch.randn(2, 1, 2000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert math.isclose(float(_loss(mag_weight=0.0)(x, a * x)), abs(1 - a), rel_tol=1e-9)
    assert math.isclose(float(_loss(sc_weight=0.0)(x, a * x)), abs(math.log(a)), rel_tol=1e-9)
    assert math.isclose(float(_loss()(x, a * x)), abs(1 - a) + abs(math.log(a)), rel_tol=1e-9)


def test_matches_a_direct_numpy_stft():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 700))
    y = x + 0.3 * rng.standard_normal((2, 700))
    y[1, 300:400] = 0.0  # silent stretch: the eps floor decides those bins on both sides
    got = float(_loss()(torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None]))
    assert math.isclose(got, _numpy_loss(x, y), rel_tol=1e-9)


def test_longer_reconstruction_is_cut_to_the_reference():
    x = torch.randn(1, 1, 800, dtype=torch.float64)
    tail = torch.randn(1, 1, 7, dtype=torch.float64)
    assert float(_loss()(x, torch.cat([x, tail], dim=-1))) == 0.0


def test_gradient_reaches_the_reconstruction():
    x = torch.randn(1, 1, 600)
    x_hat = (x + 0.1 * torch.randn_like(x)).requires_grad_()
    _loss()(x, x_hat).backward()
    assert x_hat.grad is not None and torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0


def test_bad_settings_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="same non-zero length"):
        MultiResolutionSTFTLoss(n_ffts=(64,), hop_lengths=(16, 32), win_lengths=(64,))
    with pytest.raises(ValueError, match="win_length <= n_fft"):
        MultiResolutionSTFTLoss(n_ffts=(64,), hop_lengths=(16,), win_lengths=(128,))
    with pytest.raises(ValueError, match=r"\[B, 1, N\]"):
        _loss()(torch.zeros(2, 100), torch.zeros(2, 100))
    with pytest.raises(ValueError, match="too short"):
        _loss()(torch.zeros(1, 1, 40), torch.zeros(1, 1, 40))
