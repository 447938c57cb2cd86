"""Metric metadata is declared on the metric (``MetricMeta``) and is all the report reads: a
third-party metric registered through the hook renders exactly like a built-in one with the same
declaration, and a metric that declares none is refused with its reason."""

from __future__ import annotations

import json

import pytest

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.selection import select_metrics
from tokenizer_bench.benchmarks.harness.systems import SystemSpec
from tokenizer_bench.core.errors import MissingDependencyError
from tokenizer_bench.core.hookspecs import hookimpl
from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds
from tokenizer_bench.core.plugins import register_plugin, unregister_plugin
from tokenizer_bench.plugins.metrics.bitrate import Bitrate
from tokenizer_bench.plugins.metrics.stoi import STOI
from tokenizer_bench.plugins.metrics.word_errors import WER


class ThirdPartyWER:
    """Declares WER's metadata itself (written out, not copied); scores through the built-in so the
    values agree and only the rendering is under test."""

    name = "tp_wer"
    needs = WER.needs
    meta = MetricMeta(higher_is_better=False, display="WER", unit="%", decimals=2, aggregate="corpus", kind="text")

    def __init__(self) -> None:
        self._wer = WER()

    def __call__(self, **inputs):
        return self._wer(**inputs)

    def corpus_score(self, references, hypotheses):
        return self._wer.corpus_score(references, hypotheses)


class ThirdPartySTOI:
    name = "tp_stoi"
    meta = MetricMeta(higher_is_better=True, display="STOI", decimals=3, kind="audio")

    def __init__(self) -> None:
        self._stoi = STOI()
        self.needs = self._stoi.needs

    def __call__(self, **inputs):
        return self._stoi(**inputs)


class ThirdPartyBitrate:
    name = "tp_bitrate"
    needs = Bitrate.needs
    meta = MetricMeta(higher_is_better=False, display="Bitrate", unit="kbps", decimals=2, display_scale=1e-3,
                      kind="system", ranked=False)

    def __call__(self, **inputs):
        return Bitrate()(**inputs)


class Undeclared:
    """An old-style metric: a direction attribute but no ``meta``."""

    name = "undeclared"
    needs = MetricNeeds(reference_audio=True)
    higher_is_better = True

    def __call__(self, **inputs):  # pragma: no cover - never runs
        raise AssertionError("must be disabled")


class CorpusWithoutScore:
    name = "corpus_without_score"
    needs = MetricNeeds(reference_audio=True)
    meta = MetricMeta(higher_is_better=True, aggregate="corpus")

    def __call__(self, **inputs):  # pragma: no cover - never runs
        raise AssertionError("must be disabled")


PAIRS = {"wer": "tp_wer", "stoi": "tp_stoi", "bitrate": "tp_bitrate"}


class _ThirdParty:
    @hookimpl
    def register_metrics(self, register):
        for cls in (ThirdPartyWER, ThirdPartySTOI, ThirdPartyBitrate, Undeclared, CorpusWithoutScore):
            register(cls.name, cls)


@pytest.fixture
def third_party():
    plugin = _ThirdParty()
    register_plugin(plugin, name="metric-meta-test")
    yield
    unregister_plugin(plugin)


def _md_tables(md: str) -> list[list[list[str]]]:
    """Every markdown table of ``md`` whose header starts with "System", as rows of cells."""
    tables, current = [], None
    for line in md.splitlines():
        if line.startswith("| System |"):
            current = []
            tables.append(current)
        if current is not None and line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip() for c in line.strip("|").split("|")])
        else:
            current = None
    return tables


def test_the_built_in_declarations_are_what_the_pairs_declare():
    assert ThirdPartyWER.meta == WER.meta
    assert ThirdPartySTOI.meta == STOI.meta
    assert ThirdPartyBitrate.meta == Bitrate.meta


def test_third_party_metric_renders_exactly_like_the_built_in(fake_plugins, third_party, speech_set, tmp_path):
    out = tmp_path / "run"
    metrics = [*PAIRS, *PAIRS.values()]
    run_compare(CompareConfig(systems=[SystemSpec("fake_codec"), SystemSpec("identity")], data=[str(speech_set)],
                              out=out, metrics=metrics, asr="fake_asr", aso_iterations=50, plots=False,
                              report_examples=0))
    info = json.loads((out / "run.json").read_text())["metrics"]
    for builtin, tp in PAIRS.items():
        assert {k: v for k, v in info[tp].items() if k != "name"} == {k: v for k, v in info[builtin].items()
                                                                        if k != "name"}
    names = list(info)
    tables = _md_tables((out / "results.md").read_text())
    assert len(tables) == 2  # Table 1 and Table 2
    for table in tables:
        for row in table:
            cell = dict(zip(["System", *names], row))
            for builtin, tp in PAIRS.items():
                assert cell[tp] == cell[builtin], (row[0], builtin)
    head = dict(zip(["System", *names], tables[0][0]))
    # by hand: WER in percent, lower better; bitrate in kbps, not ranked (no arrow)
    assert (head["tp_wer"], head["tp_stoi"], head["tp_bitrate"]) == ("WER (%) ↓", "STOI ↑", "Bitrate (kbps)")
    row = {r[0]: dict(zip(["System", *names], r)) for r in tables[0][1:]}
    # ASR hears "hello world": 2 of 10 reference words deleted -> corpus WER 20 % (test_runner works it out)
    assert row["Ground truth"]["tp_wer"] == "20.00 (n=4)"
    assert row["fake_codec"]["tp_bitrate"] == "2.00"  # 50 frames/s x 4 codebooks x 10 bits = 2000 bits/s
    assert row["identity"]["tp_stoi"] == "1.000"


def test_a_metric_without_a_declaration_is_disabled_with_its_reason(third_party):
    selection = select_metrics(None, gpu_available=False)
    assert "undeclared" not in selection.active and "MetricMeta" in selection.disabled["undeclared"]
    assert "corpus_score" in selection.disabled["corpus_without_score"]
    assert "tp_wer" in selection.active  # a full declaration is enough, built-in or not
    with pytest.raises(MissingDependencyError, match="undeclared: declares no `meta"):
        select_metrics(["stoi", "undeclared"], gpu_available=False)


def test_declaration_values_are_checked():
    with pytest.raises(ValueError, match="aggregate"):
        MetricMeta(higher_is_better=True, aggregate="median")
    with pytest.raises(ValueError, match="kind"):
        MetricMeta(higher_is_better=True, kind="video")
    with pytest.raises(ValueError, match="decimals"):
        MetricMeta(higher_is_better=True, decimals=-1)
    with pytest.raises(TypeError):
        MetricMeta()  # the direction has no default
