"""Metric selection and KEY=VALUE options (benchmarks/harness/selection.py)."""

from __future__ import annotations

import pytest

from tokenizer_bench.benchmarks.harness.selection import parse_options, select_metrics
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError, UnknownComponentError


def test_default_selection_disables_unmet_metric_with_reason(fake_plugins):
    sel = select_metrics(None, gpu_available=False)
    assert "needs_missing_pkg" in sel.disabled
    assert "tokenizer_bench_no_such_module" in sel.disabled["needs_missing_pkg"]
    assert {"stoi", "wer", "bitrate"} <= set(sel.active)
    assert list(sel.active)[:3] == ["bitrate", "wer", "wil"]  # the paper's column order first


def test_explicit_unmet_metric_is_an_error(fake_plugins):
    with pytest.raises(MissingDependencyError, match="needs_missing_pkg"):
        select_metrics(["stoi", "needs_missing_pkg"], gpu_available=False)
    with pytest.raises(UnknownComponentError, match="Did you mean 'stoi'"):
        select_metrics(["stoj"])


def test_parse_options():
    assert parse_options(["model=/m", "beam_size=5", "local_files_only=true"], "--asr-option") == {
        "model": "/m", "beam_size": 5, "local_files_only": True}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options(["oops"], "--asr-option")
