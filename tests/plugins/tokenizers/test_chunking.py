"""Bounded-memory encode/decode: sub-batches are exact, windows are exact without recurrence.

The reference for every windowed result is the same tokenizer on the whole input in one call.
A SEANet without LSTM has a finite receptive field, so with enough context the windows must give
*identical* codes; with the LSTM (the paper model) only near-equality can hold, which the
benchmark measures rather than a test asserting a number.
"""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.plugins.tokenizers._chunking import batch_groups, windows
from tokenizer_bench.plugins.tokenizers.dm_codec import DMCodecTokenizer

# strides 4*2 -> hop 8 -> 2000 frames/s at 16 kHz
CONV_ONLY = dict(n_filters=2, dimension=16, semantic_dimension=None, codebook_size=32, lstm_layers=0,
                 strides=[4, 2], n_q=3, bidirectional=False)


def initialised(tok: DMCodecTokenizer) -> DMCodecTokenizer:
    """Codebooks set to latent frames of the test audio, so the codes vary from frame to frame."""
    gen = tok.generator
    with torch.no_grad():
        latent = gen.encoder(0.3 * torch.randn(2, 1, 16013, generator=torch.Generator().manual_seed(0)))
        frames = latent.transpose(1, 2).reshape(-1, latent.shape[1])
        pick = torch.randperm(frames.shape[0], generator=torch.Generator().manual_seed(1))
        for i, module in enumerate(m for m in gen.modules() if hasattr(m, "inited") and hasattr(m, "embed")):
            chosen = frames[pick[i * module.embed.shape[0] : (i + 1) * module.embed.shape[0]]]
            module.embed.copy_(chosen)
            module.embed_avg.copy_(chosen)
            module.inited.fill_(1)
            frames = frames - chosen[torch.cdist(frames, chosen).argmin(1)]  # next layer sees the residual
    return tok


def test_windows_hand_worked():
    # 10 frames, windows of 4, context 1: own frames [0,4) [4,8) [8,10)
    assert windows(10, 4, 1) == [(0, 4, 0, 5), (4, 8, 3, 9), (8, 10, 7, 10)]
    assert windows(3, 4, 2) == [(0, 3, 0, 3)]


def test_batch_groups_hand_worked():
    assert batch_groups(5, 10.0, None) == [slice(0, 5)]
    assert batch_groups(5, 10.0, 50.0) == [slice(0, 5)]
    assert batch_groups(5, 10.0, 25.0) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert batch_groups(3, 100.0, 25.0) == [slice(0, 1), slice(1, 2), slice(2, 3)]  # one example per call at least


@pytest.fixture(scope="module")
def conv_only():
    return initialised(DMCodecTokenizer.from_options(**CONV_ONLY, seed=0, chunk_seconds=None, max_batch_seconds=None))


def with_limits(tok: DMCodecTokenizer, **limits) -> DMCodecTokenizer:
    return DMCodecTokenizer(tok.generator, **limits)


def test_windows_without_recurrence_give_identical_codes_and_audio(conv_only):
    g = torch.Generator().manual_seed(0)
    wav = 0.3 * torch.randn(2, 1, 16000 + 13, generator=g)  # 1 s and a partial frame
    codes = conv_only.encode(wav)
    assert codes.shape == (2, 3, 2002) and len(codes.unique()) > 10  # ceil(16013 / 8) frames, varied codes
    # windows of 0.1 s (200 frames) with 0.02 s (40 frames) of context: 11 windows
    windowed = with_limits(conv_only, chunk_seconds=0.1, chunk_context_seconds=0.02, max_batch_seconds=None)
    assert torch.equal(windowed.encode(wav), codes)
    torch.testing.assert_close(windowed.decode(codes), conv_only.decode(codes), rtol=1e-5, atol=1e-6)
    # without context the window edges do differ: the context is what makes it exact
    bare = with_limits(conv_only, chunk_seconds=0.1, chunk_context_seconds=0.0, max_batch_seconds=None)
    assert not torch.allclose(bare.decode(codes), conv_only.decode(codes), atol=1e-6)


def test_sub_batches_are_exact_with_the_lstm():
    tok = initialised(DMCodecTokenizer.from_options(**{**CONV_ONLY, "lstm_layers": 1}, seed=1, chunk_seconds=None,
                                                    max_batch_seconds=None))
    wav = 0.3 * torch.randn(5, 1, 1600, generator=torch.Generator().manual_seed(2))
    codes = tok.encode(wav)
    small = with_limits(tok, chunk_seconds=None, max_batch_seconds=0.25)  # 0.1 s each -> groups of 2
    assert torch.equal(small.encode(wav), codes)
    torch.testing.assert_close(small.decode(codes), tok.decode(codes))


def test_limits_are_options_with_clear_errors(conv_only):
    assert DMCodecTokenizer.from_options(**CONV_ONLY, chunk_seconds=30).chunk_seconds == 30.0
    with pytest.raises(ConfigError, match="chunk_seconds must be positive or null"):
        DMCodecTokenizer(conv_only.generator, chunk_seconds=0)
    with pytest.raises(ConfigError, match="chunk_context_seconds must be >= 0"):
        DMCodecTokenizer(conv_only.generator, chunk_context_seconds=-1)
