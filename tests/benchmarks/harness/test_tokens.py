"""Token statistics against hand-worked histograms."""

from __future__ import annotations

import math

import pytest
import torch

from tokenizer_bench.benchmarks.harness.tokens import TokenCounter, histogram_entropy_bits, stats_markdown, \
    token_statistics
from tokenizer_bench.core.api import load_tokenizer


def test_hand_worked_two_codebooks():
    # codebook 0: [0, 0, 1, 1] -> p = (1/2, 1/2): H = 1 bit, perplexity 2, utilisation 2/4
    # codebook 1: [3, 3, 3, 3] -> H = 0, perplexity 1, utilisation 1/4
    c = TokenCounter([4, 4], frame_rate=50.0)
    c.add(torch.tensor([[[0, 0], [3, 3]]]))
    c.add(torch.tensor([[[1, 1], [3, 3]]]))
    r = c.result(nominal_bitrate=200.0)
    a, b = r["codebooks"]
    assert a["entropy_bits"] == pytest.approx(1.0) and a["perplexity"] == pytest.approx(2.0)
    assert a["utilisation"] == pytest.approx(0.5)
    assert b["entropy_bits"] == pytest.approx(0.0) and b["perplexity"] == pytest.approx(1.0)
    assert b["utilisation"] == pytest.approx(0.25)
    assert r["entropy_bitrate"] == pytest.approx(50.0)  # (1 + 0) bits x 50 frames/s
    assert r["tokens_per_second"] == pytest.approx(100.0)
    assert r["frames"] == 4 and r["nominal_bitrate"] == 200.0


def test_entropy_of_skewed_histogram():
    # p = (3/4, 1/4): H = -(3/4 log2 3/4 + 1/4 log2 1/4) = 0.811278...
    assert histogram_entropy_bits(torch.tensor([3, 1, 0])) == pytest.approx(0.8112781, abs=1e-6)
    assert histogram_entropy_bits(torch.zeros(5)) == 0.0


def test_out_of_range_codes_are_rejected():
    c = TokenCounter([4], frame_rate=1.0)
    with pytest.raises(ValueError, match="codebook 0"):
        c.add(torch.tensor([[[4]]]))
    with pytest.raises(ValueError, match="codes must be"):
        c.add(torch.zeros(1, 2, 3, dtype=torch.long))


class _Fixed:
    """A tokenizer stand-in whose codes are known: level 0 counts 0..T-1 mod 8, level 1 is constant."""

    frame_rate = 10.0
    codebook_sizes = (8, 8)

    def check_n_q(self, n_q):
        return 2 if n_q is None else n_q

    def bitrate_at(self, n):
        return self.frame_rate * n * 3

    def encode(self, wav, n_q=None):
        t = wav.shape[-1] // 100
        level0 = torch.arange(t) % 8
        return torch.stack([level0, torch.zeros(t, dtype=torch.long)])[: self.check_n_q(n_q)][None]


def test_token_statistics_over_utterances():
    r = token_statistics(_Fixed(), [torch.zeros(1600), torch.zeros(800)])  # 16 + 8 frames
    # level 0 sees each of 8 codes 3 times: uniform -> 3 bits, all codes used
    assert r["codebooks"][0]["entropy_bits"] == pytest.approx(3.0)
    assert r["codebooks"][0]["utilisation"] == 1.0
    assert r["entropy_bitrate"] == pytest.approx(30.0) and r["nominal_bitrate"] == pytest.approx(60.0)
    assert "| 2 | 20 | 60 | 30 |" in stats_markdown({"fixed": r, "identity": "not applicable"})
    one = token_statistics(_Fixed(), [torch.zeros(1600)], n_q=1)
    assert one["num_codebooks"] == 1 and one["nominal_bitrate"] == pytest.approx(30.0)


def test_real_tiny_tokenizer_utilisation_matches_codes():
    tok = load_tokenizer("dm_codec", n_filters=2, dimension=16, semantic_dimension=None, codebook_size=32,
                         lstm_layers=0, bidirectional=False, n_q=2, seed=0)
    wav = 0.1 * torch.randn(1, 1, 3200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # one training forward k-means-initialises the codebooks, so codes vary
        tok.generator.quantizer.train()
        tok.generator.quantizer(tok.generator.encoder(wav))
        tok.generator.quantizer.eval()
    codes = tok.encode(wav)
    r = token_statistics(tok, [wav])
    for q in range(2):
        used = len(set(codes[0, q].tolist()))
        assert used > 1
        assert r["codebooks"][q]["utilisation"] == pytest.approx(used / 32)
    assert r["tokens_per_second"] == pytest.approx(2 * tok.frame_rate)
    assert r["nominal_bitrate"] == pytest.approx(tok.frame_rate * 2 * math.log2(32))
