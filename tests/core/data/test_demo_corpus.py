"""core/data/demo_corpus.py: the demo corpus is the same audio in every process (a reproducible quick start)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("espeakng_loader", reason="the demo corpus is spoken by eSpeak NG (pip install espeakng-loader)")

# Every speaker twice; printed: one md5 of the decoded samples per utterance, in order.
_SCRIPT = """
import hashlib, sys
from pathlib import Path
import soundfile as sf
from tokenizer_bench.core.data.demo_corpus import SPEAKERS, build_demo_corpus
root = build_demo_corpus(Path(sys.argv[1]), num_utterances=2 * len(SPEAKERS))
for f in sorted(root.rglob("*.flac")):
    print(f.name, hashlib.md5(sf.read(f, dtype="int16")[0].tobytes()).hexdigest())
"""


def _digests(folder) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(folder)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split("\n")


def test_two_processes_speak_identical_audio(tmp_path):
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len([line for line in first if line]) == 8
    assert first == second

