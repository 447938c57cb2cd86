"""harness_speed.py --throughput: the record comparison that says "values unchanged", and the
command it times (the compare a new user runs), checked on hand-made inputs."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def hs(load_benchmark_script):
    return load_benchmark_script("perf/harness_speed.py")


def _rec(transcript, **metrics):
    return {"status": "ok", "transcript": transcript, "metrics": metrics}


def test_compare_records_reports_the_largest_difference_per_metric(hs):
    a = {("x", "u1"): _rec("hi", wer=10.0, visqol=3.0), ("x", "u2"): _rec("yo", wer=0.0, visqol=2.5)}
    b = {("x", "u1"): _rec("hi", wer=10.0, visqol=3.25), ("x", "u2"): _rec("no", wer=0.0, visqol=2.0)}
    out = hs.compare_records(a, b)
    assert out["same_keys"] and out["records"] == 2
    assert out["transcripts_differing"] == 1 and out["status_or_metric_set_differing"] == 0
    assert out["max_abs_diff"] == {"wer": 0.0, "visqol": 0.5}  # |2.5 - 2.0| beats |3.0 - 3.25|
    b[("x", "u2")] = {"status": "failed", "transcript": "yo", "metrics": {}}
    assert hs.compare_records(a, b)["status_or_metric_set_differing"] == 1
    assert hs.compare_records(a, {("x", "u1"): b[("x", "u1")]}) == {"same_keys": False, "only_a": 1, "only_b": 0}


def test_compare_command_is_the_new_user_metric_set_on_two_workers(hs, tmp_path):
    cmd = hs.compare_command("identity,dm_codec:runs/a", tmp_path / "data", 20, 2, tmp_path / "out")
    assert cmd[1] == "compare"
    opts = dict(zip(cmd[2::2], cmd[3::2]))
    assert opts == {"--tokenizers": "identity,dm_codec:runs/a", "--data": str(tmp_path / "data"),
                    "--num-samples": "20", "--metrics": "wer,wil,visqol,stoi", "--asr": "faster_whisper",
                    "--workers": "2", "--out": str(tmp_path / "out")}


def test_compare_command_takes_the_current_codec_metric_set(hs, tmp_path):
    """Issue 25's set: WER, STOI, PESQ, speaker similarity (Resemblyzer offline), DNSMOS OVRL."""
    cmd = hs.compare_command("identity", tmp_path / "data", 20, 2, tmp_path / "out",
                             "wer,stoi,pesq,speaker_similarity,dnsmos_ovrl",
                             ["speaker_similarity.backend=resemblyzer"])
    assert cmd[cmd.index("--metrics") + 1] == "wer,stoi,pesq,speaker_similarity,dnsmos_ovrl"
    assert cmd[cmd.index("--metric-option") + 1] == "speaker_similarity.backend=resemblyzer"
    assert hs._options(["speaker_similarity.backend=resemblyzer"]) == {"speaker_similarity": {"backend": "resemblyzer"}}
