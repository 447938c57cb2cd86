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


def test_an_input_the_tokenizer_fails_on_is_reported_and_its_batch_mates_still_encoded(tmp_path, monkeypatch):
    """Two inputs of equal length share a batch; the tokenizer raises on one: that one fails,
    the other is encoded on its own."""
    from tokenizer_bench.core import api
    from tokenizer_bench.core.cli.codec import encode_files
    from tokenizer_bench.plugins.tokenizers.identity import IdentityTokenizer

    class Picky(IdentityTokenizer):
        def encode(self, wav, n_q=None):
            if float(wav.abs().max()) > 0.9:
                raise ValueError("too loud")
            return super().encode(wav, n_q)

    monkeypatch.setattr(api, "load_tokenizer", lambda *a, **k: Picky())
    quiet = np.array([100, -200, 300, 0]) / 32768
    write_wav(tmp_path / "in" / "quiet.wav", quiet)
    write_wav(tmp_path / "in" / "loud.wav", np.array([30000, 0, 0, 0]) / 32768)
    summary = encode_files([str(tmp_path / "in")], "identity", tmp_path / "codes", batch_size=8, progress=False)
    assert summary["encoded"] == 1 and list(summary["failed"]) == ["loud"]
    assert "loud.wav: encoding failed (ValueError: too loud)" in summary["failed"]["loud"]
    assert np.load(tmp_path / "codes" / "quiet.npy").tolist() == [[32868, 32568, 33068, 32768]]


def test_inputs_reached_twice_are_encoded_once_and_clashing_ids_are_refused(tmp_path):
    from tokenizer_bench.core.cli.codec import resolve_inputs
    from tokenizer_bench.core.errors import ConfigError

    write_wav(tmp_path / "in" / "sub" / "y.wav", np.zeros(10))
    write_wav(tmp_path / "other" / "y.wav", np.zeros(10))
    utts = resolve_inputs([str(tmp_path / "in"), str(tmp_path / "in" / "sub" / "y.wav"), str(tmp_path / "in" / "*")])
    assert [(u.id, u.path.name) for u in utts] == [("sub/y", "y.wav")]
    with pytest.raises(ConfigError, match="two inputs have the id 'y'"):
        resolve_inputs([str(tmp_path / "in" / "sub" / "y.wav"), str(tmp_path / "other" / "y.wav")])
