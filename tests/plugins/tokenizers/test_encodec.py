"""EnCodec wrapper: 16 kHz interface around a transformers EncodecModel (tiny random models)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.errors import CheckpointError, ConfigError, MissingDependencyError
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.tokenizers.encodec import EncodecTokenizer, resample


def _tiny_model(**overrides):
    from transformers import EncodecConfig, EncodecModel

    cfg = dict(num_filters=2, hidden_size=8, codebook_dim=8, num_lstm_layers=1, num_residual_layers=1)
    cfg.update(overrides)
    return EncodecModel(EncodecConfig(**cfg))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("encodec_tiny")
    _tiny_model().save_pretrained(str(d))
    return d


def test_registered():
    assert "encodec" in get_registry("tokenizers")


def test_default_24khz_config_is_8_codebooks_at_75hz():
    from transformers import EncodecConfig, EncodecModel

    with torch.device("meta"):  # full-size layout without allocating weights
        model = EncodecModel(EncodecConfig())
    tok = EncodecTokenizer(model)  # paper setting: 6 kbps
    assert (tok.sample_rate, tok.frame_rate, tok.num_codebooks, tok.codebook_size) == (16000, 75, 8, 1024)
    assert tok.bitrate == 6000.0  # 75 frames/s x 8 codebooks x 10 bits
    assert EncodecTokenizer(model, bandwidth=1.5).num_codebooks == 2
    with pytest.raises(ConfigError, match="target bandwidths"):
        EncodecTokenizer(model, bandwidth=5.0)
    with torch.device("meta"):  # the 48 kHz model's kind: chunked, normalised (scales = side info)
        chunked = EncodecModel(EncodecConfig(chunk_length_s=1.0, overlap=0.01, normalize=True))
    with pytest.raises(ConfigError, match="single-chunk"):
        EncodecTokenizer(chunked)


def test_tiny_model_shapes_and_round_trip(tiny_dir, tmp_path):
    tok = load_tokenizer("encodec", checkpoint=tiny_dir)
    assert (tok.frame_rate, tok.num_codebooks, tok.bitrate) == (75, 8, 6000.0)
    wav = 0.1 * torch.randn(2, 1, 3200)  # 0.2 s at 16 kHz -> 4800 samples at 24 kHz -> 15 frames
    codes = tok.encode(wav)
    assert codes.shape == (2, 8, 15) and codes.dtype == torch.int64
    assert int(codes.max()) < 1024 and int(codes.min()) >= 0
    assert torch.equal(tok.encode(wav), codes)  # deterministic, resampling included
    assert torch.equal(tok.encode(wav, n_q=3), codes[:, :3])
    out = tok.decode(codes)
    assert out.shape == (2, 1, 3200)  # 15 x 320 samples at 24 kHz -> 16 kHz
    assert tok.decode(codes[:, :2]).shape == (2, 1, 3200)
    assert tok.reconstruct(wav[:, :, :3100]).shape == (2, 1, 3100)

    small = load_tokenizer("encodec", checkpoint=tiny_dir, bandwidth=1.5)
    small.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    again = load_tokenizer("encodec", checkpoint=tmp_path)  # bandwidth comes back from the saved JSON
    assert again.num_codebooks == 2 and again.bitrate == 1500.0
    assert torch.equal(again.encode(wav), codes[:, :2])


def test_resample_matches_analytic_sine():
    t16 = np.arange(1600) / 16000
    x = torch.from_numpy(np.sin(2 * math.pi * 440 * t16)).float().view(1, 1, -1)
    y = resample(x, 16000, 24000)
    assert y.shape == (1, 1, 2400)
    t24 = np.arange(2400) / 24000
    expect = np.sin(2 * math.pi * 440 * t24)
    # Away from the edges the resampled sine is the 24 kHz sine.
    np.testing.assert_allclose(y[0, 0, 200:-200].numpy(), expect[200:-200], atol=2e-3)
    back = resample(y, 24000, 16000)
    assert back.shape == x.shape


def test_missing_checkpoint_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENIZER_BENCH_OFFLINE", "1")  # cache only, whatever the network (tests/core/test_hub.py: online)
    with pytest.raises(MissingDependencyError, match="hf download nobody/not-cached-encodec"):
        load_tokenizer("encodec", checkpoint="nobody/not-cached-encodec")
    with pytest.raises(CheckpointError, match="config.json"):
        load_tokenizer("encodec", checkpoint=tmp_path)
