"""Spectrograms next to the report's audio players (benchmarks/harness/spectrograms.py)."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.spectrograms import FLOOR, HOP, N_FFT, SPECTROGRAM_DIR, log_spectrogram
from tokenizer_bench.benchmarks.harness.systems import SystemSpec


def test_log_spectrogram_of_a_bin_centred_sine_by_hand():
    sr, n = 16000, 16000
    t = np.arange(n) / sr
    db, freqs, times = log_spectrogram(0.5 * np.sin(2 * np.pi * 1000 * t), sr)
    # centred frames every HOP samples: 1 + n // HOP frames; N_FFT // 2 + 1 bins 31.25 Hz apart
    assert db.shape == (N_FFT // 2 + 1, 1 + n // HOP)
    assert freqs[1] == pytest.approx(sr / N_FFT) and times[1] == pytest.approx(HOP / sr)
    mid = db[:, db.shape[1] // 2]
    assert freqs[int(np.argmax(mid))] == 1000.0  # bin 32 exactly
    # a bin-centred sine of amplitude A through a Hann window w: |X| = A * sum(w) / 2, sum(w) = (N - 1) / 2
    # (up to the tail of the negative-frequency image, far below 0.001 dB)
    assert mid.max() == pytest.approx(20 * np.log10(0.5 * (N_FFT - 1) / 4), abs=1e-3)
    silence, _, _ = log_spectrogram(np.zeros(4000), sr)
    assert np.all(silence == pytest.approx(20 * np.log10(FLOOR)))


def test_report_shows_a_spectrogram_of_the_original_and_of_each_row(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    cfg = CompareConfig(systems=[SystemSpec("fake_codec"), SystemSpec("identity")], data=[str(speech_set)], out=out,
                        metrics=["stoi"], asr=None, aso_iterations=50, plots=False, report_examples=2)
    run_compare(cfg)
    page = (out / "report.html").read_text()
    audio = page[page.index("id='audio'"):]
    rows = audio.split("<tbody>")[1].split("<tr>")[1:]  # one table row per example utterance
    assert len(rows) == 2
    for row in rows:
        cells = row.split("<td>")[1:]  # utterance, original, fake_codec, identity
        assert len(cells) == 4
        for cell in cells[1:]:  # every player has its image in its cell
            assert "<audio controls" in cell and "class='spectrogram'" in cell
    images = re.findall(r"<img class='spectrogram' alt='spectrogram of ([^:]+): ([^']+)' data-file='([^']+)' "
                        r"src='data:image/png;base64,([^']+)'>", audio)
    assert len(images) == 2 * 3
    utts = sorted({u for u, _, _, _ in images})
    assert {(u, who) for u, who, _, _ in images} == {(u, w) for u in utts
                                                     for w in ("original", "row_fake_codec", "row_identity")}
    for _, _, file, data in images:  # the embedded PNG is the file written next to the report
        png = out / file
        assert png.parent == out / SPECTROGRAM_DIR and png.read_bytes() == base64.b64decode(data)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
