"""The HTML report (benchmarks/harness/report.py) renders in a real browser: headless Chromium loads it and we read the
table back."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.systems import SystemSpec

CHROMIUM = Path("/usr/bin/chromium")


class _Table1(HTMLParser):
    """Collects ``{system: {metric: text}}`` from ``<table id="table1">`` of the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, dict[str, str]] = {}
        self.values: dict[str, dict[str, str]] = {}
        self._in_table = False
        self._system = None
        self._metric = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._in_table = a.get("id") == "table1"
        elif self._in_table and tag == "tr" and "data-system" in a:
            self._system = a["data-system"]
            self.cells[self._system] = {}
            self.values[self._system] = {}
        elif self._in_table and tag == "td" and "data-metric" in a:
            self._metric = a["data-metric"]
            self.cells[self._system][self._metric] = ""
            self.values[self._system][self._metric] = a.get("data-value", "")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "td":
            self._metric = None

    def handle_data(self, data):
        if self._in_table and self._system and self._metric:
            self.cells[self._system][self._metric] += data


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium absent (apt-get install -y chromium)")
def test_rendered_table_reads_back(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    cfg = CompareConfig(systems=[SystemSpec("fake_codec"), SystemSpec("identity")], data=[str(speech_set)], out=out,
                        metrics=["stoi", "wer", "bitrate"], asr="fake_asr", aso_iterations=100, plots=False,
                        report_examples=1)
    run_compare(cfg)
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--dump-dom", (out / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    parser = _Table1()
    parser.feed(proc.stdout)
    assert set(parser.cells) == {"Ground truth", "fake_codec", "identity"}
    # ASR hears "hello world": corpus WER 20 % (see test_runner); 4 of 5 utterances have text
    assert parser.cells["Ground truth"]["wer"] == "20.00 (n=4)"
    assert parser.cells["Ground truth"]["stoi"] == "–"
    assert parser.cells["identity"]["stoi"] == "1.000"
    assert parser.cells["fake_codec"]["bitrate"] == "2.00"  # kbps: 50 frames/s x 4 x 10 bits
    assert float(parser.values["fake_codec"]["bitrate"]) == 2000.0


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium absent (apt-get install -y chromium)")
def test_protocol_parts_render_in_the_browser(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    cfg = CompareConfig(systems=[SystemSpec("fake_codec"), SystemSpec("fake_codec_flaky")], data=[str(speech_set)],
                        out=out, metrics=["stoi", "bitrate"], asr="fake_asr", aso_iterations=50, plots=True,
                        report_examples=0, n_q=[1, 2], correction="bonferroni", consistency=True)
    run_compare(cfg)
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
         "--dump-dom", (out / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    for table_id in ("table1-nq1", "table1-nq2", "consistency", "aso-stoi@n_q=1", "aso-stoi@n_q=2"):
        assert f'id="{table_id}"' in dom, table_id
    assert 'alt="rate_quality"' in dom
    # flaky fails on 2 of 5 utterances at each depth: 4 failures, every row over the other 3
    assert "aggregated over the 3 of 5 utterances all systems scored; 4 failure(s) listed under Exclusions" in dom
    assert "Bonferroni-corrected over the pairs of each metric" in dom
