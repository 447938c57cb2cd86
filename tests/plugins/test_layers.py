"""plugins/layers.py: old-style weight norm and normalised convs, checked against torch's own layers."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.io import load_state_dict_strict
from tokenizer_bench.plugins.layers import (
    NormConv1d,
    NormConv2d,
    NormConvTranspose1d,
    WNConv1d,
    WNConv2d,
    WNConvTranspose1d,
    WNLinear,
    conv1d,
    conv2d,
    conv_transpose1d,
)

# (ours, torch's plain layer with the same arguments, an input)
CASES = [
    (lambda: WNConv1d(4, 6, 5, stride=2, padding=2, dilation=2, groups=2),
     lambda: nn.Conv1d(4, 6, 5, stride=2, padding=2, dilation=2, groups=2), (2, 4, 23)),
    (lambda: WNConv2d(3, 5, (3, 9), stride=(1, 2), padding=(2, 4), dilation=(2, 1)),
     lambda: nn.Conv2d(3, 5, (3, 9), stride=(1, 2), padding=(2, 4), dilation=(2, 1)), (2, 3, 12, 20)),
    (lambda: WNConvTranspose1d(6, 3, 8, stride=4, padding=1, output_padding=1),
     lambda: nn.ConvTranspose1d(6, 3, 8, stride=4, padding=1, output_padding=1), (2, 6, 7)),
    (lambda: WNLinear(6, 2, bias=False), lambda: nn.Linear(6, 2, bias=False), (5, 6)),
]


def _old_weight_norm(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the deprecated API the checkpoints were saved with
        return nn.utils.weight_norm(module)


@pytest.mark.parametrize("ours, plain, shape", CASES)
def test_same_keys_and_outputs_as_torch_old_weight_norm(ours, plain, shape):
    mine = ours()
    with torch.no_grad():
        mine.weight_g.mul_(torch.rand_like(mine.weight_g) + 0.5)  # g != ||v||: the formula is exercised
    ref = _old_weight_norm(plain())
    assert list(mine.state_dict()) == list(ref.state_dict())  # bias (if any), weight_g, weight_v
    ref.load_state_dict(mine.state_dict(), strict=True)
    x = torch.randn(*shape)
    torch.testing.assert_close(mine(x), ref(x), rtol=1e-5, atol=1e-6)
    mine.eval()
    with torch.no_grad():
        torch.testing.assert_close(mine(x), ref(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ours, plain, shape", CASES)
def test_seeded_init_draws_what_torch_draws(ours, plain, shape):
    torch.manual_seed(11)
    ref = plain()
    after_ref = torch.random.get_rng_state()
    torch.manual_seed(11)
    mine = ours()
    assert torch.equal(torch.random.get_rng_state(), after_ref)  # the same number of draws
    assert torch.equal(mine.weight_v, ref.weight)
    if ref.bias is not None:
        assert torch.equal(mine.bias, ref.bias)
    dims = tuple(range(1, ref.weight.dim()))
    norms = ref.weight.detach().pow(2).sum(dim=dims, keepdim=True).sqrt()
    torch.testing.assert_close(mine.weight_g.detach(), norms)  # g = ||v||: the initial weight is v
    torch.testing.assert_close(mine.weight.detach(), ref.weight.detach())


def test_meta_build_draws_nothing_and_loads_by_assignment():
    src = WNConv1d(2, 3, 3)
    before = torch.random.get_rng_state()
    with torch.device("meta"):
        shell = WNConv1d(2, 3, 3)
    assert torch.equal(torch.random.get_rng_state(), before)
    load_state_dict_strict(shell, src.state_dict(), source="w.pt", assign=True)
    x = torch.randn(1, 2, 9)
    assert torch.equal(shell(x), src(x))


def test_wrappers_key_paths_and_norm_choices():
    assert list(NormConv1d(2, 3, 3, norm="weight_norm").state_dict()) == [
        "conv.bias", "conv.weight_g", "conv.weight_v"]
    assert list(NormConv2d(2, 3, 3, norm="none").state_dict()) == ["conv.weight", "conv.bias"]
    assert list(NormConvTranspose1d(2, 3, 4, stride=2, norm="weight_norm").state_dict()) == [
        "convtr.bias", "convtr.weight_g", "convtr.weight_v"]
    # spectral norm is torch's: raw weight as weight_orig, power-iteration vectors as buffers
    sn = conv1d("spectral_norm", 1, 4, 5, padding=2)
    assert list(sn.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert type(conv2d("none", 1, 2, 3)) is nn.Conv2d
    assert type(conv_transpose1d("weight_norm", 2, 1, 4)) is WNConvTranspose1d
    with pytest.raises(ConfigError, match="norm must be one of weight_norm, spectral_norm, none; got 'batch'"):
        conv1d("batch", 1, 1, 1)


def test_eval_weight_follows_device_and_dtype_changes():
    m = WNConv1d(2, 2, 1).eval()
    with torch.no_grad():
        w32 = m.weight
        m.double()
        w64 = m.weight
    assert w32.dtype == torch.float32 and w64.dtype == torch.float64
    torch.testing.assert_close(w64.float(), w32)
