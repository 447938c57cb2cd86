"""``--metric-option METRIC.KEY=VALUE``: parsed per metric, handed to the metric's constructor, and
part of the record key, so records made with other options (another model, another backend) are
recomputed on resume rather than mixed with the new ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.selection import parse_metric_options, select_metrics
from tokenizer_bench.benchmarks.harness.systems import SystemSpec
from tokenizer_bench.core.errors import ConfigError

SR = 16000


def test_parse_metric_options():
    got = parse_metric_options(["speaker_similarity.backend=resemblyzer", "f0_rmse.fmin=60",
                                "speaker_similarity.device=cpu"])
    assert got == {"speaker_similarity": {"backend": "resemblyzer", "device": "cpu"}, "f0_rmse": {"fmin": 60}}
    for bad in ("backend=resemblyzer", ".x=1", "f0_rmse.fmin"):
        with pytest.raises(ConfigError, match="METRIC.KEY=VALUE"):
            parse_metric_options([bad])


def test_options_reach_the_metric():
    sel = select_metrics(["f0_rmse"], gpu_available=False, options={"f0_rmse": {"fmin": 60, "threshold": 0.1}})
    assert sel.active["f0_rmse"].settings.fmin == 60.0 and sel.active["f0_rmse"].settings.threshold == 0.1


def _count_records(out) -> int:
    return len((out / "records.jsonl").read_text().splitlines())


def test_changed_options_are_recomputed_not_mixed(tmp_path):
    t = np.arange(SR) / SR
    folder = tmp_path / "audio"
    folder.mkdir()
    for i, f in enumerate((140.0, 190.0)):
        sf.write(folder / f"u{i}.wav", 0.5 * np.sin(2 * np.pi * (f + 20 * t) * t), SR, subtype="PCM_16")
    out = tmp_path / "run"

    def run(options):
        cfg = CompareConfig(systems=[SystemSpec("identity")], data=[str(folder)], out=out, metrics=["f0_rmse"],
                            metric_options=options, report_examples=0, aso_iterations=10, plots=False)
        run_compare(cfg)
        return _count_records(out)

    assert run({}) == 2
    assert run({}) == 2  # same settings: reused
    assert run({"f0_rmse": {"fmin": 60}}) == 4  # new options: new records under another key
    assert run({"f0_rmse": {"fmin": 60}}) == 4
    keys = {json.loads(line)["system_key"] for line in (out / "records.jsonl").read_text().splitlines()}
    assert len(keys) == 2
