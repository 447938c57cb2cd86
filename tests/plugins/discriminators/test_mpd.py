"""Multi-period discriminator: shapes, padding, weight norm, official layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.discriminators._layout import layout_differences
from tokenizer_bench.plugins.layers import WNConv2d
from tokenizer_bench.plugins.discriminators.mpd import MultiPeriodDiscriminator

MANIFEST = "dmcodec_discriminators_state_dict.json"


def _height(n: int, period: int, n_layers: int) -> int:
    h = -(-n // period)  # reflect-padded up to a multiple of the period
    for i in range(n_layers):
        if i < n_layers - 1:
            h = (h + 4 - 5) // 3 + 1  # k=5, stride 3, padding 2
    return h


def test_tiny_mpd_shapes_and_feature_maps():
    d = get_registry("discriminators").build("mpd", periods=[2, 3], channels=[2, 4, 4])
    logits, fmaps = d(torch.randn(2, 1, 101))
    assert len(logits) == 2 and len(fmaps) == 2
    for p, y, f in zip((2, 3), logits, fmaps):
        h = _height(101, p, 3)
        assert y.shape == (2, h * p)
        assert len(f) == 4  # every conv + the post conv
        assert f[-1].shape == (2, 1, h, p) and f[0].shape[:2] == (2, 2)


def test_reflect_padding_to_a_multiple_of_the_period():
    d = MultiPeriodDiscriminator(periods=[3], channels=[2, 2]).discriminators[0]
    x = torch.randn(1, 1, 10)
    padded = torch.from_numpy(np.pad(x.numpy()[0, 0], (0, 2), mode="reflect")).view(1, 1, 12)
    y1, _ = d(x)
    y2, _ = d(padded)
    assert torch.allclose(y1, y2)


def test_weight_norm_matches_torch_reference_implementation():
    ours = WNConv2d(3, 5, (5, 1), (3, 1), padding=(2, 0))
    with torch.no_grad():
        ours.weight_g.mul_(torch.rand_like(ours.weight_g) + 0.5)  # g no longer equals ||v||
    assert [k for k in ours.state_dict()] == ["bias", "weight_g", "weight_v"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ref = nn.utils.weight_norm(nn.Conv2d(3, 5, (5, 1), (3, 1), padding=(2, 0)))
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 20, 2)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)


def test_rejects_non_waveform_input():
    with pytest.raises(ValueError, match=r"\[B, 1, N\]"):
        MultiPeriodDiscriminator(periods=[2], channels=[2])(torch.randn(2, 100))


def test_official_layout_and_shapes(reference_manifest):
    entry = reference_manifest(MANIFEST)["discriminators"]["mpd"]
    d = MultiPeriodDiscriminator()
    assert layout_differences(d, entry) == []
    with torch.no_grad():
        logits, fmaps = d(torch.randn(1, 1, 16000))
    shapes = entry["api"]["shapes_for_1s_16k_input_(1,1,16000)"]
    assert [list(y.shape) for y in logits] == shapes["logits"]
    assert [[list(f.shape) for f in fs] for fs in fmaps] == shapes["fmaps"]
