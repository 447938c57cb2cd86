"""Fixtures of the harness tests: a small synthetic evaluation set and fake plugins (a codec with
controllable failures, an ASR that always hears "hello world", a metric with a missing package),
registered through the same hooks as real plugins."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from tokenizer_bench.core.hookspecs import hookimpl
from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds
from tokenizer_bench.core.plugins import register_plugin, unregister_plugin
from tokenizer_bench.core.tokenizer import Tokenizer

SR = 16000
#: utterance i has 24000 + 1000 i samples, so a fake codec can recognise it by its length
TEXTS = ["HELLO WORLD", "HELLO THERE WORLD", "HELLO WORLD", "SAY HELLO WORLD", None]
ENCODE_LENGTHS: Counter = Counter()
ASR_INPUTS: list[int] = []
FAST_METRICS = ("wer", "wil", "stoi", "si_sdr", "bitrate", "rtf_encode")


def utt_len(i: int) -> int:
    return 24000 + 1000 * i


def voiced(n: int, seed: int) -> np.ndarray:
    t = np.arange(n) / SR
    f0 = 110 + 10 * seed + 15 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 25))
    return (0.08 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


class FakeCodec(Tokenizer):
    """Codes are a dummy grid; the waveform travels as side info and comes back times ``gain``."""

    name = "fake_codec"
    side_info_keys = ("wav",)

    def __init__(self, gain: float = 0.5, fail_on: int | None = None, silent_on: int | None = None) -> None:
        self.sample_rate, self.frame_rate, self.num_codebooks, self.codebook_size = SR, 50.0, 4, 1024
        self.gain, self.fail_on, self.silent_on = gain, fail_on, silent_on

    def encode(self, wav, n_q=None):
        return self.encode_with_side(wav, n_q)[0]

    def encode_with_side(self, wav, n_q=None):
        q = self.check_n_q(n_q)
        n = wav.shape[-1]
        ENCODE_LENGTHS[n] += 1
        if self.fail_on is not None and n == utt_len(self.fail_on):
            raise RuntimeError("codec exploded on this input")
        return torch.zeros(wav.shape[0], q, n // 320, dtype=torch.long), {"wav": wav.clone()}

    def decode(self, codes, side=None):
        wav = side["wav"]
        if self.silent_on is not None and wav.shape[-1] == utt_len(self.silent_on):
            return torch.zeros_like(wav)
        return wav * self.gain

    def save_pretrained(self, directory):
        Path(directory).mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_pretrained(cls, directory, **options):
        return cls(**options)


def build_fake_codec(checkpoint=None, **options):
    """Fake codec for harness tests."""
    if checkpoint is not None and not Path(checkpoint).is_dir():
        from tokenizer_bench.core.errors import CheckpointError

        raise CheckpointError(f"{checkpoint}: fake checkpoint folder not found")
    return FakeCodec(**options)


class FakeASR:
    """Hears "hello world" in everything."""

    name = "fake_asr"
    sample_rate = SR

    def __init__(self, text: str = "hello world") -> None:
        self.text = text

    def describe(self):
        return {"backend": "fake_asr", "model": "none", "decoding": "constant", "text": self.text}

    def transcribe(self, wavs):
        ASR_INPUTS.extend(len(w) for w in wavs)
        return [self.text for _ in wavs]


class MissingPackageMetric:
    """A metric whose package is not installed."""

    name = "needs_missing_pkg"
    meta = MetricMeta(higher_is_better=True)
    needs = MetricNeeds(reference_audio=True, packages=("tokenizer_bench_no_such_module",))

    def __call__(self, **inputs):  # pragma: no cover - never runs
        raise AssertionError("must be disabled")


class _Plugin:
    @hookimpl
    def register_tokenizers(self, register):
        register("fake_codec", build_fake_codec)
        register("fake_codec_flaky", lambda checkpoint=None, **o: FakeCodec(fail_on=2, silent_on=3, **o),
                 description="fails on utterance 2, silent on utterance 3")

    @hookimpl
    def register_asr_backends(self, register):
        register("fake_asr", FakeASR)

    @hookimpl
    def register_metrics(self, register):
        register("needs_missing_pkg", MissingPackageMetric)


@pytest.fixture
def fake_plugins():
    plugin = _Plugin()
    register_plugin(plugin, name="harness-test-fakes")
    ENCODE_LENGTHS.clear()
    ASR_INPUTS.clear()
    yield SimpleNamespace(encode_lengths=ENCODE_LENGTHS, asr_inputs=ASR_INPUTS, utt_len=utt_len,
                          texts=TEXTS, fast_metrics=list(FAST_METRICS))
    unregister_plugin(plugin)


@pytest.fixture
def harness_app():
    """The harness's commands (``compare``, ``compare-merge``, ...) on a Typer app of their own, as the CLI mounts
    them; the callback keeps each a sub-command."""
    import typer

    from tokenizer_bench.benchmarks.harness.cli import add_commands

    app = typer.Typer()
    add_commands(app)

    @app.callback()
    def _root() -> None:
        pass

    return app


@pytest.fixture
def probe_train_split(tmp_path) -> Path:
    """Two LibriSpeech-layout utterances of speaker 9 (not a speaker of ``speech_set``): a probe's train split."""
    root = tmp_path / "train"
    chapter = root / "9" / "1"
    chapter.mkdir(parents=True)
    lines = []
    for i, text in enumerate(["HELLO WORLD", "WORLD HELLO"]):
        sf.write(chapter / f"9-1-000{i}.flac", voiced(16000, i), SR)
        lines.append(f"9-1-000{i} {text}")
    (chapter / "9-1.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def speech_set(tmp_path) -> Path:
    """Five synthetic utterances (the last without text) and a JSONL manifest; returns the manifest."""
    root = tmp_path / "data"
    root.mkdir()
    lines = []
    for i, text in enumerate(TEXTS):
        path = root / f"utt{i}.wav"
        sf.write(path, voiced(utt_len(i), i), SR, subtype="PCM_16")
        lines.append(json.dumps({"id": f"utt{i}", "path": path.name, "text": text}))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest
