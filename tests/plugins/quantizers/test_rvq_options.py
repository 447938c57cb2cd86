"""The rvq's DAC options: quantizer dropout, factorised codes (codebook_dim), cosine lookup.

Every expected number is worked by hand in the comments (1-d and 2-d latents, two codes per level).
"""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.plugins.quantizers.rvq import ResidualVectorQuantizer


def set_codebook(q: ResidualVectorQuantizer, layer: int, embed, cluster_size) -> None:
    cb = q.codebooks[layer]
    with torch.no_grad():
        cb.embed.copy_(torch.as_tensor(embed, dtype=torch.float32))
        cb.cluster_size.copy_(torch.as_tensor(cluster_size, dtype=torch.float32))
        cb.embed_avg.copy_(cb.embed * cb.cluster_size[:, None])
        cb.inited.fill_(1.0)


def set_projection(conv, weight) -> None:
    """A weight-normed 1x1 conv with effective weight ``weight [out, in]`` (g = ‖v‖) and no bias."""
    w = torch.as_tensor(weight, dtype=torch.float32)[:, :, None]
    with torch.no_grad():
        conv.weight_v.copy_(w)
        conv.weight_g.copy_(w.flatten(1).norm(dim=1)[:, None, None])
        conv.bias.zero_()


def latents(*rows) -> torch.Tensor:
    """One frame per item: ``[B, D, 1]``."""
    return torch.tensor(rows, dtype=torch.float32)[:, :, None]


# ---------------------------------------------------------------------------------------- dropout

def test_dropout_draw_follows_dac():
    """DAC: the first int(B * p) items draw n ~ U{1..n_q}, the rest keep all levels; eval keeps all."""
    q = ResidualVectorQuantizer(dimension=2, n_q=4, codebook_size=2, quantizer_dropout=0.5)
    q.train()
    torch.manual_seed(0)
    draws = torch.stack([q.levels_kept(8, torch.device("cpu")) for _ in range(2000)])  # [2000, 8]
    assert (draws[:, 4:] == 4).all()                          # int(8 * 0.5) = 4 items drop
    counts = torch.bincount(draws[:, :4].flatten(), minlength=5)[1:]
    assert counts.sum() == 8000 and ((counts - 2000).abs() < 200).all()  # uniform: 2000 ± 4.5 sigma each
    assert q.levels_kept(3, torch.device("cpu")).tolist()[1:] == [4, 4]  # int(3 * 0.5) = 1
    q.eval()
    assert q.levels_kept(8, torch.device("cpu")) is None
    q0 = ResidualVectorQuantizer(dimension=2, n_q=4, codebook_size=2).train()
    assert q0.levels_kept(8, torch.device("cpu")) is None  # default 0.0: today's behaviour


def test_dropout_masks_output_commitment_and_codebook_update(monkeypatch):
    q = ResidualVectorQuantizer(dimension=1, n_q=2, codebook_size=2, decay=0.5, threshold_ema_dead_code=0,
                                quantizer_dropout=0.5)
    set_codebook(q, 0, [[0.0], [4.0]], [2.0, 2.0])
    set_codebook(q, 1, [[-1.0], [1.0]], [2.0, 2.0])
    q.train()
    monkeypatch.setattr(q, "levels_kept", lambda b, device: torch.tensor([1, 2]))  # item 0 drops level 2
    x = latents([5.5], [3.2])
    out = q(x)
    # level 1: both -> code 1 (4.0); residuals 1.5 and -0.8. level 2: 1.5 -> code 1, -0.8 -> code 0 (-1.0)
    assert out.codes[:, :, 0].tolist() == [[1, 1], [1, 0]]
    # item 0 uses level 1 only: 4.0; item 1 both: 4.0 - 1.0 = 3.0
    assert out.quantized[:, 0, 0].tolist() == pytest.approx([4.0, 3.0])
    # commitment: level 1 mean((4-5.5)², (4-3.2)²) = (2.25 + 0.64)/2 = 1.445;
    # level 2: item 0 masked, item 1 (-1+0.8)² = 0.04, over the whole batch: 0.02; mean of levels 0.7325
    assert float(out.commit_loss) == pytest.approx(0.7325, abs=1e-6)
    # level 2's EMA (decay 0.5) sees item 1 only: sizes 0.5*[2,2] + 0.5*[1,0] = [1.5, 1.0],
    # sums 0.5*[-2, 2] + 0.5*[-0.8, 0] = [-1.4, 1.0] -> codes [-0.9333, 1.0] (code 1 not pulled to 1.5)
    cb = q.codebooks[1]
    assert cb.cluster_size.tolist() == pytest.approx([1.5, 1.0])
    assert cb.embed[:, 0].tolist() == pytest.approx([-1.4 / 1.5, 1.0], abs=1e-4)
    # level 1's EMA sees both: sizes [1, 2], sums 0.5*[0, 8] + 0.5*[0, 8.7] -> code 1 = 8.35 / 2
    assert q.codebooks[0].embed[1, 0].item() == pytest.approx(4.175, abs=1e-4)


def test_dropout_is_off_in_eval_and_checked():
    q = ResidualVectorQuantizer(dimension=1, n_q=2, codebook_size=2, quantizer_dropout=1.0)
    set_codebook(q, 0, [[0.0], [4.0]], [2.0, 2.0])
    set_codebook(q, 1, [[-1.0], [1.0]], [2.0, 2.0])
    out = q.eval()(latents([5.5], [3.2]))
    assert out.quantized[:, 0, 0].tolist() == pytest.approx([5.0, 3.0])  # all levels: 4+1, 4-1
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ConfigError, match="quantizer_dropout"):
            ResidualVectorQuantizer(dimension=1, n_q=2, codebook_size=2, quantizer_dropout=bad)


# ------------------------------------------------------------------------------ factorised codes

def test_factorised_codes_by_hand():
    q = ResidualVectorQuantizer(dimension=2, n_q=2, codebook_size=2, codebook_dim=1, threshold_ema_dead_code=0)
    layers = q.vq.layers
    set_projection(layers[0].in_proj, [[1.0, 1.0]])
    set_projection(layers[0].out_proj, [[0.5], [0.5]])
    set_projection(layers[1].in_proj, [[1.0, -1.0]])
    set_projection(layers[1].out_proj, [[1.0], [-1.0]])
    set_codebook(q, 0, [[0.0], [5.0]], [2.0, 2.0])
    set_codebook(q, 1, [[2.0], [-2.0]], [2.0, 2.0])
    x = latents([3.0, 1.0])
    q.eval()
    out = q(x)
    # level 1: z = 3 + 1 = 4 -> code 1 (5); back: [2.5, 2.5]; residual [0.5, -1.5]
    # level 2: z = 0.5 + 1.5 = 2 -> code 0 (2); back: [2, -2]; total [4.5, 0.5]
    assert out.codes[0, :, 0].tolist() == [1, 0]
    assert out.quantized[0, :, 0].tolist() == pytest.approx([4.5, 0.5])
    assert out.commit_loss.item() == pytest.approx(0.5)  # levels (5-4)² = 1 and (2-2)² = 0
    assert torch.equal(q.encode(x), out.codes)
    assert q.decode(out.codes)[0, :, 0].tolist() == pytest.approx([4.5, 0.5])
    assert q.code_vectors(out.codes)[0, :, :, 0].tolist() == [pytest.approx([2.5, 2.5]), pytest.approx([2.0, -2.0])]
    # training: the projections learn by gradient (commitment reaches in_proj, the output reaches out_proj)
    q.train()
    q(x).commit_loss.backward()
    assert layers[0].in_proj.weight_v.grad.abs().sum() > 0
    xg = x.clone().requires_grad_(True)
    q(xg).quantized.pow(2).sum().backward()  # (out_proj's v has one entry per row: its length g learns)
    assert layers[0].out_proj.weight_g.grad.abs().sum() > 0 and xg.grad.abs().sum() > 0


def test_default_layout_has_no_projection_keys():
    keys = set(ResidualVectorQuantizer(dimension=4, n_q=2, codebook_size=2).state_dict())
    assert keys == {f"vq.layers.{i}._codebook.{n}" for i in range(2)
                    for n in ("inited", "cluster_size", "embed", "embed_avg")}
    fact = ResidualVectorQuantizer(dimension=4, n_q=2, codebook_size=2, codebook_dim=3)
    assert fact.codebooks[0].embed.shape == (2, 3)
    assert {k for k in fact.state_dict() if "proj" in k} == {
        f"vq.layers.{i}.{p}.{n}" for i in range(2) for p in ("in_proj", "out_proj")
        for n in ("bias", "weight_g", "weight_v")}
    with pytest.raises(ConfigError, match="codebook_dim"):
        ResidualVectorQuantizer(dimension=4, codebook_dim=0)


# --------------------------------------------------------------------------------- cosine lookup

def test_cosine_lookup_picks_the_direction_and_uses_the_stored_code():
    embed = [[10.0, 0.0], [0.5, 0.5]]
    x = latents([3.0, 0.2])
    # squared distances 49.04 and 6.34 -> code 1; cosines 3/3.007 = 0.998 and 1.6/(3.007·0.707) = 0.753 -> code 0
    for lookup, code in (("euclidean", 1), ("cosine", 0)):
        q = ResidualVectorQuantizer(dimension=2, n_q=1, codebook_size=2, lookup=lookup)
        set_codebook(q, 0, embed, [2.0, 2.0])
        out = q.eval()(x)
        assert out.codes.flatten().tolist() == [code]
        assert q.encode(x).flatten().tolist() == [code]
    assert out.quantized[0, :, 0].tolist() == [10.0, 0.0]  # the stored vector, not its unit direction
    assert float(out.commit_loss) == pytest.approx((7.0 ** 2 + 0.2 ** 2) / 2)
    with pytest.raises(ConfigError, match="lookup"):
        ResidualVectorQuantizer(dimension=2, lookup="manhattan")
