"""SEANet encoder/decoder: padding, weight norm, LSTM skip, Snake, layout and shapes.

Numbers are checked against hand-worked examples and numpy re-computations.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.encoders._modules import (
    SLSTM,
    SConv1d,
    SConvTranspose1d,
    Snake1d,
    extra_padding_for_conv1d,
    pad1d,
)
from tokenizer_bench.plugins.encoders.seanet import SEANetDecoder, SEANetEncoder

TINY = dict(n_filters=4, strides=[4, 5, 2], dimension=12, dilation_base=2, residual_kernel_size=3,
            n_residual_layers=1, lstm_layers=1, activation="ELU")


def test_registered():
    assert "seanet_encoder" in get_registry("encoders")
    assert "seanet_decoder" in get_registry("decoders")
    enc = get_registry("encoders").build("seanet_encoder", **TINY, bidirectional=True)
    assert enc.hop_length == 40 and enc.dimension == 12


def test_reflect_pad_short_input_hand_worked():
    # x=[1,2], pad 3/3: zeros appended to [1,2,0,0], reflected -> [0,0,2,1,2,0,0,0,2,1], extra 2 cut.
    x = torch.tensor([[[1.0, 2.0]]])
    out = pad1d(x, 3, 3, "reflect")
    assert out.flatten().tolist() == [0.0, 0.0, 2.0, 1.0, 2.0, 0.0, 0.0, 0.0]


def test_extra_padding_hand_worked():
    # N=5, k=4, s=2, total padding 2: frames=(5-4+2)/2+1=2.5 -> 3; ideal=(3-1)*2+(4-2)=6 -> extra 1
    assert extra_padding_for_conv1d(5, 4, 2, 2) == 1
    assert extra_padding_for_conv1d(6, 4, 2, 2) == 0


def test_sconv1d_matches_manual_padding_and_weight_norm():
    torch.manual_seed(0)
    conv = SConv1d(2, 3, kernel_size=4, stride=2)
    x = torch.randn(1, 2, 5)
    y = conv(x).detach().numpy()
    # manual: total=k-s=2 -> right 1, left 1; extra right 1 (see above); reflect padding
    xn = x.numpy()[0]
    padded = np.pad(xn, ((0, 0), (1, 2)), mode="reflect")
    v = conv.conv.conv.weight_v.detach().numpy()
    g = conv.conv.conv.weight_g.detach().numpy()
    w = g * v / np.sqrt((v ** 2).sum(axis=(1, 2), keepdims=True))
    b = conv.conv.conv.bias.detach().numpy()
    frames = (padded.shape[1] - 4) // 2 + 1
    expected = np.stack([np.einsum("oik,ik->o", w, padded[:, 2 * t:2 * t + 4]) + b for t in range(frames)], axis=1)
    assert y.shape == (1, 3, 3)
    np.testing.assert_allclose(y[0], expected, rtol=1e-5, atol=1e-6)


def test_dilated_padding_is_same_length():
    conv = SConv1d(1, 1, kernel_size=3, dilation=4)
    assert conv(torch.randn(2, 1, 17)).shape == (2, 1, 17)


def test_weight_norm_layout_and_initial_weight():
    tr = SConvTranspose1d(6, 3, kernel_size=8, stride=4)
    m = tr.convtr.convtr
    keys = list(tr.state_dict())
    assert keys == ["convtr.convtr.bias", "convtr.convtr.weight_g", "convtr.convtr.weight_v"]
    assert m.weight_g.shape == (6, 1, 1) and m.weight_v.shape == (6, 3, 8)
    # old-style init: g = ||v|| over dims 1.., so the effective weight is v itself
    v = m.weight_v.detach().numpy()
    np.testing.assert_allclose(m.weight_g.detach().numpy()[:, 0, 0], np.sqrt((v ** 2).sum(axis=(1, 2))), rtol=1e-6)
    np.testing.assert_allclose(m.weight.detach().numpy(), v, rtol=1e-5, atol=1e-7)
    # transposed conv trims k - s = 4 samples: 2 right, 2 left -> length T*s
    assert tr(torch.randn(1, 6, 7)).shape == (1, 3, 28)


def test_eval_weight_is_cached_per_parameter_version():
    """Inference reuses the normalised weight; any change to g or v (optimiser step, load) is seen."""
    conv = SConv1d(3, 5, kernel_size=3).eval()
    m = conv.conv.conv

    def expected() -> np.ndarray:
        v, g = m.weight_v.detach().numpy(), m.weight_g.detach().numpy()
        return g * v / np.sqrt((v ** 2).sum(axis=(1, 2), keepdims=True))

    with torch.no_grad():
        first = m.weight
        assert m.weight is first  # cached
        np.testing.assert_allclose(first.numpy(), expected(), rtol=1e-6)
        m.weight_g.mul_(2.0)  # in place, as an optimiser step
        np.testing.assert_allclose(m.weight.numpy(), expected(), rtol=1e-6)
        state = {k: v * 0.5 for k, v in conv.state_dict().items()}
    conv.load_state_dict(state)
    with torch.no_grad():
        np.testing.assert_allclose(m.weight.numpy(), expected(), rtol=1e-6)
    # with gradients or in training the weight is recomputed (and carries a graph), the copy freed
    assert m.weight.requires_grad
    conv.train()
    assert "_eval_weight" not in m.__dict__


def test_no_deprecated_weight_norm_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SEANetEncoder(**TINY)
        SEANetDecoder(**TINY)


def test_slstm_bidirectional_skip_tiles_input():
    torch.manual_seed(0)
    m = SLSTM(3, num_layers=1, bidirectional=True)
    x = torch.randn(2, 3, 5)
    y = m(x)
    raw, _ = m.lstm(x.permute(2, 0, 1))
    expected = (raw + torch.cat([x, x], dim=1).permute(2, 0, 1)).permute(1, 2, 0)
    assert y.shape == (2, 6, 5)
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_slstm_skip_without_autograd_matches_the_formula(bidirectional):
    """The in-place skip of inference adds the same [x, x] (or x) as the autograd path's formula."""
    torch.manual_seed(0)
    m = SLSTM(3, num_layers=1, bidirectional=bidirectional)
    x = torch.randn(2, 3, 5)
    raw, _ = m.lstm(x.permute(2, 0, 1))
    skip = torch.cat([x, x], dim=1) if bidirectional else x
    expected = (raw + skip.permute(2, 0, 1)).permute(1, 2, 0)
    with torch.no_grad():
        y = m(x)
    torch.testing.assert_close(y, expected.detach())


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_inference_path_in_place_matches_autograd_path_and_keeps_the_input(mode):
    """Without autograd, ELUs and residual sums overwrite fresh intermediates: same outputs,
    and the caller's tensors are left as they were."""
    torch.manual_seed(0)
    enc = SEANetEncoder(**TINY, bidirectional=True).eval()
    dec = SEANetDecoder(**TINY).eval()
    wav = torch.randn(2, 1, 400)
    z_ref = enc(wav)
    y_ref = dec(z_ref)
    wav_copy = wav.clone()
    ctx = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
    with ctx:
        z = enc(wav)
        z_copy = z.clone()
        y = dec(z)
    torch.testing.assert_close(z, z_ref.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(y, y_ref.detach(), rtol=0, atol=1e-6)
    assert torch.equal(wav, wav_copy) and torch.equal(z, z_copy)


def test_snake_formula():
    m = Snake1d(2)
    with torch.no_grad():
        m.alpha.copy_(torch.tensor([[[0.5], [2.0]]]))
    x = torch.linspace(-2, 2, 6).reshape(1, 1, 6).repeat(1, 2, 1)
    a = np.array([0.5, 2.0])[:, None]
    xn = x.numpy()[0]
    expected = xn + np.sin(a * xn) ** 2 / (a + 1e-9)
    np.testing.assert_allclose(m(x).detach().numpy()[0], expected, rtol=1e-6)


@pytest.mark.parametrize("n", [1, 39, 40, 41, 400])
def test_encoder_decoder_shapes(n):
    enc = SEANetEncoder(**TINY, bidirectional=True)
    dec = SEANetDecoder(**TINY)
    z = enc(torch.randn(2, 1, n))
    assert z.shape == (2, 12, math.ceil(n / 40))
    assert dec(z).shape == (2, 1, z.shape[-1] * 40)


def test_layout_indices_follow_official():
    enc = SEANetEncoder(**TINY, bidirectional=True)
    keys = set(enc.state_dict())
    # conv, [res, act, down] x 3, lstm, act, conv -> indices 0, 1/3, 4/6, 7/9, 10, 12
    assert "model.0.conv.conv.weight_g" in keys
    assert {"model.1.block.1.conv.conv.weight_v", "model.1.block.3.conv.conv.weight_v",
            "model.1.shortcut.conv.conv.weight_v"} <= keys
    assert "model.3.conv.conv.weight_v" in keys and "model.10.lstm.weight_ih_l0_reverse" in keys
    assert enc.state_dict()["model.12.conv.conv.weight_v"].shape == (12, 2 * 32, 7)  # bidirectional doubles
    dec = SEANetDecoder(**TINY)
    dkeys = set(dec.state_dict())
    assert "model.1.lstm.weight_ih_l0" in dkeys and not any("reverse" in k for k in dkeys)
    assert dec.state_dict()["model.3.convtr.convtr.weight_g"].shape == (32, 1, 1)  # [in, 1, 1]


def test_snake_activation_adds_alpha_parameters():
    enc = SEANetEncoder(**{**TINY, "activation": "Snake"})
    assert enc.state_dict()["model.2.alpha"].shape == (1, 4, 1)
    assert enc.state_dict()["model.1.block.0.alpha"].shape == (1, 4, 1)
    assert enc.state_dict()["model.1.block.2.alpha"].shape == (1, 2, 1)


def test_true_skip_removes_shortcut_and_norm_none_uses_plain_weight():
    enc = SEANetEncoder(**TINY, true_skip=True, norm="none")
    keys = set(enc.state_dict())
    assert not any("shortcut" in k for k in keys)
    assert "model.0.conv.conv.weight" in keys and not any("weight_g" in k for k in keys)


def test_bad_configs_raise():
    with pytest.raises(ConfigError, match="unidirectional"):
        SEANetDecoder(**TINY, bidirectional=True)
    with pytest.raises(ConfigError, match="activation"):
        SEANetEncoder(**{**TINY, "activation": "NoSuchAct"})
    with pytest.raises(ConfigError, match="norm"):
        SEANetEncoder(**TINY, norm="spectral")
    with pytest.raises(ValueError, match="expects"):
        SEANetEncoder(**TINY)(torch.randn(2, 40))
