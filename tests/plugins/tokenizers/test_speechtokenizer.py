"""SpeechTokenizer wrapper: official local layout, HF-cache resolution, missing weights, n_q."""

from __future__ import annotations

import json

import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.errors import CheckpointError, ConfigError, MissingDependencyError
from tokenizer_bench.plugins.tokenizers.speechtokenizer import SpeechTokenizerTokenizer

TINY = dict(n_filters=2, dimension=16, semantic_dimension=12, codebook_size=32, lstm_layers=1)


@pytest.fixture(scope="module")
def tiny():
    tok = load_tokenizer("speechtokenizer", random_init=True, seed=0, **TINY)
    tok.generator.train()
    with torch.random.fork_rng():
        torch.manual_seed(1)
        tok.generator(torch.randn(1, 1, 6400))
    tok.generator.eval()
    return tok


@pytest.fixture(scope="module")
def wav():
    return torch.randn(1, 1, 3200, generator=torch.Generator().manual_seed(3))


def test_random_init_is_the_official_architecture():
    tok = load_tokenizer("speechtokenizer", random_init=True, **TINY)
    assert isinstance(tok, SpeechTokenizerTokenizer)
    assert (tok.sample_rate, tok.frame_rate, tok.num_codebooks, tok.codebook_size) == (16000, 50.0, 8, 32)
    assert not tok.generator.decoder.model[1].lstm.bidirectional and tok.generator.encoder.model[13].lstm.bidirectional


def test_local_official_layout_loads_strictly(tiny, wav, tmp_path):
    folder = tiny.save_official(tmp_path / "speechtokenizer_hubert_avg")
    assert (folder / "SpeechTokenizer.pt").is_file()
    extra = json.loads((folder / "config.json").read_text())
    extra.update(resblock="1", num_gpus=3, lambda_distill=0.15)  # training keys the model ignores
    (folder / "config.json").write_text(json.dumps(extra))
    tok = load_tokenizer("speechtokenizer", checkpoint=folder)
    assert torch.equal(tok.encode(wav), tiny.encode(wav))
    # the repository folder holding the variant sub-folder works too
    tok = load_tokenizer("speechtokenizer", checkpoint=tmp_path, n_q=2)
    assert tok.num_codebooks == 2 and tok.encode(wav).shape == (1, 2, 10)
    assert torch.equal(tok.encode(wav), tiny.encode(wav, n_q=2))
    state = torch.load(folder / "SpeechTokenizer.pt", weights_only=True)
    state.pop("quantizer.vq.layers.7._codebook.embed")
    torch.save(state, folder / "SpeechTokenizer.pt")
    with pytest.raises(CheckpointError, match="SpeechTokenizer.pt.*missing: quantizer.vq.layers.7._codebook.embed"):
        load_tokenizer("speechtokenizer", checkpoint=folder)


def _fake_hf_cache(root, tiny, repo="fnlp/SpeechTokenizer", commit="a" * 40):
    base = root / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    tiny.save_official(base / "snapshots" / commit / "speechtokenizer_hubert_avg", "SpeechTokenizer.pt")
    return root


def test_hub_id_resolves_from_cache_only(tiny, wav, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENIZER_BENCH_OFFLINE", "1")  # the fake cache only, never the real hub
    cache = _fake_hf_cache(tmp_path / "hub", tiny)
    tok = load_tokenizer("speechtokenizer", checkpoint="fnlp/SpeechTokenizer", cache_dir=cache)
    assert torch.equal(tok.encode(wav), tiny.encode(wav))


def test_missing_weights_say_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENIZER_BENCH_OFFLINE", "1")  # cache only, whatever the network (tests/core/test_hub.py: online)
    with pytest.raises(MissingDependencyError) as err:
        load_tokenizer("speechtokenizer", cache_dir=tmp_path / "empty-cache")  # default: fnlp/SpeechTokenizer
    msg = str(err.value)
    assert "fnlp/SpeechTokenizer" in msg
    assert "speechtokenizer_hubert_avg/config.json" in msg and "speechtokenizer_hubert_avg/SpeechTokenizer.pt" in msg
    assert "checkpoint=" in msg


def test_save_pretrained_round_trip(tiny, wav, tmp_path):
    tiny.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["tokenizer"] == "speechtokenizer"
    tok = load_tokenizer("speechtokenizer", checkpoint=tmp_path)
    assert torch.equal(tok.encode(wav), tiny.encode(wav))
    with pytest.raises(CheckpointError, match="load it with 'speechtokenizer'"):
        load_tokenizer("dm_codec", checkpoint=tmp_path)


def test_option_errors(tmp_path):
    with pytest.raises(ConfigError, match="random_init"):
        load_tokenizer("speechtokenizer", checkpoint=tmp_path, n_filters=4)
    with pytest.raises(ConfigError, match="do not pass a checkpoint"):
        load_tokenizer("speechtokenizer", checkpoint=tmp_path, random_init=True)
    with pytest.raises(CheckpointError, match="not a directory"):
        load_tokenizer("speechtokenizer", checkpoint=str(tmp_path / "a" / "b" / "c"))
