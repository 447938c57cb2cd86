"""DM-Codec generator and tokenizer: shapes, official layout, save/load, determinism, errors."""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.plugins.tokenizers.dm_codec import (
    OFFICIAL_ARCH_KEYS,
    DMCodecGenerator,
    DMCodecTokenizer,
    save_official_layout,
    specs_from_official_config,
)

# strides of the paper (hop 320 -> 50 Hz) with tiny widths
TINY = dict(n_filters=2, dimension=16, semantic_dimension=12, codebook_size=32, lstm_layers=1)


@pytest.fixture(scope="module")
def trained_tiny():
    """A tiny tokenizer whose codebooks were initialised by one training forward (tests must not mutate it)."""
    tok = load_tokenizer("dm_codec", **TINY, seed=0)
    tok.generator.train()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        tok.generator(torch.randn(2, 1, 6400))
    tok.generator.eval()
    return tok


@pytest.fixture(scope="module")
def paper_generator():
    return DMCodecGenerator()


def test_paper_config_matches_official_manifest(paper_generator, reference_manifest):
    man = reference_manifest("dmcodec_generator_state_dict.json")
    g = paper_generator
    assert sum(p.numel() for p in g.parameters()) == man["num_parameters"] == 103_675_586
    entries = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in g.state_dict().items()]
    assert entries == man["state_dict"]  # same keys, shapes, dtypes and order
    assert sorted(n for n, _ in g.named_buffers()) == sorted(man["buffer_keys"])
    st = reference_manifest("speechtokenizer_state_dict.json")
    assert st["state_dict"] == man["state_dict"]


def test_strict_official_load_of_manifest_layout(paper_generator, reference_manifest, tmp_path):
    man = reference_manifest("dmcodec_generator_state_dict.json")
    # stride-0 tensors: exactly the manifest's keys/shapes, a few bytes on disk
    state = {k: torch.full((1,), 0.5).expand(*shape) for k, shape, _ in man["state_dict"]}
    torch.save(state, tmp_path / "Model_best_dev.pt")
    (tmp_path / "config.json").write_text(json.dumps(man["constructor_args"]))
    tok = DMCodecTokenizer.from_pretrained(tmp_path)
    sd = tok.generator.state_dict()
    assert list(sd) == [k for k, _, _ in man["state_dict"]]
    assert torch.all(sd["encoder.model.13.lstm.weight_ih_l0"] == 0.5)
    assert tok.num_codebooks == 8 and tok.codebook_size == 1024 and tok.frame_rate == 50.0

    del state["decoder.model.15.conv.conv.bias"]
    state["encoder.extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "Model_best_dev.pt")
    with pytest.raises(CheckpointError, match=r"Model_best_dev\.pt.*missing: decoder\.model\.15.*unexpected: encoder\.extra"):
        DMCodecTokenizer.from_pretrained(tmp_path)


def test_shapes_and_n_q(trained_tiny):
    tok = trained_tiny
    wav = torch.randn(1, 1, 16000)
    codes = tok.encode(wav)
    assert codes.shape == (1, 8, 50) and codes.dtype == torch.int64
    assert tok.decode(codes).shape == (1, 1, 16000)
    assert tok.encode(wav, n_q=2).shape == (1, 2, 50)
    assert tok.decode(codes[:, :2]).shape == (1, 1, 16000)
    assert tok.reconstruct(torch.randn(2, 1, 3300)).shape == (2, 1, 3300)
    assert tok.bitrate == pytest.approx(50 * 8 * 5)  # 32 codes = 5 bits
    with pytest.raises(ValueError):
        tok.encode(wav, n_q=9)
    with pytest.raises(ValueError, match=r"\[B, 1, N\]"):
        tok.encode(torch.randn(1, 16000))


def test_generator_forward_outputs(trained_tiny):
    g = copy.deepcopy(trained_tiny.generator)
    g.train()
    wav_hat, q = g(torch.randn(2, 1, 3200))
    assert wav_hat.shape == (2, 1, 3200)
    assert q.codes.shape == (2, 8, 10) and len(q.layer_outputs) == 8
    assert q.commit_loss.dim() == 0 and q.commit_loss.requires_grad
    assert g.project(q.layer_outputs[0]).shape == (2, 10, 12)
    assert "layer7_perplexity" in q.metrics
    # transform only exists when the sizes differ (as in the official state dict)
    same = DMCodecTokenizer.from_options(**{**TINY, "semantic_dimension": 16}).generator
    assert not hasattr(same, "transform") and not any(k.startswith("transform") for k in same.state_dict())


def test_encode_is_deterministic_and_side_effect_free(trained_tiny):
    tok = trained_tiny
    wav = torch.randn(2, 1, 3200)
    before = {k: v.clone() for k, v in tok.generator.state_dict().items()}
    a = tok.encode(wav)
    tok.generator.train()  # mode does not matter for encode/decode
    try:
        b = tok.encode(wav)
    finally:
        tok.generator.eval()
    assert torch.equal(a, b)
    torch.testing.assert_close(tok.decode(a), tok.decode(b), rtol=0, atol=0)
    assert all(torch.equal(before[k], v) for k, v in tok.generator.state_dict().items())


def test_encode_never_initialises_codebooks():
    tok = DMCodecTokenizer.from_options(**TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok.encode(torch.randn(1, 1, 3200))
    assert not any(cb.initialised for cb in tok.generator.quantizer.codebooks)


def test_save_load_round_trip(trained_tiny, tmp_path):
    trained_tiny.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["tokenizer"] == "dm_codec" and cfg["generator"]["encoder"]["name"] == "seanet_encoder"
    assert not list(tmp_path.glob(".*tmp"))  # temp files renamed away
    loaded = load_tokenizer("dm_codec", checkpoint=tmp_path)
    for k, v in trained_tiny.generator.state_dict().items():
        assert torch.equal(loaded.generator.state_dict()[k], v), k
    wav = torch.randn(1, 1, 4000)
    assert torch.equal(loaded.encode(wav), trained_tiny.encode(wav))
    assert load_tokenizer("dm_codec", checkpoint=tmp_path, n_q=3).num_codebooks == 3


def test_official_layout_round_trip_and_trainer_dict(trained_tiny, tmp_path):
    out = trained_tiny.save_official(tmp_path / "off")
    cfg = json.loads((out / "config.json").read_text())
    assert set(cfg) == set(OFFICIAL_ARCH_KEYS) and cfg["n_q"] == 8 and cfg["strides"] == [8, 5, 4, 2]
    loaded = DMCodecTokenizer.from_pretrained(out)
    wav = torch.randn(1, 1, 4000)
    assert torch.equal(loaded.encode(wav), trained_tiny.encode(wav))
    # a trainer checkpoint: {"generator": state_dict, ...}
    state = torch.load(out / "model.pt", weights_only=True)
    (out / "model.pt").unlink()
    torch.save({"generator": state, "best_dev_mel_loss": 1.0}, out / "ModelTrainer_00001000")
    with pytest.raises(CheckpointError, match="none found"):
        DMCodecTokenizer.from_pretrained(out)
    loaded = DMCodecTokenizer.from_pretrained(out, weights_file="ModelTrainer_00001000")
    assert torch.equal(loaded.encode(wav), trained_tiny.encode(wav))


@pytest.mark.parametrize("layout", ["ours", "official"])
def test_truncated_weights_raise_checkpoint_error(trained_tiny, tmp_path, layout):
    if layout == "ours":
        trained_tiny.save_pretrained(tmp_path)
        path = tmp_path / "model.safetensors"
    else:
        trained_tiny.save_official(tmp_path)
        path = tmp_path / "model.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(path.name)):
        DMCodecTokenizer.from_pretrained(tmp_path)


def test_bad_inputs(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        DMCodecTokenizer.from_pretrained(tmp_path / "nope")
    (tmp_path / "config.json").write_text(json.dumps({"n_filters": 2}))
    with pytest.raises(CheckpointError, match="missing"):
        DMCodecTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="unknown option"):
        DMCodecTokenizer.from_options(**TINY, bogus=1)
    with pytest.raises(ConfigError, match="cannot be written in the official layout"):
        DMCodecTokenizer.from_options(**TINY, encoder={"name": "seanet_encoder", "n_filters": 2, "dimension": 16,
                                                       "lstm_layers": 1, "kernel_size": 5}).save_official(tmp_path)


def test_components_are_pluggable_specs():
    specs = specs_from_official_config({**dict.fromkeys(OFFICIAL_ARCH_KEYS), **TINY, "strides": [4, 2],
                                        "bidirectional": False, "dilation_base": 2, "residual_kernel_size": 3,
                                        "n_residual_layers": 1, "activation": "ELU", "n_q": 2,
                                        "sample_rate": 8000})
    specs["quantizer"] = {"name": "rvq", "dimension": 16, "n_q": 2, "codebook_size": 8, "kmeans_init": False}
    g = DMCodecGenerator(**specs)
    assert g.config["quantizer"]["kmeans_init"] is False and g.config["quantizer"]["decay"] == 0.99
    assert g.frame_rate == 1000.0 and all(cb.initialised for cb in g.quantizer.codebooks)
    with pytest.raises(ConfigError, match="dimension"):
        DMCodecGenerator(**{**specs, "quantizer": {"name": "rvq", "dimension": 8}})


def test_official_save_adds_a_transform_head_to_a_headless_generator(tmp_path):
    """A generator trained without the official head is written in the official layout with a given
    projection as ``transform`` (keys between the encoder's and the quantizer's, as in the official
    state dict), and loads back strictly with exactly that head."""
    tok = load_tokenizer("dm_codec", **{**TINY, "semantic_dimension": None}, seed=0)
    assert not any(k.startswith("transform") for k in tok.generator.state_dict())
    head = torch.nn.Linear(16, 12)
    save_official_layout(tok.generator, tmp_path, transform=head)
    assert json.loads((tmp_path / "config.json").read_text())["semantic_dimension"] == 12
    keys = list(torch.load(tmp_path / "model.pt", weights_only=True))
    parts = [k.split(".")[0] for k in keys]
    assert parts.index("transform") == parts.count("encoder") and keys.count("transform.weight") == 1
    assert parts[parts.count("encoder") + 2] == "quantizer"
    loaded = DMCodecTokenizer.from_pretrained(tmp_path)
    assert torch.equal(loaded.generator.transform.weight, head.weight)
    assert torch.equal(loaded.generator.transform.bias, head.bias)
    wav = torch.randn(1, 1, 3200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uninitialised codebooks: codes are still deterministic
        assert torch.equal(loaded.encode(wav), tok.encode(wav))
    with pytest.raises(ConfigError, match="transform takes 8 features"):
        save_official_layout(tok.generator, tmp_path / "bad", transform=torch.nn.Linear(8, 12))
