"""Residual VQ: EMA update, k-means init, dead codes, commitment loss, straight-through, codes.

Expected values come from hand computations or independent numpy re-implementations.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.quantizers._kmeans import kmeans
from tokenizer_bench.plugins.quantizers.rvq import ResidualVectorQuantizer


def clustered(n_clusters: int, per_cluster: int, dim: int, spread: float = 0.05, scale: float = 10.0,
              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``[1, dim, N]`` latents around well separated centres, and the centres."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_clusters, dim, generator=g) * scale
    pts = centres.repeat_interleave(per_cluster, 0) + spread * torch.randn(n_clusters * per_cluster, dim, generator=g)
    pts = pts[torch.randperm(pts.shape[0], generator=g)]
    return pts.t().unsqueeze(0).contiguous(), centres


def set_codebook(q: ResidualVectorQuantizer, layer: int, embed, cluster_size, embed_avg=None) -> None:
    cb = q.codebooks[layer]
    with torch.no_grad():
        cb.embed.copy_(torch.as_tensor(embed, dtype=torch.float32))
        cb.embed_avg.copy_(torch.as_tensor(embed if embed_avg is None else embed_avg, dtype=torch.float32))
        cb.cluster_size.copy_(torch.as_tensor(cluster_size, dtype=torch.float32))
        cb.inited.fill_(1.0)


def test_registered_and_attributes():
    q = get_registry("quantizers").build("rvq", dimension=8, n_q=3, codebook_size=16)
    assert (q.num_codebooks, q.codebook_size, q.dimension) == (3, 16, 8)
    keys = list(q.state_dict())
    assert keys[:4] == [f"vq.layers.0._codebook.{n}" for n in ("inited", "cluster_size", "embed", "embed_avg")]
    assert len(keys) == 12 and not list(q.parameters())
    assert q.state_dict()["vq.layers.0._codebook.inited"].shape == (1,)


def test_ema_update_matches_hand_computation():
    q = ResidualVectorQuantizer(dimension=2, n_q=1, codebook_size=2, decay=0.5, epsilon=0.1,
                                threshold_ema_dead_code=0)
    set_codebook(q, 0, embed=[[0.0, 0.0], [10.0, 10.0]], cluster_size=[2.0, 2.0])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 11.0]]).t().unsqueeze(0)  # [1, 2, 3]
    q.train()
    out = q(x)
    assert out.codes.tolist() == [[[0, 0, 1]]]
    cb = q.codebooks[0]
    # counts [2, 1]; sums [[1,1], [9,11]]
    # cluster_size = 0.5*[2,2] + 0.5*[2,1] = [2, 1.5]
    # embed_avg = 0.5*[[0,0],[10,10]] + 0.5*[[1,1],[9,11]] = [[0.5,0.5],[9.5,10.5]]
    # laplace: n = 3.5, sizes = (cs + 0.1) / (3.5 + 0.2) * 3.5 = [2.1, 1.6] * 3.5/3.7
    sizes = np.array([2.1, 1.6]) * 3.5 / 3.7
    np.testing.assert_allclose(cb.cluster_size.numpy(), [2.0, 1.5], rtol=1e-6)
    np.testing.assert_allclose(cb.embed_avg.numpy(), [[0.5, 0.5], [9.5, 10.5]], rtol=1e-6)
    np.testing.assert_allclose(cb.embed.numpy(), np.array([[0.5, 0.5], [9.5, 10.5]]) / sizes[:, None], rtol=1e-6)
    # the output used the codebook before the update
    np.testing.assert_allclose(out.quantized[0].t().detach().numpy(), [[0, 0], [0, 0], [10, 10]])


def _numpy_rvq(x: np.ndarray, books: list[np.ndarray]):
    """Independent RVQ: brute-force nearest codes per layer; returns codes, per-layer mse, final residual."""
    r = x.copy()
    codes, mses, outs = [], [], []
    for e in books:
        d = ((r[:, None, :] - e[None, :, :]) ** 2).sum(-1)
        idx = d.argmin(1)
        qv = e[idx]
        codes.append(idx)
        mses.append(((qv - r) ** 2).mean())
        outs.append(qv)
        r = r - qv
    return np.stack(codes), np.array(mses), outs


@pytest.mark.parametrize("training", [False, True])
def test_codes_and_commitment_loss_match_numpy(training):
    torch.manual_seed(0)
    q = ResidualVectorQuantizer(dimension=4, n_q=3, codebook_size=8)
    books = [np.random.default_rng(i).normal(size=(8, 4)).astype(np.float32) * (0.5 ** i) for i in range(3)]
    for i, b in enumerate(books):
        set_codebook(q, i, b, np.full(8, 5.0))
    x = torch.randn(2, 4, 5)
    q.train(training)
    out = q(x)
    flat = x.transpose(1, 2).reshape(-1, 4).numpy()
    codes, mses, outs = _numpy_rvq(flat, books)  # codebooks *before* the update
    assert out.codes.shape == (2, 3, 5) and out.codes.dtype == torch.int64
    np.testing.assert_array_equal(out.codes.permute(1, 0, 2).reshape(3, -1).numpy(), codes)
    assert out.commit_loss.item() == pytest.approx(mses.mean(), rel=1e-5)
    for k in range(3):
        np.testing.assert_allclose(out.layer_outputs[k].transpose(1, 2).reshape(-1, 4).detach().numpy(), outs[k],
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.quantized.transpose(1, 2).reshape(-1, 4).detach().numpy(), sum(outs),
                               rtol=1e-5, atol=1e-5)


def test_straight_through_gradients():
    q = ResidualVectorQuantizer(dimension=3, n_q=3, codebook_size=4)
    for i in range(3):
        set_codebook(q, i, np.random.default_rng(i).normal(size=(4, 3)), np.full(4, 5.0))
    q.train()
    x = torch.randn(1, 3, 6, requires_grad=True)
    out = q(x)
    (g,) = torch.autograd.grad(out.quantized.sum(), x, retain_graph=True)
    torch.testing.assert_close(g, torch.ones_like(x))  # identity through the straight-through sum
    for k in range(3):  # default: every layer's output passes an identity gradient to the latent
        (gk,) = torch.autograd.grad(out.layer_outputs[k].sum(), x, retain_graph=True)
        torch.testing.assert_close(gk, torch.ones_like(x))
    (gc,) = torch.autograd.grad(out.commit_loss, x)
    # only layer 1's commitment term reaches x (later residuals are detached by the official chain):
    # d/dx (1/3) * mean((q1 - x)^2) = (2/3) * (x - q1) / numel
    q1 = out.layer_outputs[0].detach()
    torch.testing.assert_close(gc, (2.0 / 3.0) * (x.detach() - q1) / x.numel())


def test_official_layer_output_gradient_mode():
    q = ResidualVectorQuantizer(dimension=3, n_q=2, codebook_size=4, layer_output_gradient="official")
    for i in range(2):
        set_codebook(q, i, np.random.default_rng(i).normal(size=(4, 3)), np.full(4, 5.0))
    q.train()
    x = torch.randn(1, 3, 6, requires_grad=True)
    out = q(x)
    (g1,) = torch.autograd.grad(out.layer_outputs[1].sum(), x, allow_unused=True, retain_graph=True)
    assert g1 is None or torch.count_nonzero(g1) == 0


def test_kmeans_init_finds_clusters_from_data():
    x, centres = clustered(n_clusters=4, per_cluster=60, dim=6)
    q = ResidualVectorQuantizer(dimension=6, n_q=1, codebook_size=32)
    cb = q.codebooks[0]
    assert not cb.initialised
    cb.init_from_data_(x[0].t())
    assert cb.initialised and cb.last_kmeans["converged"] and cb.last_kmeans["iterations"] < 50
    d = torch.cdist(cb.embed, centres)
    assert d.min(dim=1).values.max() < 0.5  # every code sits on a cluster (averages of one cluster's points)
    assert d.min(dim=0).values.max() < 0.5  # and every cluster has codes
    assert cb.cluster_size.sum() == 240  # sizes count the batch's vectors per code
    # official EMA state: embed_avg holds the means themselves
    torch.testing.assert_close(cb.embed_avg, cb.embed)


def test_first_training_forward_initialises_and_weighted_ema_keeps_centroids():
    x, centres = clustered(n_clusters=4, per_cluster=60, dim=6)
    q = ResidualVectorQuantizer(dimension=6, n_q=1, codebook_size=32, kmeans_ema_init="weighted")
    q.train()
    q(x)  # init + one EMA step
    cb = q.codebooks[0]
    used = cb.cluster_size > 0.5
    d = torch.cdist(cb.embed[used], centres)
    assert d.min(dim=1).values.max() < 0.5 and d.min(dim=0).values.max() < 0.5
    q2 = ResidualVectorQuantizer(dimension=6, n_q=1, codebook_size=32)  # official: codes shrink to ~mean/count
    q2.train()
    q2(x)
    cb2 = q2.codebooks[0]
    big = cb2.cluster_size > 3
    assert big.any() and torch.cdist(cb2.embed[big], centres).min(dim=1).values.min() > 1.0


def test_fast_kmeans_equals_plain_lloyd_from_same_start():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(300, 5)).astype(np.float32)
    start = data[rng.choice(300, 12, replace=False)]
    res = kmeans(torch.from_numpy(data), 12, num_iters=50, initial=torch.from_numpy(start))
    # plain Lloyd, 50 iterations, empty clusters keep their mean (the official algorithm)
    means = start.astype(np.float64)
    for _ in range(50):
        assign = ((data[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
        for k in range(12):
            if (assign == k).any():
                means[k] = data[assign == k].mean(0)
    np.testing.assert_allclose(res.means.numpy(), means, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(res.cluster_size.numpy(), np.bincount(assign, minlength=12))
    assert res.converged and res.iterations < 50


def test_kmeans_cap_and_fewer_vectors_than_codes():
    data = torch.randn(50, 3)
    res = kmeans(data, 64, max_samples=None)
    # fewer vectors than codes (initial codes drawn with replacement, as the official init): a fixed
    # point where every used code is the mean of its vectors and every unused one is a data vector
    d, m = data.double().numpy(), res.means.double().numpy()
    assign = ((d[:, None, :] - m[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(res.cluster_size.numpy(), np.bincount(assign, minlength=64))
    for k in range(64):
        if (assign == k).any():
            np.testing.assert_allclose(m[k], d[assign == k].mean(0), rtol=1e-5, atol=1e-6)
        else:
            assert np.abs(d - m[k]).sum(1).min() == 0
    assert res.converged
    big = torch.randn(5000, 3)
    res = kmeans(big, 16, max_samples=500)
    assert res.num_samples == 500 and res.cluster_size.sum() == 5000  # sizes counted over every vector


def test_residual_error_decreases_with_depth():
    x, _ = clustered(n_clusters=50, per_cluster=20, dim=8, spread=1.0, scale=3.0)
    q = ResidualVectorQuantizer(dimension=8, n_q=4, codebook_size=16)
    q.train()
    for _ in range(3):
        q(x)
    q.eval()
    out = q(x)
    residual = x.clone()
    errs = [residual.pow(2).mean().item()]
    for lo in out.layer_outputs:
        residual = residual - lo
        errs.append(residual.pow(2).mean().item())
    assert all(b < a for a, b in zip(errs, errs[1:])), errs


def test_dead_codes_replaced_in_reset_mode():
    q = ResidualVectorQuantizer(dimension=2, n_q=1, codebook_size=3, dead_code_mode="reset")
    far = [[100.0, 100.0], [-100.0, -100.0]]
    set_codebook(q, 0, [[0.0, 0.0], *far], cluster_size=[10.0, 0.1, 0.1])
    x = (torch.randn(1, 2, 40) * 0.1)
    q.train()
    q(x)
    cb = q.codebooks[0]
    data = x[0].t()
    for k in (1, 2):  # the dead codes now are batch vectors, with consistent EMA stats
        assert torch.cdist(cb.embed[k:k + 1], data).min() < 1e-6
        assert cb.cluster_size[k].item() == 2.0
        torch.testing.assert_close(cb.embed_avg[k], cb.embed[k] * 2.0)
    assert cb.cluster_size[0].item() > 2.0  # the live code was kept


def test_official_mode_keeps_dead_codes_like_the_official_code():
    q = ResidualVectorQuantizer(dimension=2, n_q=1, codebook_size=2, decay=0.9, epsilon=1e-5)
    set_codebook(q, 0, [[0.0, 0.0], [50.0, 50.0]], cluster_size=[10.0, 0.5])
    x = torch.randn(1, 2, 10) * 0.1
    q.train()
    q(x)
    cb = q.codebooks[0]
    # official outcome: embed = embed_avg / laplace(cluster_size) for every code, dead ones included
    cs = np.array([0.9 * 10 + 0.1 * 10, 0.9 * 0.5])
    n = cs.sum()
    sizes = (cs + 1e-5) / (n + 2e-5) * n
    np.testing.assert_allclose(cb.cluster_size.numpy(), cs, rtol=1e-6)
    np.testing.assert_allclose(cb.embed[1].numpy(), 0.9 * np.array([50.0, 50.0]) / sizes[1], rtol=1e-5)


def test_eval_forward_and_encode_never_initialise():
    q = ResidualVectorQuantizer(dimension=4, n_q=2, codebook_size=8)
    x = torch.randn(1, 4, 10)
    q.eval()
    with pytest.warns(RuntimeWarning, match="never initialised"):
        q(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q.encode(x)
    assert not any(cb.initialised for cb in q.codebooks)
    assert all(cb.embed.abs().sum() == 0 for cb in q.codebooks)


def test_encode_decode_consistent_and_deterministic():
    x, _ = clustered(n_clusters=8, per_cluster=10, dim=4, spread=0.5, scale=2.0)
    q = ResidualVectorQuantizer(dimension=4, n_q=3, codebook_size=16)
    q.train()
    q(x)
    q.eval()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    codes = q.encode(x)
    assert codes.shape == (1, 3, 80)
    assert torch.equal(codes, q.encode(x))
    out = q(x)
    assert torch.equal(out.codes, codes)
    torch.testing.assert_close(q.decode(codes), out.quantized)
    assert q.encode(x, n_q=2).shape == (1, 2, 80)
    torch.testing.assert_close(q.decode(codes[:, :2]), out.layer_outputs[0] + out.layer_outputs[1])
    assert all(torch.equal(before[k], v) for k, v in q.state_dict().items())


def test_metrics_usage_and_perplexity():
    q = ResidualVectorQuantizer(dimension=1, n_q=1, codebook_size=4)
    set_codebook(q, 0, [[0.0], [1.0], [2.0], [3.0]], np.full(4, 5.0))
    q.eval()
    out = q(torch.tensor([[[0.0, 0.1, 1.0, 1.1]]]))  # codes 0,0,1,1 -> 2 of 4 used, uniform over 2
    assert float(out.metrics["layer0_usage"]) == pytest.approx(0.5)
    assert float(out.metrics["layer0_perplexity"]) == pytest.approx(2.0)


def test_bad_arguments():
    q = ResidualVectorQuantizer(dimension=4, n_q=2, codebook_size=8)
    with pytest.raises(ValueError, match="n_q"):
        q(torch.randn(1, 4, 3), n_q=3)
    with pytest.raises(ValueError, match="latents"):
        q(torch.randn(1, 5, 3))
    with pytest.raises(ValueError, match="codes must lie"):
        q.decode(torch.full((1, 1, 3), 8))
    with pytest.raises(ConfigError, match="dead_code_mode"):
        ResidualVectorQuantizer(dimension=4, dead_code_mode="bogus")


def _dist_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(100 + rank)  # different data and RNG on each rank
        q = ResidualVectorQuantizer(dimension=3, n_q=2, codebook_size=8, dead_code_mode="reset")
        q.train()
        for _ in range(3):
            q(torch.randn(1, 3, 20 + 10 * rank))
        torch.save({k: v.clone() for k, v in q.state_dict().items()}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_distributed_replicas_stay_identical(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed unavailable")
    import torch.multiprocessing as mp

    mp.spawn(_dist_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt")
    b = torch.load(tmp_path / "rank1.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    assert math.isclose(float(a["vq.layers.0._codebook.inited"]), 1.0)


def test_loading_a_state_dict_sets_the_initialised_flag():
    q = ResidualVectorQuantizer(dimension=2, n_q=1, codebook_size=4)
    fresh = {k: v.clone() for k, v in q.state_dict().items()}
    q.train()
    q(torch.randn(1, 2, 20))
    assert q.codebooks[0].initialised
    q.load_state_dict(fresh)
    assert not q.codebooks[0].initialised
