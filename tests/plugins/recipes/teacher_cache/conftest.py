"""Shared fixtures of the teacher-cache tests: tiny teachers, a fake STT plugin, a corpus, one built cache."""

import types

import pytest
import torch

from tokenizer_bench import hookimpl
from tokenizer_bench.core import plugins
from tokenizer_bench.core.data import list_utterances
from tokenizer_bench.core.interfaces_teachers import Transcript
from tokenizer_bench.plugins.recipes.teacher_cache.build import build_teacher_cache
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.plugins.teachers._testing import make_tiny_bert, make_tiny_ctc, make_tiny_hubert, write_test_corpus

SR, HOP = 16000, 320


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is ~100x faster than two."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


class FakeSTT:
    """Deterministic STT: "hello world" over the whole clip; silence -> nothing; peak 0.75 -> emoji/CJK."""

    role = "stt"
    sample_rate = SR
    built = 0

    def __init__(self, device: str = "auto") -> None:
        FakeSTT.built += 1

    def transcribe(self, wav):
        d = wav.shape[-1] / SR
        peak = float(wav.abs().max())
        if peak < 1e-4:
            return Transcript.from_words([], source="fake")
        if 0.7 < peak < 0.8:
            return Transcript.from_words([("hello", 0, d / 3), ("😀", d / 3, 2 * d / 3), ("猫", 2 * d / 3, d)])
        return Transcript.from_words([("hello", 0.0, d / 2), ("world", d / 2, d)], source="fake")

    def align(self, wav, text):
        tr = Transcript.from_text(text)
        d = wav.shape[-1] / SR
        for i, w in enumerate(tr.words):
            w.start, w.end = d * i / len(tr.words), d * (i + 1) / len(tr.words)
        return tr


@pytest.fixture
def fake_stt():
    return FakeSTT


@pytest.fixture(scope="module")
def fake_plugin():
    plugin = types.SimpleNamespace(register_teachers=hookimpl(lambda register: register("fake_stt", FakeSTT)))
    plugins.register_plugin(plugin, name="test-fake-stt")
    yield
    plugins.unregister_plugin(plugin)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"bert": make_tiny_bert(root / "bert"), "hubert": make_tiny_hubert(root / "hubert"),
            "ctc": make_tiny_ctc(root / "ctc")}


def _make_cfg(data, cache_dir, models, **teachers):
    t = {
        "stt": {"name": "fake_stt"},
        "lm": {"name": "lm_hf", "model": str(models["bert"])},
        "sm": {"name": "sm_hf", "model": str(models["hubert"])},
        "cache_dir": str(cache_dir),
        "device": "cpu",
    }
    t.update(teachers)
    return TrainConfig.model_validate(
        {
            "model": {
                "tokenizer": "dm_codec",
                "encoder": {"name": "seanet_encoder", "strides": [8, 5, 4, 2]},
                "quantizer": {"name": "rvq"},
                "decoder": {"name": "seanet_decoder"},
            },
            "teachers": t,
            "data": {"train": [str(data)]},
        }
    )


@pytest.fixture
def make_cfg():
    """``make_cfg(data, cache_dir, models, **teachers)``: a training config with the tiny teachers."""
    return _make_cfg


@pytest.fixture
def write_corpus():
    return write_test_corpus


@pytest.fixture(scope="module")
def built(tmp_path_factory, fake_plugin, models):
    """A cache built once for 100 clips + a corrupt and a too-short file: (cfg, utterances, lengths, summary)."""
    root = tmp_path_factory.mktemp("cache")
    lengths = write_test_corpus(root / "data")
    cfg = _make_cfg(root / "data", root / "cache", models)
    utts = list_utterances(cfg.data.train)
    summary = build_teacher_cache(cfg, utts, HOP, progress=False)
    return cfg, utts, lengths, summary
