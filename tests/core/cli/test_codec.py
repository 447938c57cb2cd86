"""encode/decode commands: files and folders in, [Q, T] .npy out, WAV back, resumable."""

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from tokenizer_bench.core.cli.app import _install_plugin_commands, app


@pytest.fixture(scope="module")
def runner():
    _install_plugin_commands()
    return CliRunner()


def write_wav(path, samples, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, sr, subtype="PCM_16")
    return path


def test_identity_round_trip_through_the_cli(tmp_path, runner):
    rng = np.random.default_rng(0)
    # 16-bit values so the identity round trip is exact
    a = np.round(rng.uniform(-0.5, 0.5, 1600) * 32768) / 32768
    b = np.round(rng.uniform(-0.5, 0.5, 999) * 32768) / 32768
    write_wav(tmp_path / "in" / "a.wav", a)
    write_wav(tmp_path / "in" / "b.wav", b)
    codes = tmp_path / "codes"
    res = runner.invoke(app, ["encode", str(tmp_path / "in"), "--tokenizer", "identity", "--out", str(codes)])
    assert res.exit_code == 0, res.output
    arr = np.load(codes / "a.npy")
    assert arr.shape == (1, 1600) and arr.dtype == np.int32
    # hand check of the identity code: round(x * 32768) + 32768
    assert int(arr[0, 0]) == int(round(a[0] * 32768)) + 32768
    index = json.loads((codes / "index.json").read_text())
    assert index["tokenizer"] == "identity" and index["items"]["b"]["num_samples"] == 999
    res = runner.invoke(app, ["decode", str(codes), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    back, sr = sf.read(tmp_path / "out" / "b.wav")
    assert sr == 16000 and np.array_equal(back, b)


def test_rerun_skips_existing_and_reports_bad_files(tmp_path, runner):
    write_wav(tmp_path / "in" / "good.wav", np.zeros(320) + 0.1)
    (tmp_path / "in" / "bad.wav").write_bytes(b"garbage")
    codes = tmp_path / "codes"
    args = ["encode", str(tmp_path / "in"), "--tokenizer", "identity", "--out", str(codes)]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output  # an input failed
    assert "encoded 1 of 2; 1 failed: bad" in first.output and "bad.wav" in first.output
    mtime = (codes / "good.npy").stat().st_mtime_ns
    second = runner.invoke(app, args)
    assert "encoded 1 of 2 (1 already done); 1 failed: bad" in second.output
    assert (codes / "good.npy").stat().st_mtime_ns == mtime
