"""Tokenizer.check_wav: the one input check every tokenizer's encode uses, with one error type."""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.core.audio import check_waveform
from tokenizer_bench.core.errors import AudioError, WaveformError
from tokenizer_bench.core.tokenizer import Tokenizer


class _Tok(Tokenizer):
    name = "tok"
    sample_rate, frame_rate, num_codebooks, codebook_size = 16000, 50.0, 1, 2

    def encode(self, wav, n_q=None):
        return self.check_wav(wav, min_samples=320)

    def decode(self, codes, side=None):
        raise NotImplementedError

    def save_pretrained(self, directory):
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, directory, **options):
        raise NotImplementedError


@pytest.mark.parametrize(
    "wav, message",
    [
        ([0.0] * 400, r"^tok: expects a mono waveform tensor \[B, 1, N\] at 16000 Hz, got list$"),
        (torch.zeros(400), r"^tok: expects a mono waveform \[B, 1, N\] at 16000 Hz, got shape \(400,\)$"),
        (torch.zeros(1, 400), r"got shape \(1, 400\)$"),
        (torch.zeros(1, 2, 400), r"got 2 channels \(shape \(1, 2, 400\)\); mix down to mono first$"),
        (torch.zeros(1, 1, 400, dtype=torch.int16), r"^tok: expects float audio in \[-1, 1\], got dtype int16$"),
        (torch.zeros(1, 1, 0), r"^tok: empty audio \(shape \(1, 1, 0\)\)$"),
        (torch.zeros(0, 1, 400), r"^tok: empty audio \(shape \(0, 1, 400\)\)$"),
        (torch.zeros(2, 1, 319), r"^tok: needs at least 320 samples, got 319$"),
        (torch.tensor([[[0.0] * 399 + [float("nan")]]]), r"^tok: audio contains NaN or infinite samples$"),
        (torch.tensor([[[0.0] * 399 + [float("-inf")]]]), r"NaN or infinite"),
    ],
)
def test_each_problem_is_named_with_one_error_type(wav, message):
    with pytest.raises(WaveformError, match=message) as info:
        _Tok().encode(wav)
    # one type that both kinds of caller catch: audio problems and bad arguments
    assert isinstance(info.value, AudioError) and isinstance(info.value, ValueError)


def test_valid_audio_is_returned_unchanged():
    wav = torch.linspace(-1, 1, 640).reshape(2, 1, 320)
    assert _Tok().encode(wav) is wav
    assert _Tok().encode(wav.double()).dtype == torch.float64


def test_nan_scan_can_be_skipped_for_training_steps():
    wav = torch.full((1, 1, 8), float("nan"))
    assert check_waveform(wav, "disc", finite=False) is wav
    with pytest.raises(WaveformError, match=r"^disc: expects a mono waveform \[B, 1, N\], got shape \(8,\)$"):
        check_waveform(wav[0, 0], "disc", finite=False)
