"""``compare --device cuda`` puts the model-based metrics and the ASR on the GPU too (no GPU here:
the options handed to the metric and ASR factories are checked, not a CUDA run)."""

from __future__ import annotations

import pytest

from tokenizer_bench.benchmarks.harness import runner
from tokenizer_bench.benchmarks.harness.runner import CompareConfig, on_device
from tokenizer_bench.benchmarks.harness.selection import MetricSelection
from tokenizer_bench.plugins.metrics.word_errors import WER


def test_device_goes_to_factories_that_take_one():
    opts = on_device("metrics", ["stoi", "speaker_similarity", "utmos"], {"speaker_similarity": {"backend": "x"}},
                     "cuda:1")
    assert opts == {"speaker_similarity": {"backend": "x", "device": "cuda:1"}, "utmos": {"device": "cuda:1"}}
    explicit = {"utmos": {"device": "cpu"}}
    assert on_device("metrics", ["utmos"], explicit, "cuda") == explicit  # the user's choice wins
    assert on_device("metrics", ["utmos", "speaker_similarity"], None, "cpu") == {}
    assert on_device("asr_backends", ["faster_whisper", "hf_whisper"], {}, "cuda") == {
        "faster_whisper": {"device": "cuda"}, "hf_whisper": {"device": "cuda"}}


class _Stop(Exception):
    pass


def test_prepare_builds_metrics_and_asr_on_the_run_device(monkeypatch, tmp_path):
    seen = {}

    def select(requested, options=None, **_):
        seen["metrics"] = options
        return MetricSelection(active={"wer": WER()})

    def asr(name, options):
        seen["asr"] = (name, options)
        raise _Stop

    monkeypatch.setattr(runner, "select_metrics", select)
    monkeypatch.setattr(runner, "build_asr", asr)
    monkeypatch.setattr(runner, "load_systems", lambda *a, **k: [])
    monkeypatch.setattr(runner, "sample_utterances", lambda *a, **k: [])
    monkeypatch.setattr(runner, "load_eval_set", lambda *a, **k: [])
    cfg = CompareConfig(systems=[], data=["unused"], out=tmp_path, device="cuda",
                        metrics=["wer", "speaker_similarity"], asr="hf_whisper", asr_options={"batch_size": 4})
    with pytest.raises(_Stop):
        runner.prepare(cfg)
    assert seen["metrics"] == {"speaker_similarity": {"device": "cuda"}}
    assert seen["asr"] == ("hf_whisper", {"batch_size": 4, "device": "cuda"})
    assert cfg.metric_options == {} and cfg.asr_options == {"batch_size": 4}  # the config itself unchanged
