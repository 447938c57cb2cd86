"""Consistency checks (batched vs single, chunked vs whole) measure differences exactly: toy
tokenizers with a known batch / position dependence give hand-computed fractions; a context-free
tokenizer gives identical codes; the report shows the table."""

from __future__ import annotations

import json

import pytest
import torch

from tokenizer_bench.benchmarks.harness.consistency import check_batched, check_chunked, code_difference
from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.systems import SystemSpec
from tokenizer_bench.core.tokenizer import Tokenizer


class PositionCodec(Tokenizer):
    """Code of frame t = t + (batch size - 1): depends on the position in the input and on the batch.
    Decodes each code c to ``hop`` samples of value c."""

    name = "position_codec"

    def __init__(self) -> None:
        self.sample_rate, self.frame_rate, self.num_codebooks, self.codebook_size = 100, 10.0, 1, 1 << 20

    def encode(self, wav, n_q=None):
        b, _, n = wav.shape
        t = torch.arange(n // 10) + (b - 1)
        return t.expand(b, 1, -1).clone()

    def decode(self, codes, side=None):
        return codes.float().repeat_interleave(10, dim=-1)

    def save_pretrained(self, directory):  # pragma: no cover - not saved
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, directory, **options):  # pragma: no cover
        raise NotImplementedError


def test_code_difference_by_hand():
    a = torch.tensor([[[1, 2, 3, 4]]])
    b = torch.tensor([[[1, 0, 3, 9, 9]]])
    assert code_difference(a, b) == {"codes_differ_fraction": 0.5, "frames": [4, 5]}  # 2 of the 4 common frames
    assert code_difference(a, a)["codes_differ_fraction"] == 0.0


def test_batched_and_chunked_differences_by_hand():
    tok = PositionCodec()
    wavs = [torch.randn(95), torch.randn(80), torch.randn(120)]
    r = check_batched(tok, wavs, 1, "cpu")
    # cropped to 80 samples = 8 frames; batch of 3 codes t + 2, singles t: every code differs by 2
    assert r["codes_differ_fraction"] == 1.0 and r["frames"] == [8, 8]
    assert r["max_abs_wave_diff"] == pytest.approx(2.0) and (r["batch"], r["samples"]) == (3, 80)
    long = torch.randn(295)
    r = check_chunked(tok, long, 1, 1.0, "cpu")
    # chunk = 1 s x 10 frames/s = 10 frames = 100 samples; 295 -> 2 whole chunks (200 samples, 20 frames)
    # whole: 0..19; chunked: 0..9, 0..9 -> the second chunk's 10 frames differ (by 10): 50 %
    assert r["codes_differ_fraction"] == 0.5 and (r["chunks"], r["chunk_samples"], r["samples"]) == (2, 100, 200)
    assert r["max_abs_wave_diff"] == pytest.approx(10.0)
    assert check_chunked(tok, torch.randn(150), 1, 1.0, "cpu")["codes_differ_fraction"] is None  # < 2 chunks


def test_identity_is_consistent_and_reported(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    cfg = CompareConfig(systems=[SystemSpec("fake_codec"), SystemSpec("identity")], data=[str(speech_set)], out=out,
                        metrics=["bitrate", "stoi"], asr="fake_asr", report_examples=0, aso_iterations=50,
                        plots=False, consistency=True, consistency_chunk_s=0.5)
    run_compare(cfg)
    res = json.loads((out / "results.json").read_text())
    by = {c["system"]: c for c in res["consistency"]}
    ident = by["identity"]
    assert ident["utterances"] == ["utt0", "utt1", "utt2"]
    assert ident["batched"]["codes_differ_fraction"] == 0.0 and ident["batched"]["max_abs_wave_diff"] == 0.0
    # 24000 + 25000 + 26000 samples, chunks of 0.5 s x 16000 frames/s x 1 sample = 8000 samples: 9 whole chunks
    assert ident["chunked"]["codes_differ_fraction"] == 0.0 and ident["chunked"]["chunks"] == 9
    html = (out / "report.html").read_text()
    assert "<h2>Consistency checks</h2>" in html and "identical" in html
    assert "## Consistency checks" in (out / "results.md").read_text()
