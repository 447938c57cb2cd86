"""Multi-scale STFT discriminator: STFT against numpy, shapes, keys, official layout."""

from __future__ import annotations

import numpy as np
import torch

from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.discriminators._layout import layout_differences
from tokenizer_bench.plugins.discriminators.mstft import ComplexSpectrogram, MultiScaleSTFTDiscriminator

MANIFEST = "dmcodec_discriminators_state_dict.json"


def test_spectrogram_matches_numpy_normalized_no_centering():
    x = np.random.default_rng(0).standard_normal(300)
    n_fft, hop = 64, 16
    n = np.arange(n_fft)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann
    frames = np.stack([x[s : s + n_fft] * w for s in range(0, len(x) - n_fft + 1, hop)])
    want = np.fft.rfft(frames, axis=-1).T / np.sqrt((w**2).sum())  # [freq, frames]
    spec = ComplexSpectrogram(n_fft, hop, n_fft).double()(torch.from_numpy(x).view(1, 1, -1))
    assert spec.shape == (1, 1, n_fft // 2 + 1, frames.shape[0])
    assert np.allclose(spec[0, 0].numpy(), want, atol=1e-10)


def test_tiny_shapes_and_keys():
    d = get_registry("discriminators").build("mstft", filters=4, n_ffts=[64, 32])
    logits, fmaps = d(torch.randn(2, 1, 400))
    t64, t32 = 1 + (400 - 64) // 16, 1 + (400 - 32) // 8
    assert [tuple(f.shape) for f in fmaps[0]] == [(2, 4, t64, 33), (2, 4, t64, 17), (2, 4, t64, 9),
                                                  (2, 4, t64, 5), (2, 4, t64, 5)]
    assert tuple(logits[0].shape) == (2, 1, t64, 5) and tuple(logits[1].shape) == (2, 1, t32, 3)
    keys = list(d.state_dict())
    assert keys[:3] == ["discriminators.0.spec_transform.window", "discriminators.0.convs.0.conv.weight",
                        "discriminators.0.convs.0.conv.bias"]
    assert "discriminators.0.convs.1.conv.weight_g" in keys and "discriminators.0.conv_post.conv.weight_v" in keys


def test_official_layout_and_shapes(reference_manifest):
    entry = reference_manifest(MANIFEST)["discriminators"]["mstftd"]
    d = MultiScaleSTFTDiscriminator(32)
    assert layout_differences(d, entry) == []
    assert sum(v.numel() for v in d.state_dict().values()) == entry["num_state_dict_elements"]
    with torch.no_grad():
        logits, fmaps = d(torch.randn(1, 1, 16000))
    shapes = entry["api"]["shapes_for_1s_16k_input_(1,1,16000)"]
    assert [list(y.shape) for y in logits] == shapes["logits"]
    assert [[list(f.shape) for f in fs] for fs in fmaps] == shapes["fmaps"]
