"""The pass-through tokenizer: codes are offset-binary 16-bit PCM, reconstruction is exact on the
16-bit grid, bitrate is that of 16-bit PCM."""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.errors import CheckpointError


def test_registered_and_describes_pcm():
    tok = load_tokenizer("identity")
    assert (tok.sample_rate, tok.frame_rate, tok.num_codebooks, tok.codebook_size) == (16000, 16000.0, 1, 65536)
    assert tok.bitrate == 16000 * 16  # 256 kbps = 16-bit PCM


def test_codes_are_offset_pcm_and_roundtrip_is_exact_on_the_16bit_grid():
    tok = load_tokenizer("identity")
    pcm = torch.tensor([-32768, -1, 0, 1, 12345, 32767])
    wav = (pcm.float() / 32768).reshape(1, 1, -1)
    codes = tok.encode(wav)
    assert codes.dtype == torch.int64 and codes.shape == (1, 1, 6)
    assert codes.flatten().tolist() == (pcm + 32768).tolist()
    assert torch.equal(tok.decode(codes), wav)
    assert torch.equal(tok.reconstruct(wav), wav)


def test_off_grid_and_out_of_range_samples_quantise_and_clip():
    tok = load_tokenizer("identity")
    wav = torch.tensor([[[0.3, 1.5, -2.0]]])
    out = tok.reconstruct(wav)
    assert abs(float(out[0, 0, 0]) - 0.3) <= 0.5 / 32768
    assert float(out[0, 0, 1]) == 32767 / 32768 and float(out[0, 0, 2]) == -1.0


def test_n_q_and_shapes_are_checked():
    tok = load_tokenizer("identity")
    with pytest.raises(ValueError, match="n_q"):
        tok.encode(torch.zeros(1, 1, 10), n_q=2)
    with pytest.raises(ValueError, match=r"\[B, 1, N\]"):
        tok.encode(torch.zeros(1, 10))
    with pytest.raises(ValueError, match="0, 65535"):
        tok.decode(torch.full((1, 1, 3), 70000))


def test_save_and_load(tmp_path):
    tok = load_tokenizer("identity", sample_rate=24000)
    tok.save_pretrained(tmp_path / "ckpt")
    again = load_tokenizer("identity", tmp_path / "ckpt")
    assert again.sample_rate == 24000
    with pytest.raises(CheckpointError, match="config.json"):
        load_tokenizer("identity", tmp_path / "missing")
