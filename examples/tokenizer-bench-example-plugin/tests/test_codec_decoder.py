"""Proof of extension: a decoder from this package trains, exports and reloads through ``codec``.

``tiny_codec.yaml`` composes the built-in ``seanet_encoder`` with this plugin's ``fsq`` quantizer
and ``example_frame_decoder``; nothing in tokenizer-bench names either, and the plugin has no
tokenizer code. The export records which package provides each part, so loading it where the
plugin is not loaded names the package to install.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
import torch

from tokenizer_bench import load_tokenizer
from tokenizer_bench.core import plugins
from tokenizer_bench.core.config import load_config
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer

CONFIG = Path(__file__).with_name("tiny_codec.yaml")
PACKAGE = "tokenizer-bench-example-plugin"


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("codec") / "run"
    cfg = load_config(CONFIG, TrainConfig, [f"data.train=[{corpus}]", f"trainer.output_dir={out}"])
    trainer = Trainer(cfg)
    summary = trainer.fit()
    return trainer, summary


def test_trains_exports_and_reloads_with_equal_codes(trained):
    trainer, summary = trained
    assert summary["step"] == 2
    tok = trainer.tokenizer
    assert type(tok.generator.decoder).__name__ == "FrameDecoder"
    wav = torch.sin(torch.arange(2 * 800) / 7.0).reshape(2, 1, 800) * 0.3
    codes = tok.encode(wav)
    audio = tok.decode(codes)

    reloaded = load_tokenizer("codec", summary["export_dir"])
    again = reloaded.encode(wav)
    assert codes.shape == (2, 1, 800 // 16)  # FSQ: one codebook; hop 4*4 = 16 samples
    assert torch.equal(codes, again)
    assert torch.allclose(reloaded.decode(again), audio, atol=1e-6)
    assert reloaded.codebook_size == 5 * 5 * 4 and reloaded.frame_rate == 16000 / 16


def test_the_export_records_the_hop_it_was_given_and_who_provides_each_part(trained):
    _, summary = trained
    cfg = json.loads((Path(summary["export_dir"]) / "config.json").read_text())
    assert cfg["tokenizer"] == "codec"
    assert cfg["generator"]["decoder"]["hop_length"] == 16  # injected: tiny_codec.yaml does not state it
    version = importlib.metadata.version(PACKAGE)
    assert cfg["components"]["decoder"] == {"name": "example_frame_decoder", "distribution": PACKAGE,
                                            "version": version}
    assert cfg["components"]["quantizer"]["distribution"] == PACKAGE
    assert cfg["components"]["encoder"]["distribution"] == "tokenizer-bench"


def test_loading_without_the_plugin_names_the_package(trained, monkeypatch):
    _, summary = trained
    monkeypatch.setenv(plugins.PLUGINS_ENV, "")  # load no external distribution
    plugins.reset()
    try:
        with pytest.raises(MissingDependencyError, match=rf"pip install '{PACKAGE}==") as err:
            load_tokenizer("codec", summary["export_dir"])
        assert "example_frame_decoder" in str(err.value) or "fsq" in str(err.value)
    finally:
        monkeypatch.delenv(plugins.PLUGINS_ENV)
        plugins.reset()


def test_a_decoder_told_another_hop_is_refused_when_built():
    spec = dict(name="seanet_encoder", n_filters=2, strides=[4, 4], dimension=8, lstm_layers=1)
    with pytest.raises(ConfigError, match="hop_length=32 differs from the codec's hop_length=16"):
        load_tokenizer("codec", encoder=spec, quantizer={"name": "fsq", "dimension": 8, "levels": [3, 3]},
                       decoder={"name": "example_frame_decoder", "dimension": 8, "hop_length": 32})


def test_frame_t_fills_samples_t_hop_to_next_hop():
    """By hand: with the smoothing an identity and the last layer a constant block 0, 1, ..., hop-1,
    every frame writes that block in order, and the output is frames * hop samples long."""
    from tokenizer_bench_example.frame_decoder import FrameDecoder

    dec = FrameDecoder(dimension=3, hop_length=4, hidden=5, smooth_kernel=3)
    with torch.no_grad():
        last = dec.frames_to_blocks[-1]
        last.weight.zero_()
        last.bias.copy_(torch.arange(4.0))
        dec.smooth.weight.copy_(torch.tensor([[[0.0, 1.0, 0.0]]]))
        dec.smooth.bias.zero_()
        wav = dec(torch.randn(2, 3, 5))
    assert wav.shape == (2, 1, 5 * 4)
    assert torch.equal(wav, torch.arange(4.0).repeat(5).expand(2, 1, 20))
