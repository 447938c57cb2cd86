"""The post-training evaluation (``evaluation:``): the export scored through the harness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from tokenizer_bench import load_tokenizer
from tokenizer_bench.benchmarks.harness.evaluator import format_summary
from tokenizer_bench.core.training.evaluation import evaluate_export
from tokenizer_bench.core.train_config import EvaluationConfig, TrainConfig


def _cfg(tmp_path, out):
    return TrainConfig.model_validate({
        "model": {"tokenizer": "dm_codec", "encoder": {"name": "seanet_encoder"}, "quantizer": {"name": "rvq"},
                  "decoder": {"name": "seanet_decoder"}},
        "data": {"train": [str(tmp_path)]},
        "teachers": {"stt": None, "lm": None, "sm": None},
        "losses": {"mel": {"name": "dmcodec_mel", "weight": 45.0}},
        "evaluation": {"data": [str(tmp_path / "eval")], "metrics": ["stoi", "bitrate"], "out": str(out)},
    })


def test_export_is_scored_on_held_out_audio(tmp_path):
    torch.manual_seed(0)
    tok = load_tokenizer("dm_codec", n_filters=2, dimension=16, semantic_dimension=None, codebook_size=32,
                         n_q=3, lstm_layers=1)
    export = tmp_path / "export"
    tok.save_pretrained(export)
    (tmp_path / "eval").mkdir()
    t = np.arange(16000) / 16000
    for i in range(2):
        tone = (0.1 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32)
        sf.write(tmp_path / "eval" / f"u{i}.wav", tone, 16000)
    messages = []
    s = evaluate_export(_cfg(tmp_path, tmp_path / "ev"), export, tmp_path, say=messages.append)
    # bitrate by hand: 3 codebooks x log2(32) bits x 50 frames/s = 750 bit/s
    assert s["metrics"]["bitrate"] == pytest.approx(750.0)
    assert -1.0 <= s["metrics"]["stoi"] <= 1.0 and s["num_utterances"] == 2  # STOI is a correlation
    assert (tmp_path / "ev" / "report.html").exists()
    assert "0.75 kbps" in messages[-1] and "report:" in messages[-1]


def test_summary_line_prints_each_metric_as_it_declares():
    meta = {"stoi": {"display": "STOI", "unit": "", "display_scale": 1.0, "decimals": 3},
            "wer": {"display": "WER", "unit": "%", "display_scale": 1.0, "decimals": 2},
            "bitrate": {"display": "Bitrate", "unit": "kbps", "display_scale": 1e-3, "decimals": 2}}
    line = format_summary({"label": "dm_codec", "num_utterances": 8, "failed": 0, "report": "r.html",
                           "metrics": {"stoi": 0.61234, "wer": 42.0, "bitrate": 1600.0, "x": math.nan, "y": 0.5},
                           "ground_truth": {"wer": 10.0}, "meta": meta})
    assert "STOI 0.612" in line and "WER 42.00 % (ground truth 10.00 %)" in line and "Bitrate 1.60 kbps" in line
    assert "y 0.500" in line and " x " not in line  # undeclared: raw; not finite: left out


def test_evaluation_needs_data():
    with pytest.raises(Exception, match="data"):
        EvaluationConfig()


def test_transcript_metrics_need_an_asr_backend(tmp_path):
    from tokenizer_bench.core.errors import ConfigError

    cfg = _cfg(tmp_path, tmp_path / "ev")
    cfg.evaluation.metrics = ["stoi", "wer"]
    with pytest.raises(ConfigError, match="evaluation.metrics wer need an ASR transcript: set evaluation.asr"):
        evaluate_export(cfg, tmp_path / "export", tmp_path, say=lambda _: None)
