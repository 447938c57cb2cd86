"""The real ``tokenizer-bench encode``/``decode`` in a subprocess, on the identity tokenizer.

Identity codes are the 16-bit PCM samples plus 32768, so every expected code below is worked
out by hand from the samples written, never read back from the code under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("TOKENIZER_BENCH_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "tokenizer_bench.core.cli.app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def pcm(n: int, seed: int) -> np.ndarray:
    """Integer 16-bit samples (so WAV round trips are exact)."""
    return np.random.default_rng(seed).integers(-16000, 16000, n)


def write(path: Path, samples: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples.astype(np.int16), sr, subtype="PCM_16")
    return path


def no_traceback(res: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in res.stderr + res.stdout, res.stderr


def test_single_file(tmp_path):
    a = pcm(1600, 0)
    write(tmp_path / "in" / "a.wav", a)
    res = cli("encode", "in/a.wav", "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "encoded 1 of 1 -> codes"
    codes = np.load(tmp_path / "codes" / "a.npy")
    assert codes.shape == (1, 1600) and np.array_equal(codes[0], a + 32768)


def test_glob_takes_audio_and_ignores_other_matches(tmp_path):
    for i, name in enumerate(["x.wav", "sub/y.wav", "sub/z.flac"]):
        write(tmp_path / "in" / name, pcm(320 + i, i))
    (tmp_path / "in" / "sub" / "y.txt").write_text("a transcript, not audio")
    res = cli("encode", "in/**/*", "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "encoded 3 of 3 -> codes"
    assert sorted(p.name for p in (tmp_path / "codes").glob("*.npy")) == ["x.npy", "y.npy", "z.npy"]
    assert np.load(tmp_path / "codes" / "z.npy").shape == (1, 322)
    # a pattern matching nothing is a usage error (exit 2), one line
    res = cli("encode", "in/*.mp3", "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 2 and "matches no audio file" in res.stderr
    no_traceback(res)


def test_folder_with_one_corrupt_file_fails_the_run_after_a_summary(tmp_path):
    write(tmp_path / "in" / "good.wav", pcm(400, 1))
    (tmp_path / "in" / "bad.wav").write_bytes(b"RIFF not really a wav")
    res = cli("encode", "in", "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stdout.strip() == "encoded 1 of 2; 1 failed: bad -> codes"
    failures = [line for line in res.stderr.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and "bad.wav" in failures[0] and "cannot decode audio" in failures[0]
    no_traceback(res)
    # only the corrupt file in the folder: nothing encoded, still exit 1 (it exited 0 before)
    (tmp_path / "in" / "good.wav").unlink()
    res = cli("encode", "in", "-t", "identity", "-o", "codes2", cwd=tmp_path)
    assert res.returncode == 1 and res.stdout.strip() == "encoded 0 of 1; 1 failed: bad -> codes2"


def test_stereo_is_downmixed_with_one_warning(tmp_path):
    # left and right of the same parity, so the average is an integer sample: no rounding question
    left = 2 * np.random.default_rng(0).integers(-8000, 8000, 500)
    right = 2 * np.random.default_rng(1).integers(-8000, 8000, 500)
    for name in ("s1.wav", "s2.wav"):
        write(tmp_path / "in" / name, np.stack([left, right], axis=1))
    res = cli("encode", "in", "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "channels" in line]
    assert len(warnings) == 1 and "mixed down to mono" in warnings[0]
    codes = np.load(tmp_path / "codes" / "s2.npy")
    assert codes.shape == (1, 500) and np.array_equal(codes[0], (left + right) // 2 + 32768)


def test_other_sample_rate_is_announced_once(tmp_path):
    for name in ("r1.wav", "r2.wav"):
        write(tmp_path / "in" / name, pcm(800, 3), sr=8000)
    write(tmp_path / "in" / "native.wav", pcm(800, 4))
    res = cli("encode", "in", "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    notes = [line for line in res.stderr.splitlines() if "resampling" in line]
    assert len(notes) == 1 and "8000 Hz" in notes[0] and "16000 Hz" in notes[0]
    assert np.load(tmp_path / "codes" / "r2.npy").shape == (1, 1600)  # 0.05 s at 16 kHz
    assert np.load(tmp_path / "codes" / "native.npy").shape == (1, 800)
    assert json.loads((tmp_path / "codes" / "index.json").read_text())["items"]["r1"]["num_samples"] == 1600


def test_decode_reports_each_bad_code_file_in_one_line_and_decodes_the_rest(tmp_path):
    names = ["good", "corrupt", "floats", "shape", "range", "empty", "notnpy"]
    for i, name in enumerate(names):
        write(tmp_path / "in" / f"{name}.wav", pcm(200, i))
    res = cli("encode", "in", "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    codes = tmp_path / "codes"
    raw = (codes / "corrupt.npy").read_bytes()
    (codes / "corrupt.npy").write_bytes(raw[: len(raw) - 150])  # truncated inside the data
    np.save(codes / "floats.npy", np.full((1, 200), 32768.0, np.float32))
    np.save(codes / "shape.npy", np.full((2, 200), 32768, np.int32))  # Q=2, identity has 1 codebook
    np.save(codes / "range.npy", np.full((1, 200), 70000, np.int32))  # codebook holds 65536 entries
    np.save(codes / "empty.npy", np.zeros((1, 0), np.int32))
    (codes / "notnpy.npy").write_text("hello")

    res = cli("decode", "codes", "-o", "wav", cwd=tmp_path)
    assert res.returncode == 1
    no_traceback(res)
    assert res.stdout.strip() == "decoded 1 of 7; 6 failed: corrupt, empty, floats, notnpy, range, shape -> wav"
    lines = {line.split(":", 2)[1].strip(): line for line in res.stderr.splitlines() if line.startswith("failed:")}
    assert sorted(lines) == sorted(f"codes/{n}.npy" for n in names[1:])
    assert "not a readable .npy array" in lines["codes/corrupt.npy"]
    assert "not a .npy file (no NumPy header" in lines["codes/notnpy.npy"]  # never "pickled data"
    assert "dtype float32" in lines["codes/floats.npy"] and "integers" in lines["codes/floats.npy"]
    assert "Q=2" in lines["codes/shape.npy"] and "has 1" in lines["codes/shape.npy"]
    assert "[70000, 70000]" in lines["codes/range.npy"] and "[0, 65536)" in lines["codes/range.npy"]
    assert "empty" in lines["codes/empty.npy"]
    back, sr = sf.read(tmp_path / "wav" / "good.wav", dtype="int16")
    assert sr == SR and np.array_equal(back, pcm(200, 0))
    assert sorted(p.name for p in (tmp_path / "wav").iterdir()) == ["good.wav"]

    # a shape that is neither [Q, T] nor [B, Q, T]
    np.save(codes / "shape.npy", np.full((200,), 32768, np.int32))
    res = cli("decode", "codes", "-o", "wav", cwd=tmp_path)
    assert "codes/shape.npy: shape [200] is neither [Q, T] nor [B, Q, T]" in res.stderr
    # [B, Q, T] with B = 2 decodes to one WAV per row
    np.save(codes / "shape.npy", np.stack([pcm(200, 5), pcm(200, 6)])[:, None] + 32768)
    res = cli("decode", "codes", "-o", "wav", cwd=tmp_path)
    assert "shape" not in res.stdout and (tmp_path / "wav" / "shape-1.wav").is_file()
    assert np.array_equal(sf.read(tmp_path / "wav" / "shape-1.wav", dtype="int16")[0], pcm(200, 6))


def test_debug_shows_the_traceback_of_a_bad_input(tmp_path):
    write(tmp_path / "in" / "a.wav", pcm(100, 0))
    assert cli("encode", "in", "-t", "identity", "-o", "codes", cwd=tmp_path).returncode == 0
    np.save(tmp_path / "codes" / "a.npy", np.zeros((1, 100), np.float64))
    res = cli("--debug", "decode", "codes", "-o", "wav", cwd=tmp_path)
    assert res.returncode != 0 and "Traceback" in res.stderr and "dtype float64" in res.stderr


@pytest.mark.parametrize("bad", ["missing.wav", "notes.txt"])
def test_a_missing_or_non_audio_argument_is_a_usage_error(tmp_path, bad):
    (tmp_path / "notes.txt").write_text("x")
    res = cli("encode", bad, "-t", "identity", "-o", "codes", cwd=tmp_path)
    assert res.returncode == 2 and bad in res.stderr and len(res.stderr.strip().splitlines()) == 1
    no_traceback(res)
