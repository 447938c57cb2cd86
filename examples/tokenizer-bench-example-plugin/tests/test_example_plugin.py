import math

import torch

from tokenizer_bench_example import FSQ, LoudnessDifference


def test_fsq_round_trip_and_code_range():
    q = FSQ(dimension=6, levels=[3, 4, 5])
    x = torch.randn(2, 6, 11)
    out = q(x)
    assert out.codes.shape == (2, 1, 11)
    assert int(out.codes.min()) >= 0 and int(out.codes.max()) < 3 * 4 * 5
    # decode(encode(x)) equals the forward's quantized output (same grid, same projection)
    assert torch.allclose(q.decode(q.encode(x)), out.quantized, atol=1e-6)


def test_fsq_mixed_radix_by_hand():
    q = FSQ(dimension=2, levels=[3, 4])
    # grid digits: dim0 in {-1,0,1} (L=3), dim1 in {-2,-1,0,1} (L=4, even: shifted)
    grid = torch.tensor([[[1.0], [-2.0]]])  # digits (2, 0) -> code 2 + 3*0 = 2
    assert int(q._to_codes(grid)) == 2
    grid = torch.tensor([[[-1.0], [1.0]]])  # digits (0, 3) -> 0 + 3*3 = 9
    assert int(q._to_codes(grid)) == 9


def test_loudness_difference_by_hand():
    ref = torch.ones(1, 1, 100) * 0.5
    est = ref * 0.1  # -20 dB
    assert math.isclose(LoudnessDifference()(reference=ref, estimate=est), 20.0, rel_tol=1e-6)
