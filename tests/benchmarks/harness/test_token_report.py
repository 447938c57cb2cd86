"""compare --token-stats / --probe end to end on the fake codec and identity: the tables land in
results.md, results.json and report.html with the values worked out by hand."""

from __future__ import annotations

import json

import pytest

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.systems import SystemSpec
from tokenizer_bench.core.errors import ConfigError

def test_token_stats_and_probe_in_outputs(fake_plugins, speech_set, probe_train_split, tmp_path):
    out = tmp_path / "run"
    probe = {"train": str(probe_train_split), "transcripts": None, "steps": 2, "hidden": 8,
             "conv_layers": 1, "lstm_layers": 0, "batch_size": 2}
    cfg = CompareConfig(systems=[SystemSpec("fake_codec"), SystemSpec("identity")], data=[str(speech_set)], out=out,
                        metrics=["stoi"], asr="fake_asr", plots=False, report_examples=0, aso_iterations=50,
                        token_stats=True, probe=probe)
    run_compare(cfg)
    res = json.loads((out / "results.json").read_text())
    fake = res["token_stats"]["fake_codec"]
    # the fake codec emits only code 0 on its 4 codebooks: utilisation 1/1024, entropy 0, 0 bit/s entropy-coded
    assert [c["utilisation"] for c in fake["codebooks"]] == [1 / 1024] * 4
    assert fake["entropy_bitrate"] == 0.0 and fake["nominal_bitrate"] == pytest.approx(50 * 4 * 10)
    assert fake["tokens_per_second"] == pytest.approx(200.0)
    rows = res["token_probe"]["rows"]
    assert rows["fake_codec "
                "[rvq1]"].startswith("not applicable") and rows["identity [sum]"].startswith("not applicable")
    ref = rows["original (log-mel)"]
    assert 0.0 <= ref["cer"] and ref["num_test"] == 4  # utt4 has no transcript
    assert res["token_probe"]["test"]["without_text"] == ["utt4"]
    md = (out / "results.md").read_text()
    assert "## Token statistics" in md and "## Token-content probe" in md
    assert "| fake_codec | 4 | 200 | 2000 | 0 |" in md
    page = (out / "report.html").read_text()
    assert "id='token-stats'" in page and "id='token-probe'" in page


def test_probe_cli_needs_train_split(probe_train_split, tmp_path):
    from tokenizer_bench.benchmarks.harness.cli import _probe_config

    with pytest.raises(ConfigError, match="--probe-train"):
        _probe_config(True, None, None, 10, [])
    with pytest.raises(ConfigError, match="only apply with --probe"):
        _probe_config(False, None, None, 10, ["hidden=8"])
    with pytest.raises(ConfigError, match="--probe-option"):
        _probe_config(True, "x", None, 10, ["hiddn=8"])
    split = probe_train_split
    assert _probe_config(True, split, None, 10, ["hidden=8"])["hidden"] == 8


def test_probe_train_split_is_checked_before_any_work(probe_train_split, tmp_path):
    from tokenizer_bench.benchmarks.harness.cli import _probe_config

    with pytest.raises(ConfigError, match="no such folder"):
        _probe_config(True, tmp_path / "absent", None, 10, [])
    split = probe_train_split
    (split / "9" / "1" / "9-1.trans.txt").write_text("9-1-0000 HELLO WORLD\n")  # 9-1-0001 loses its text
    with pytest.raises(ConfigError, match=r"1 of 2 utterances have no transcript \(first: .*9-1-0001\.flac\)"):
        _probe_config(True, split, None, 10, [])
    cache = tmp_path / "cache" / "transcripts" / "k"
    cache.mkdir(parents=True)
    (cache / "9-1-0001.json").write_text(json.dumps({"id": "9-1-0001", "transcript": {"text": "WORLD HELLO"}}))
    assert _probe_config(True, split, tmp_path / "cache", 10, [])["transcripts"] == str(tmp_path / "cache")
