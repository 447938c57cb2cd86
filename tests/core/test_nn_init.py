"""Initialisation schemes: fan-in by hand, variance kept, biases zero, weight norm consistent."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.nn_init import check_init, fan_in, initialise_
from tokenizer_bench.plugins.encoders._modules import SConv1d, SConvTranspose1d


def test_fan_in_by_hand():
    # Conv1d(6 -> 4, k=5): each output sums 6 channels x 5 taps = 30 inputs
    conv = nn.Conv1d(6, 4, 5)
    assert fan_in(conv, conv.weight) == 30
    # grouped: Conv1d(8 -> 8, k=3, groups=4): 2 channels x 3 taps = 6
    grouped = nn.Conv1d(8, 8, 3, groups=4)
    assert fan_in(grouped, grouped.weight) == 6
    # ConvTranspose1d(8 -> 4, k=10, stride=5): one output sample receives 8 channels x 10/5 = 2 taps = 16
    tr = nn.ConvTranspose1d(8, 4, 10, stride=5)
    assert fan_in(tr, tr.weight) == 16
    lin = nn.Linear(7, 3)
    assert fan_in(lin, lin.weight) == 7


def test_unknown_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="torch_default, variance_preserving"):
        check_init("xavier", "seanet_encoder")


def test_torch_default_changes_nothing():
    conv = nn.Conv1d(3, 3, 3)
    before = conv.weight.detach().clone()
    initialise_(conv, "torch_default")
    assert torch.equal(conv.weight, before)


@pytest.mark.parametrize("layer", [
    lambda: SConv1d(64, 64, 7),                  # weight-normalised conv (g, v)
    lambda: nn.Conv1d(64, 64, 7),                # plain conv
    lambda: SConvTranspose1d(64, 32, 8, stride=4),  # weight-normalised transposed conv
])
def test_variance_preserving_keeps_the_signal_scale_and_zeroes_biases(layer):
    torch.manual_seed(0)
    m = layer()
    initialise_(m, "variance_preserving")
    biases = [p for n, p in m.named_parameters() if n.endswith("bias")]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)
    x = torch.randn(8, 64, 4000)
    with torch.no_grad():
        y = m(x)
    # Var(y) = fan_in * Var(w) * Var(x) = 1 for N(0, 1/fan_in) weights and unit-variance input
    assert y.var().item() == pytest.approx(1.0, rel=0.15)


def test_weight_norm_magnitude_matches_the_drawn_direction():
    m = SConv1d(16, 8, 3)
    initialise_(m, "variance_preserving")
    wn = m.conv.conv
    norms = torch.linalg.vector_norm(wn.weight_v, dim=(1, 2), keepdim=True)
    assert torch.allclose(wn.weight_g, norms)
    assert torch.allclose(wn.weight, wn.weight_v)  # g = ||v||: the effective weight is v itself
    # std of the drawn weights is 1/sqrt(16*3)
    assert wn.weight_v.std().item() == pytest.approx(1 / math.sqrt(48), rel=0.2)


def test_spectral_norm_layers_get_their_raw_weight_drawn():
    m = nn.utils.spectral_norm(nn.Conv1d(4, 4, 3))
    initialise_(m, "variance_preserving")
    assert torch.count_nonzero(m.bias) == 0
    assert m.weight_orig.std().item() == pytest.approx(1 / math.sqrt(12), rel=0.5)
