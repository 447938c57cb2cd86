"""mel_encoder / istft_decoder: frame counts, the synthesis convention and the mel front end,
each checked against an independent computation (torch.stft round trip, a pure tone's mel bin)."""

from __future__ import annotations

import math

import pytest
import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.encoders._convnext import ConvNeXtBlock
from tokenizer_bench.plugins.encoders.spectral import ISTFTDecoder, MelEncoder

TINY = dict(dim=16, hidden=32, num_layers=1)


@pytest.mark.parametrize("n", [16000, 16001, 15999, 700])
def test_frames_and_output_length_follow_the_seanet_contract(n):
    enc = MelEncoder(dimension=8, hop_length=320, **TINY)
    dec = ISTFTDecoder(dimension=8, hop_length=320, post_layers=1, **TINY)
    z = enc(torch.randn(2, 1, n))
    assert z.shape == (2, 8, math.ceil(n / 320))
    assert dec(z).shape == (2, 1, z.shape[-1] * 320)


def test_istft_synthesis_inverts_the_analysis_convention():
    """With the head replaced by the STFT of a known signal, the decoder returns that signal."""
    dec = ISTFTDecoder(dimension=8, hop_length=320, upsample=2, **TINY)
    t = torch.arange(10 * 320) / 16000
    x = (0.3 * torch.sin(2 * math.pi * 440 * t) + 0.1 * torch.sin(2 * math.pi * 1234 * t)).unsqueeze(0)
    spec = torch.stft(x, dec.n_fft, hop_length=dec.istft_hop, window=torch.hann_window(dec.n_fft),
                      center=True, return_complex=True)[..., :20]  # 10 frames x upsample 2
    dec.spectrum = lambda latent: spec  # type: ignore[method-assign]
    y = dec(torch.zeros(1, 8, 10))
    assert y.shape == (1, 1, 3200)
    assert torch.allclose(y[0, 0], x[0], atol=1e-4)


def test_mel_front_end_puts_a_pure_tone_in_its_mel_band():
    enc = MelEncoder(dimension=8, hop_length=320, n_mels=40, **TINY)
    t = torch.arange(16000) / 16000
    mel = enc.log_mel(torch.sin(2 * math.pi * 1000 * t).view(1, 1, -1))
    assert mel.shape == (1, 40, 100)
    # Slaney's mel scale: linear below 1 kHz (200/3 Hz per unit, so 1 kHz = 15), then 27 units per
    # factor 6.4 in frequency. 40 bands from 0 to 8 kHz have centres evenly spaced in mel.
    top_mel = 15 + 27 * math.log(8000 / 1000) / math.log(6.4)
    centres = [top_mel * (i + 1) / 41 for i in range(40)]
    expected = min(range(40), key=lambda i: abs(centres[i] - 15))
    assert int(mel[0, :, 50].argmax()) == expected


def test_convnext_block_with_zero_layer_scale_is_the_identity():
    block = ConvNeXtBlock(8, 16, layer_scale=0.0)
    x = torch.randn(2, 8, 11)
    assert torch.equal(block(x), x)


def test_bad_hops_are_config_errors():
    with pytest.raises(ConfigError, match="divisor of hop_length 320"):
        MelEncoder(hop_length=320, downsample=3)
    with pytest.raises(ConfigError, match="at least twice the hop"):
        ISTFTDecoder(hop_length=320, upsample=1, n_fft=400)


def test_registered_under_their_names():
    assert get_registry("encoders").get("mel_encoder").factory is MelEncoder
    assert get_registry("decoders").get("istft_decoder").factory is ISTFTDecoder


def test_a_codec_of_these_components_trains_exports_and_reloads(tmp_path):
    """The fast family's shape (mel encoder, RVQ, iSTFT decoder, LM+SM distillation, no discriminators) in a
    tiny size: it trains through the Trainer, its mel loss falls on a fixed batch, and the export reloads."""
    from tokenizer_bench.core.api import load_tokenizer
    from tokenizer_bench.core.config import validate
    from tokenizer_bench.core.train_config import TrainConfig
    from tokenizer_bench.core.training import Trainer
    from tokenizer_bench.plugins.recipes import _testing as tiny

    corpus = tiny.make_corpus(tmp_path, seconds=(0.2, 0.3, 0.25, 0.2))
    data = tiny.tiny_config(corpus, tmp_path, max_steps=6, checkpoint_every=6)
    spectral = dict(dimension=16, hop_length=tiny.HOP, dim=16, hidden=32, num_layers=1)  # the fake cache's hop
    data["model"]["encoder"] = {"name": "mel_encoder", **spectral, "downsample": 2, "n_mels": 8}
    data["model"]["decoder"] = {"name": "istft_decoder", **spectral, "upsample": 2, "post_layers": 1}
    data["discriminators"] = []
    data["losses"] = {k: v for k, v in data["losses"].items() if k in ("mel", "commitment", "distillation")}
    data["data"]["segment_seconds"] = 0.15
    cfg = validate(data, TrainConfig)
    tiny.write_fake_cache(cfg, corpus)
    trainer = Trainer(cfg)
    batch = next(iter(trainer.data.loader(0)))
    first = trainer.train_step(batch)["loss/mel"]
    for _ in range(5):
        last = trainer.train_step(batch)["loss/mel"]
    assert last < first
    trainer.tokenizer.save_pretrained(tmp_path / "export")  # what the trainer's export writes
    tok = load_tokenizer("dm_codec", checkpoint=str(tmp_path / "export"))
    wav = torch.randn(1, 1, 800)
    codes = tok.encode(wav)
    assert codes.shape == (1, 3, 800 // tiny.HOP) and tok.decode(codes).shape == (1, 1, 800)


def test_snake_activation_in_the_convnext_block_by_hand():
    """activation=snake: x + sin²(αx)/α per hidden channel (α learned, starting at 1), in place of GELU."""
    block = ConvNeXtBlock(dim=2, hidden=2, kernel_size=1, layer_scale=1.0, activation="snake")
    with torch.no_grad():  # identity-like layers, so the hidden values are the LayerNorm's output
        block.dwconv.weight.fill_(1.0), block.dwconv.bias.zero_()
        block.pwconv1.weight.copy_(torch.eye(2)), block.pwconv1.bias.zero_()
        block.pwconv2.weight.copy_(torch.eye(2)), block.pwconv2.bias.zero_()
        block.act.snake.alpha.copy_(torch.tensor([1.0, 2.0]).view(1, 2, 1))
    x = torch.tensor([[[3.0], [1.0]]])  # [B=1, dim=2, T=1]: LayerNorm over (3, 1) -> (1, -1) (eps 1e-6)
    h = [1.0, -1.0]
    snake = [h[0] + math.sin(1.0 * h[0]) ** 2 / 1.0, h[1] + math.sin(2.0 * h[1]) ** 2 / 2.0]  # 1.708073, -0.586622
    out = block(x)[0, :, 0]
    assert out.tolist() == pytest.approx([3.0 + snake[0], 1.0 + snake[1]], abs=1e-5)


def test_activation_option_of_both_components():
    for cls in (MelEncoder, ISTFTDecoder):
        gelu, snake = cls(dimension=8, **TINY), cls(dimension=8, activation="snake", **TINY)
        assert not any("alpha" in k for k in gelu.state_dict())  # the default: today's layout
        alphas = [v for k, v in snake.state_dict().items() if k.endswith("snake.alpha")]
        assert alphas and all(a.shape == (1, TINY["hidden"], 1) and bool((a == 1).all()) for a in alphas)
        with pytest.raises(ConfigError, match="activation"):
            cls(dimension=8, activation="relu", **TINY)
    z = MelEncoder(dimension=8, activation="snake", **TINY)(torch.randn(1, 1, 3200))
    assert ISTFTDecoder(dimension=8, activation="snake", **TINY)(z).shape == (1, 1, 3200)
