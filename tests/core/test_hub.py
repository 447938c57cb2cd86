"""core.hub against a local hub emulation: first-use download, cache reuse, offline, unreachable hub.

The emulation (tests/_hub_emulation.py) serves the HTTP endpoints huggingface_hub itself calls, so
the library's real cache logic runs; each test gets an empty HF_HOME and the endpoint in HF_ENDPOINT.
Loaders are checked on tiny random-init models served under the paper's hub ids: the codes of a
model loaded by id must equal those of the same weights loaded from the folder they were served from.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core import hub
from tokenizer_bench.core.api import load_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _hub_emulation import HubEmulation, closed_port_endpoint, go_offline, point_hub_at  # noqa: E402


@pytest.fixture
def emu(monkeypatch, tmp_path):
    server = HubEmulation().start()
    point_hub_at(monkeypatch, server.endpoint, tmp_path / "hf_home")
    yield server
    server.stop()


def unreachable(monkeypatch, tmp_path) -> None:
    """Same cache, endpoint on a closed port."""
    from huggingface_hub import constants

    endpoint = closed_port_endpoint()
    home = Path(constants.HF_HOME)
    point_hub_at(monkeypatch, endpoint, home)


# ---------------------------------------------------------------------------------------- files


def test_first_use_downloads_into_the_cache_then_reuses_it(emu, tmp_path):
    emu.add_files("owner/repo", {"a/config.json": b'{"x": 1}', "weights.bin": b"\x00\x01\x02"})
    paths = hub.fetch_files("owner/repo", ["a/config.json", "weights.bin"], what="test")
    assert [p.read_bytes() for p in paths] == [b'{"x": 1}', b"\x00\x01\x02"]
    cache = tmp_path / "hf_home" / "hub" / "models--owner--repo"
    assert all(cache in p.parents for p in paths)  # the standard cache layout under HF_HOME
    assert sorted(emu.downloads()) == ["/owner/repo/resolve/main/a/config.json", "/owner/repo/resolve/main/weights.bin"]
    again = hub.fetch_files("owner/repo", ["a/config.json", "weights.bin"], what="test")
    assert again == paths
    assert len(emu.downloads()) == 2  # revalidated (HEAD) but not downloaded again


def test_offline_reads_the_cache_and_sends_nothing(emu, monkeypatch):
    emu.add_files("owner/repo", {"f.txt": b"hello"})
    first = hub.fetch_files("owner/repo", ["f.txt"], what="test")
    n_requests = len(emu.requests)
    go_offline(monkeypatch)
    assert hub.is_offline()
    assert hub.fetch_files("owner/repo", ["f.txt"], what="test") == first
    assert hub.fetch_snapshot("owner/repo", what="test") == first[0].parent
    assert len(emu.requests) == n_requests


def test_offline_with_empty_cache_names_the_download_command(emu, monkeypatch):
    emu.add_files("owner/repo", {"f.txt": b"hello"})
    go_offline(monkeypatch)
    with pytest.raises(hub.HubUnavailableError) as err:
        hub.fetch_files("owner/repo", ["f.txt"], revision="v1", what="thing")
    msg = str(err.value)
    assert msg.startswith("thing: f.txt of 'owner/repo' (revision v1) is not in the Hugging Face cache")
    assert "HF_HUB_OFFLINE=1" in msg and "`hf download owner/repo f.txt --revision v1`" in msg
    assert emu.requests == []


def test_cli_offline_switch_sets_the_project_and_hub_variables(monkeypatch):
    for var in (hub.OFFLINE_ENV, "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert not hub.is_offline()
    monkeypatch.setenv(hub.OFFLINE_ENV, "1")
    assert hub.is_offline() and hub.access().local_only


def test_unreachable_hub_fails_fast_with_the_command(emu, monkeypatch, tmp_path):
    emu.add_files("owner/repo", {"cached.txt": b"c", "other.txt": b"o"})
    hub.fetch_files("owner/repo", ["cached.txt"], what="test")
    unreachable(monkeypatch, tmp_path)
    t0 = time.monotonic()
    with pytest.raises(hub.HubUnavailableError) as err:
        hub.fetch_files("owner/repo", ["other.txt"], what="test")
    assert time.monotonic() - t0 < 10
    assert "unreachable" in str(err.value) and "`hf download owner/repo other.txt`" in str(err.value)
    # what is cached still loads (as huggingface_hub does when the network is down)
    assert hub.fetch_files("owner/repo", ["cached.txt"], what="test")[0].read_bytes() == b"c"


def test_revision_pins_a_commit(emu):
    old = emu.add_files("owner/repo", {"f.txt": b"v1"})
    emu.add_files("owner/repo", {"f.txt": b"v2"})
    assert hub.fetch_files("owner/repo", ["f.txt"], revision=old, what="t")[0].read_bytes() == b"v1"
    assert hub.fetch_files("owner/repo", ["f.txt"], what="t")[0].read_bytes() == b"v2"
    with pytest.raises(hub.HubUnavailableError, match="cannot load 'owner/repo' at revision 'nope'"):
        hub.fetch_files("owner/repo", ["f.txt"], revision="nope", what="t")


def test_missing_repo_on_a_reachable_hub_is_a_clear_error(emu):
    with pytest.raises(hub.HubUnavailableError, match="x: cannot load 'nobody/nothing' from the hub"):
        hub.fetch_files("nobody/nothing", ["f.txt"], what="x")


def test_looks_like_repo_id(tmp_path):
    assert hub.looks_like_repo_id("owner/name") and hub.looks_like_repo_id("bert-base-uncased")
    assert not hub.looks_like_repo_id("./x") and not hub.looks_like_repo_id("a/b/c")
    assert not hub.looks_like_repo_id(str(tmp_path)) and not hub.looks_like_repo_id("~/models/x")


# ---------------------------------------------------------------------------------------- loaders


def _check_three_modes(emu, monkeypatch, tmp_path, load, expect_repo: str):
    """First use downloads; offline loads from that cache; unreachable + empty cache fails fast."""
    first = load()
    assert emu.downloads(), "nothing was downloaded"
    assert (tmp_path / "hf_home" / "hub" / f"models--{expect_repo.replace('/', '--')}").is_dir()
    go_offline(monkeypatch)
    n = len(emu.requests)
    offline = load()
    assert len(emu.requests) == n
    # a fresh, empty cache with the hub unreachable
    point_hub_at(monkeypatch, closed_port_endpoint(), tmp_path / "empty_home")
    t0 = time.monotonic()
    with pytest.raises(hub.HubUnavailableError) as err:
        load()
    assert time.monotonic() - t0 < 10
    assert f"hf download {expect_repo}" in str(err.value) and "unreachable" in str(err.value)
    return first, offline


def _wav(n: int = 3200) -> torch.Tensor:
    return torch.randn(1, 1, n, generator=torch.Generator().manual_seed(3)) * 0.1


def test_encodec_default_id_downloads_and_loads(emu, monkeypatch, tmp_path):
    from transformers import EncodecConfig, EncodecModel

    from tokenizer_bench.plugins.tokenizers.encodec import HUB_ID, EncodecTokenizer

    torch.manual_seed(0)
    model = EncodecModel(EncodecConfig(num_filters=2, hidden_size=8, codebook_dim=8, num_lstm_layers=1,
                                       num_residual_layers=1)).eval()
    model.save_pretrained(tmp_path / "served")
    emu.add_folder(HUB_ID, tmp_path / "served")
    expected = EncodecTokenizer(model).encode(_wav())
    first, offline = _check_three_modes(emu, monkeypatch, tmp_path, lambda: load_tokenizer("encodec"), HUB_ID)
    assert torch.equal(first.encode(_wav()), expected) and torch.equal(offline.encode(_wav()), expected)


def test_speechtokenizer_variant_folder_downloads_and_loads(emu, monkeypatch, tmp_path):
    from tokenizer_bench.plugins.tokenizers.speechtokenizer import DEFAULT_REPO, DEFAULT_VARIANT

    tiny = load_tokenizer("speechtokenizer", random_init=True, seed=0, n_filters=2, dimension=16,
                          semantic_dimension=12, codebook_size=32, lstm_layers=1)
    tiny.save_official(tmp_path / "served" / DEFAULT_VARIANT, "SpeechTokenizer.pt")
    emu.add_folder(DEFAULT_REPO, tmp_path / "served")
    emu.add_files(DEFAULT_REPO, {"speechtokenizer_snac/config.json": b"{}"})  # another variant: not fetched
    expected = tiny.encode(_wav())
    first, offline = _check_three_modes(emu, monkeypatch, tmp_path, lambda: load_tokenizer("speechtokenizer"),
                                        DEFAULT_REPO)
    assert torch.equal(first.encode(_wav()), expected) and torch.equal(offline.encode(_wav()), expected)


def test_facodec_two_files_download_and_load(emu, monkeypatch, tmp_path):
    from tokenizer_bench.plugins.tokenizers.facodec import HUB_ID, FACodecTokenizer

    enc = {"ngf": 2, "up_ratios": [2, 4, 5, 5], "out_channels": 8}
    dec = {"in_channels": 8, "upsample_initial_channel": 16, "up_ratios": [5, 5, 4, 2], "vq_dim": 8,
           "codebook_dim": 4, "timbre_hidden": 8, "timbre_filter_size": 16, "timbre_layers": 1, "timbre_heads": 2,
           "num_phone_classes": 5, "num_speaker_classes": 7}
    torch.manual_seed(0)
    tiny = FACodecTokenizer.build(enc, dec)
    tiny.save_pretrained(tmp_path / "served")
    (tmp_path / "served" / "facodec_config.json").unlink()  # the published repo has the two .bin files only
    emu.add_folder(HUB_ID, tmp_path / "served")
    wav = _wav(2000)
    expected = tiny.encode(wav)
    first, offline = _check_three_modes(
        emu, monkeypatch, tmp_path, lambda: load_tokenizer("facodec", encoder_args=enc, decoder_args=dec), HUB_ID)
    assert torch.equal(first.encode(wav), expected) and torch.equal(offline.encode(wav), expected)
    assert sorted(p.rsplit("/", 1)[-1] for p in set(emu.downloads())) == ["ns3_facodec_decoder.bin",
                                                                           "ns3_facodec_encoder.bin"]


def test_lm_teacher_bert_base_uncased_downloads_and_loads(emu, monkeypatch, tmp_path):
    from transformers import BertModel, BertTokenizerFast

    from tokenizer_bench.plugins.teachers._testing import make_tiny_bert
    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder

    served = make_tiny_bert(tmp_path / "served")
    BertTokenizerFast.from_pretrained(served).save_pretrained(served)  # tokenizer.json, as the hub repo has
    emu.add_folder("bert-base-uncased", served)
    text = "hello world"
    ref_tok = BertTokenizerFast.from_pretrained(served)
    with torch.no_grad():
        hs = BertModel.from_pretrained(served).eval()(**ref_tok(text, return_tensors="pt"),
                                                       output_hidden_states=True).hidden_states
    expected = torch.stack([h[0] for h in hs]).mean(0)  # the paper's mean over all hidden states
    first, offline = _check_three_modes(emu, monkeypatch, tmp_path,
                                        lambda: HFTextEncoder("bert-base-uncased", device="cpu"), "bert-base-uncased")
    for teacher in (first, offline):
        assert torch.allclose(teacher.encode(text).features.float(), expected, atol=1e-5)


def test_hf_ctc_asr_backend_downloads_and_loads(emu, monkeypatch, tmp_path):
    import json

    import numpy as np
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    from tokenizer_bench.core.plugins import get_registry

    served = tmp_path / "served"
    served.mkdir()
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate("ABCDE")}}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    tok = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), pad_token="<pad>", unk_token="<unk>",
                               word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(served)
    torch.manual_seed(0)
    cfg = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4),
                         num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0)
    Wav2Vec2ForCTC(cfg).save_pretrained(served)
    emu.add_folder("facebook/wav2vec2-base-960h", served)
    audio = [0.1 * np.sin(np.arange(6000, dtype=np.float32) / 7.0)]
    expected = get_registry("asr_backends").build("hf_ctc", model=str(served)).transcribe(audio)
    first, offline = _check_three_modes(emu, monkeypatch, tmp_path,
                                        lambda: get_registry("asr_backends").build("hf_ctc"),
                                        "facebook/wav2vec2-base-960h")
    assert first.transcribe(audio) == expected and offline.transcribe(audio) == expected
