"""The signal path at random init, on tiny fixed problems with speech-level inputs (RMS 0.05).

Why: with PyTorch's default init the demo-size codec's latent, codes and output did not depend
on the input, and the discriminators' logits did not either (hinge loss stuck at 2.0), so small
runs trained a constant (issue "Does it train?"). These tests fail with ``init="torch_default"``
(checked by hand: latent spread 0.04 of its magnitude, RVQ-1 one code, logits 0.2-5 % apart).
"""

from __future__ import annotations

import math

import torch

from tokenizer_bench import load_tokenizer
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.encoders.seanet import SEANetDecoder, SEANetEncoder

DEMO = dict(n_filters=16, strides=[8, 5, 4, 2], dimension=128, lstm_layers=1)


def _speech_like(seed: int, n: int = 16000) -> torch.Tensor:
    """A fixed 'utterance': a random mix of harmonics under a syllable-rate envelope, RMS 0.05."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000
    f0 = 100 + 150 * torch.rand((), generator=g)
    x = sum(torch.rand((), generator=g) * torch.sin(2 * math.pi * f0 * k * t) for k in range(1, 8))
    x = x * (0.5 + 0.5 * torch.sin(2 * math.pi * 4 * t + 6 * torch.rand((), generator=g)))
    x = x + 0.1 * x.std() * torch.randn(n, generator=g)
    return (0.05 * x / x.pow(2).mean().sqrt()).view(1, 1, n)


def test_encoder_latent_varies_with_the_input_and_over_time():
    enc = SEANetEncoder(**DEMO, bidirectional=True).eval()
    with torch.no_grad():
        a, b = enc(_speech_like(1)), enc(_speech_like(2))
    spread_over_time = (a.std(-1).mean() / a.abs().mean()).item()
    between_inputs = ((a - b).pow(2).mean().sqrt() / a.pow(2).mean().sqrt()).item()
    assert spread_over_time > 0.3, spread_over_time    # torch_default: 0.04
    assert between_inputs > 0.3, between_inputs        # torch_default: < 0.01


def test_decoder_output_depends_on_its_latent():
    dec = SEANetDecoder(**DEMO, bidirectional=False).eval()
    z = torch.randn(1, 128, 50, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y1, y2 = dec(z), dec(3 * z)
    rel = ((y1 - y2).pow(2).mean().sqrt() / y1.pow(2).mean().sqrt()).item()
    assert rel > 0.5, rel                              # torch_default: 0.007


def test_codes_of_two_different_utterances_differ():
    tok = load_tokenizer("dm_codec", encoder={"name": "seanet_encoder", **DEMO, "bidirectional": True},
                         decoder={"name": "seanet_decoder", **DEMO, "bidirectional": False},
                         quantizer={"name": "rvq", "dimension": 128, "n_q": 2, "codebook_size": 16, "kmeans_iters": 5},
                         semantic_dimension=None)
    gen = tok.generator.train()
    with torch.no_grad():  # one training forward initialises the codebooks by k-means on these latents
        gen(torch.cat([_speech_like(s) for s in range(4)]))
    gen.eval()
    a, b = tok.encode(_speech_like(10)), tok.encode(_speech_like(11))
    assert len(torch.unique(a[0, 0])) > 1             # RVQ-1 uses more than one code in an utterance
    assert (a != b).float().mean().item() > 0.3      # and different utterances get different codes


def test_discriminator_loss_falls_on_a_fixed_real_fake_pair():
    torch.manual_seed(0)
    real = torch.cat([_speech_like(s, 8000) for s in range(4)])
    fake = 0.05 * torch.randn(4, 1, 8000, generator=torch.Generator().manual_seed(9))  # noise at the same RMS
    d = get_registry("discriminators").build("mpd", periods=[2, 3], channels=[8, 16, 32, 32])
    loss_fn = get_registry("losses").build("adversarial", kind="hinge", reduction="mean")
    opt = torch.optim.Adam(d.parameters(), lr=3e-4, betas=(0.9, 0.99))
    losses = []
    for _ in range(60):
        lr_, _ = d(real)
        lf, _ = d(fake)
        loss = loss_fn.discriminator_loss(lr_, lf)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert abs(losses[0] - 2.0) < 0.1                 # an untrained D: logits near 0, hinge loss 2
    assert losses[-1] < 1.92, losses                  # torch_default: 1.995 after 60 steps
