"""The official RVQ behaviours of plugins/quantizers/parity.py, against hand-worked expectations.

The official dead-code replacement is overwritten in the same step, so its only trace is one
``randperm`` (or ``randint``) draw on the global RNG: checked by replaying that draw from the same
RNG state. The method's codebook draws nothing unless it really replaces a code.
"""

from __future__ import annotations

import torch

from tokenizer_bench.plugins.quantizers._codebook import EuclideanCodebook
from tokenizer_bench.plugins.quantizers.parity import OfficialCodebook
from tokenizer_bench.plugins.quantizers.rvq import ResidualVectorQuantizer, make_codebook


def _codebook(cls, **kwargs):
    cb = cls(dim=2, codebook_size=3, decay=0.5, epsilon=0.1, threshold_ema_dead_code=2, **kwargs)
    with torch.no_grad():
        cb.embed.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]]))
        cb.embed_avg.copy_(cb.embed)
        cb.cluster_size.copy_(torch.tensor([4.0, 4.0, 1.0]))  # code 2 is below the threshold
        cb.inited.fill_(1.0)
    return cb


X = torch.tensor([[0.1, 0.0], [0.0, 0.1], [5.0, 5.1], [4.9, 5.0], [0.2, 0.2]])  # 5 vectors, codes 0,0,1,1,0
CODES = torch.tensor([0, 0, 1, 1, 0])


def test_official_dead_codes_draw_like_the_official_replacement_and_keep_the_code():
    cb = _codebook(OfficialCodebook, official_dead_codes=True, official_kmeans_ema=False)
    torch.manual_seed(7)
    cb.ema_update_(X, CODES)
    after = torch.randn(4)
    torch.manual_seed(7)
    torch.randperm(5)  # the official replacement's draw: K=3 of N=5 vectors
    assert torch.equal(after, torch.randn(4))
    # no replacement survives: code 2 = 0.5 * 9 / laplace size, sizes = (cs + 0.1) / (n + 0.3) * n
    cs = torch.tensor([0.5 * 4 + 0.5 * 3, 0.5 * 4 + 0.5 * 2, 0.5 * 1])
    n = cs.sum()
    size2 = (cs[2] + 0.1) / (n + 0.3) * n
    torch.testing.assert_close(cb.embed[2], torch.tensor([4.5, 4.5]) / size2)


def test_official_dead_codes_draw_nothing_when_no_code_expired():
    cb = _codebook(OfficialCodebook, official_dead_codes=True, official_kmeans_ema=False)
    with torch.no_grad():
        cb.cluster_size.fill_(4.0)
    torch.manual_seed(7)
    cb.ema_update_(X, CODES)
    after = torch.randn(4)
    torch.manual_seed(7)
    assert torch.equal(after, torch.randn(4))


def test_method_codebook_replaces_the_dead_code_with_a_batch_vector():
    cb = _codebook(EuclideanCodebook)
    cb.ema_update_(X, CODES)
    # code 2's EMA size 0.5 < 2: it becomes one of the batch vectors, with sums = vector * threshold
    assert torch.cdist(cb.embed[2:3], X).min() == 0
    torch.testing.assert_close(cb.embed_avg[2], 2 * cb.embed[2])
    assert cb.cluster_size[2].item() == 2.0


def test_ema_state_after_kmeans():
    means, counts = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([2.0, 5.0])
    method = EuclideanCodebook(dim=2, codebook_size=2)
    official = OfficialCodebook(dim=2, codebook_size=2, official_dead_codes=False, official_kmeans_ema=True)
    torch.testing.assert_close(method.ema_sums_after_kmeans(means, counts), torch.tensor([[2.0, 4.0], [15.0, 20.0]]))
    torch.testing.assert_close(official.ema_sums_after_kmeans(means, counts), means)


def test_modes_select_the_codebook():
    kw = dict(dim=2, codebook_size=4)
    assert type(make_codebook("reset", "weighted", **kw)) is EuclideanCodebook
    cb = make_codebook("official", "weighted", **kw)
    assert isinstance(cb, OfficialCodebook) and cb.official_dead_codes and not cb.official_kmeans_ema
    assert not cb.reset_dead_codes
    cb = make_codebook("reset", "official", **kw)
    assert isinstance(cb, OfficialCodebook) and cb.reset_dead_codes and cb.official_kmeans_ema
    q = ResidualVectorQuantizer(dimension=2, n_q=2, codebook_size=4)  # defaults: the official modes
    assert all(isinstance(c, OfficialCodebook) and c.official_dead_codes and c.official_kmeans_ema
               for c in q.codebooks)
