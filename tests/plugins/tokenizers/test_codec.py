"""The generic composed codec (``codec``): parts from the registries, context passed in, shapes checked."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tokenizer_bench import load_tokenizer
from tokenizer_bench.core import plugins
from tokenizer_bench.core.errors import CheckpointError, ConfigError, UnknownComponentError
from tokenizer_bench.core.hookspecs import hookimpl

ENC = {"name": "seanet_encoder", "n_filters": 2, "strides": [4, 2], "dimension": 8, "lstm_layers": 1}
DEC = {"name": "seanet_decoder", "n_filters": 2, "strides": [4, 2], "dimension": 8, "lstm_layers": 1}
RVQ = {"name": "rvq", "dimension": 8, "n_q": 2, "codebook_size": 16, "kmeans_init": False}


class _Upsampler(nn.Module):
    """Test decoder: repeats each latent frame ``hop_length * factor`` times (no hop attribute)."""

    def __init__(self, dimension: int, hop_length: int, sample_rate: int, factor: int = 1) -> None:
        super().__init__()
        self.seen = {"hop_length": hop_length, "sample_rate": sample_rate}
        self.proj = nn.Conv1d(dimension, 1, 1)
        self.repeat = hop_length * factor

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.proj(latent).repeat_interleave(self.repeat, dim=-1)


class _Plugin:
    @hookimpl
    def register_decoders(self, register):
        register("test_upsampler", _Upsampler)


@pytest.fixture
def upsampler():
    plugin = _Plugin()
    plugins.register_plugin(plugin, name="codec-test-decoder")
    yield
    plugins.unregister_plugin(plugin)


def test_round_trip_with_built_in_parts(tmp_path):
    tok = load_tokenizer("codec", encoder=ENC, quantizer=RVQ, decoder=DEC, sample_rate=8000, seed=3)
    assert tok.frame_rate == 8000 / 8 and tok.num_codebooks == 2 and tok.codebook_size == 16
    wav = torch.randn(2, 1, 8 * 10)
    codes = tok.encode(wav)
    assert codes.shape == (2, 2, 10)
    tok.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["tokenizer"] == "codec" and cfg["generator"]["sample_rate"] == 8000
    assert cfg["generator"]["decoder"]["trim_right_ratio"] == 1.0  # factory defaults are saved
    back = load_tokenizer("codec", tmp_path)
    assert torch.equal(back.encode(wav), codes)
    assert torch.equal(back.decode(codes), tok.decode(codes))


def test_the_codec_passes_sample_rate_and_hop_to_parts_that_declare_them(upsampler):
    tok = load_tokenizer("codec", encoder=ENC, quantizer=RVQ, sample_rate=8000,
                         decoder={"name": "test_upsampler", "dimension": 8})
    assert tok.generator.decoder.seen == {"hop_length": 8, "sample_rate": 8000}
    assert tok.generator.config["decoder"]["hop_length"] == 8
    # rvq declares neither: nothing is passed to it
    assert "hop_length" not in tok.generator.config["quantizer"]


def test_a_decoder_of_another_hop_is_caught_when_built(upsampler):
    # the decoder exposes no hop_length: the build-time probe finds 2 x 8 samples per frame
    with pytest.raises(ConfigError, match=r"decoder 'test_upsampler' returned \(1, 1, 64\) for 4 frames"):
        load_tokenizer("codec", encoder=ENC, quantizer=RVQ, decoder={"name": "test_upsampler", "dimension": 8,
                                                                      "factor": 2})
    with pytest.raises(ConfigError, match="decoder 'seanet_decoder' has hop_length 16; the encoder"):
        load_tokenizer("codec", encoder=ENC, quantizer=RVQ, decoder={**DEC, "strides": [4, 4]})


def test_mismatched_dimensions_are_caught_when_built():
    with pytest.raises(ConfigError, match="quantizer 'rvq' has dimension 4; the encoder 'seanet_encoder' emits 8"):
        load_tokenizer("codec", encoder=ENC, quantizer={**RVQ, "dimension": 4}, decoder=DEC)
    with pytest.raises(ConfigError, match="decoder 'seanet_decoder' has dimension 4"):
        load_tokenizer("codec", encoder=ENC, quantizer=RVQ, decoder={**DEC, "dimension": 4})


def test_every_part_is_required_and_unknown_options_are_named():
    with pytest.raises(ConfigError, match="missing decoder"):
        load_tokenizer("codec", encoder=ENC, quantizer=RVQ)
    with pytest.raises(ConfigError, match="unknown option"):
        load_tokenizer("codec", encoder=ENC, quantizer=RVQ, decoder=DEC, n_filters=3)


def test_a_part_with_no_recorded_package_is_an_unknown_component(tmp_path):
    load_tokenizer("codec", encoder=ENC, quantizer=RVQ, decoder=DEC).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["generator"]["decoder"]["name"] = "vocos_decoder"
    del cfg["components"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnknownComponentError, match="does not record which package"):
        load_tokenizer("codec", tmp_path)


def test_a_dm_codec_export_says_which_tokenizer_loads_it(tmp_path):
    load_tokenizer("dm_codec", encoder=ENC, quantizer=RVQ, decoder=DEC, semantic_dimension=None).save_pretrained(
        tmp_path)
    with pytest.raises(CheckpointError, match="load it with 'dm_codec'"):
        load_tokenizer("codec", tmp_path)
    assert load_tokenizer("dm_codec", tmp_path).num_codebooks == 2
