"""``compare`` through typer's CliRunner on an app built here (the lead wires it into core/cli)."""

from __future__ import annotations

import json

from typer.testing import CliRunner


def test_compare_then_render_only(fake_plugins, speech_set, tmp_path, harness_app):
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["compare", "--tokenizers", "identity", "--baselines", "fake_codec", "--data", str(speech_set),
            "--metrics", "stoi,wer,bitrate", "--asr", "fake_asr", "--asr-option", "text=hello world",
            "--out", str(out), "--num-samples", "3", "--seed", "42", "--aso-iterations", "100", "--no-plots"]
    result = runner.invoke(harness_app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Table 1" in result.output and "fake_codec" in result.output
    run = json.loads((out / "run.json").read_text())
    assert [s["label"] for s in run["systems"]] == ["fake_codec", "identity"]  # baselines first
    assert run["num_utterances"] == 3 and run["asr"]["text"] == "hello world"
    assert len((out / "utterances.jsonl").read_text().splitlines()) == 3
    records_before = (out / "records.jsonl").read_text()

    (out / "results.md").unlink()
    result = runner.invoke(harness_app, ["compare", "--out", str(out), "--render-only", "--no-plots"])
    assert result.exit_code == 0, result.output
    assert (out / "results.md").is_file()
    assert (out / "records.jsonl").read_text() == records_before  # nothing recomputed


def test_user_errors_stop_the_command(fake_plugins, speech_set, tmp_path, harness_app):
    runner = CliRunner()
    result = runner.invoke(harness_app, ["compare", "--tokenizers", "identity", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "--data is required" in str(result.exception)
    result = runner.invoke(harness_app, ["compare", "--tokenizers", "identity", "--data", str(speech_set),
                                    "--asr", "fake_asr", "--metrics", "stoi,needs_missing_pkg",
                                    "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "needs_missing_pkg" in str(result.exception)
    assert not (tmp_path / "o" / "records.jsonl").exists()


def test_protocol_options_reach_the_run(fake_plugins, speech_set, tmp_path, harness_app):
    out = tmp_path / "run"
    args = ["compare", "--tokenizers", "fake_codec", "--data", str(speech_set), "--metrics", "stoi,bitrate",
            "--asr", "fake_asr", "--out", str(out), "--n-q", "1,2", "--correction", "holm", "--aggregate", "per-row",
            "--shard", "1/2", "--aso-iterations", "20", "--no-plots"]
    result = CliRunner().invoke(harness_app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = json.loads((out / "run.json").read_text())
    assert run["depths"] == [1, 2] and [s["label"] for s in run["systems"]] == ["fake_codec @ "
                                                                                "n_q=1", "fake_codec @ n_q=2"]
    assert run["significance"]["correction"] == "holm" and run["aggregation"] == "per-row"
    assert (run["shard"]["index"], run["shard"]["count"], run["shard"]["total"], run["num_utterances"]) == (1, 2, 5, 2)
    assert "Holm step-down" in (out / "results.md").read_text()
    bad_args = ["compare", "--tokenizers", "fake_codec", "--data", str(speech_set), "--metrics", "stoi",
                "--asr", "fake_asr", "--out", str(tmp_path / "o2"), "--correction", "sidak"]
    bad = CliRunner().invoke(harness_app, bad_args)
    assert bad.exit_code != 0 and "--correction 'sidak'" in str(bad.exception)
