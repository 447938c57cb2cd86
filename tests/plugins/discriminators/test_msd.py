"""Multi-scale discriminator: shapes, spectral norm in train vs eval, official layout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.discriminators._layout import layout_differences
from tokenizer_bench.plugins.discriminators.msd import MultiScaleDiscriminator

MANIFEST = "dmcodec_discriminators_state_dict.json"
TINY = dict(channels=[4, 4, 8, 8], kernel_sizes=[5, 5, 5, 3], strides=[1, 2, 2, 1], groups=[1, 2, 4, 1])


def _length(n, strides, kernels):
    for s, k in zip(strides, kernels):
        n = (n + 2 * ((k - 1) // 2) - k) // s + 1
    return n


def test_tiny_msd_shapes_pooling_and_feature_maps():
    d = get_registry("discriminators").build("msd", num_scales=3, **TINY)
    logits, fmaps = d(torch.randn(2, 1, 200))
    assert len(logits) == len(fmaps) == 3
    for n_in, y, f in zip((200, 101, 51), logits, fmaps):  # AvgPool1d(4, 2, pad 2) twice
        n = _length(n_in, TINY["strides"], TINY["kernel_sizes"])
        assert f[0].shape == (2, 4, n_in)
        assert len(f) == 5 and f[-1].shape == (2, 1, n) and y.shape == (2, n)


def test_first_scale_spectral_norm_others_weight_norm():
    keys = MultiScaleDiscriminator(**TINY).state_dict().keys()
    assert "discriminators.0.convs.0.weight_orig" in keys and "discriminators.0.convs.0.weight_u" in keys
    assert "discriminators.0.convs.0.weight_g" not in keys
    assert "discriminators.1.convs.0.weight_g" in keys and "discriminators.2.conv_post.weight_v" in keys
    assert not any(k.startswith("discriminators.1") and "weight_orig" in k for k in keys)
    plain = MultiScaleDiscriminator(spectral_norm_first=False, **TINY).state_dict().keys()
    assert not any("weight_orig" in k for k in plain)


def test_spectral_norm_eval_uses_stored_vectors_train_iterates():
    d = MultiScaleDiscriminator(num_scales=1, **TINY)
    conv = d.discriminators[0].convs[1]
    x = torch.randn(1, 1, 64)
    d.train()
    d(x)  # one power iteration per forward in training
    u_before = conv.weight_u.clone()
    d(x)
    assert not torch.equal(u_before, conv.weight_u)

    d.eval()
    u, v = conv.weight_u.clone(), conv.weight_v.clone()
    with torch.no_grad():
        y1, f1 = d(x)
        y2, _ = d(x)
    assert torch.equal(u, conv.weight_u) and torch.equal(v, conv.weight_v)
    assert torch.equal(y1[0], y2[0])
    # sigma = u . (W v), W flattened to [out, in*k]; the conv uses W / sigma
    w = conv.weight_orig.detach()
    sigma = torch.dot(u, w.reshape(w.shape[0], -1) @ v)
    layer0, layer1 = f1[0][0], f1[0][1]
    expected = F.leaky_relu(F.conv1d(layer0, w / sigma, conv.bias.detach(), stride=2, padding=2, groups=2), 0.1)
    assert torch.allclose(layer1, expected, atol=1e-6)


def test_official_layout_and_shapes(reference_manifest):
    entry = reference_manifest(MANIFEST)["discriminators"]["msd"]
    d = MultiScaleDiscriminator()
    assert layout_differences(d, entry) == []
    assert sum(v.numel() for v in d.state_dict().values()) == entry["num_state_dict_elements"]
    d.eval()
    with torch.no_grad():
        logits, fmaps = d(torch.randn(1, 1, 16000))
    shapes = entry["api"]["shapes_for_1s_16k_input_(1,1,16000)"]
    assert [list(y.shape) for y in logits] == shapes["logits"]
    assert [[list(f.shape) for f in fs] for fs in fmaps] == shapes["fmaps"]


def test_bad_widths_are_errors():
    with pytest.raises(ValueError, match="same non-zero length"):
        MultiScaleDiscriminator(channels=[4, 4], kernel_sizes=[5], strides=[1], groups=[1])
    with pytest.raises(ValueError, match="groups"):
        MultiScaleDiscriminator(channels=[4, 6], kernel_sizes=[5, 5], strides=[1, 1], groups=[1, 4])
