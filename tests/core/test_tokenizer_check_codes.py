"""Tokenizer.check_codes: the shape/dtype/range rules decode relies on, per codebook size."""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.core.tokenizer import Tokenizer


class _Mixed(Tokenizer):
    """Three codebooks of 4, 4 and 2 entries (like FACodec's streams of different sizes)."""

    name = "mixed"
    sample_rate, frame_rate, num_codebooks, codebook_size = 16000, 50.0, 3, 4

    @property
    def codebook_sizes(self):
        return (4, 4, 2)

    def encode(self, wav, n_q=None):
        raise NotImplementedError

    def decode(self, codes, side=None):
        raise NotImplementedError

    def save_pretrained(self, directory):
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, directory, **options):
        raise NotImplementedError


def test_default_codebook_sizes_repeat_the_codebook_size():
    class Plain(_Mixed):
        codebook_sizes = Tokenizer.codebook_sizes

    assert Plain().codebook_sizes == (4, 4, 4)


def test_valid_codes_pass_with_any_depth_up_to_num_codebooks():
    tok = _Mixed()
    tok.check_codes(torch.tensor([[[0, 3], [3, 0], [1, 0]]]))  # [1, 3, 2], every value inside its row
    tok.check_codes(torch.tensor([[[3, 3]]]))  # Q = 1


@pytest.mark.parametrize("codes, message", [
    (torch.tensor([[[0.0, 1.0]]]), "dtype float32"),
    (torch.tensor([[0, 1]]), r"shape \[1, 2\]; expected \[B, Q, T\]"),
    (torch.zeros(1, 1, 0, dtype=torch.long), "empty"),
    (torch.zeros(1, 4, 2, dtype=torch.long), "Q=4 codebooks; the tokenizer has 3"),
    (torch.tensor([[[0, 4]]]), r"codebook 0 holds values in \[0, 4\]; they must lie in \[0, 4\)"),
    (torch.tensor([[[0, 1], [0, 1], [0, 2]]]), r"codebook 2 holds values in \[0, 2\]; they must lie in \[0, 2\)"),
    (torch.tensor([[[-1, 1]]]), r"\[-1, 1\]"),
])
def test_bad_codes_are_refused_with_the_reason(codes, message):
    with pytest.raises(ValueError, match=message):
        _Mixed().check_codes(codes)
