"""Distillation loss (eq. 1/2), LM+SM combination (eq. 3) and RVQ target selection, by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tokenizer_bench.core.interfaces import TEACHER_FEATURES, QuantizerOutput
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.losses.distillation import (
    Distillation,
    DistillationProjection,
    RVQTarget,
    combine_lm_sm,
    distillation_loss,
    select_rvq_target,
)

MATCH = math.log1p(math.exp(-1.0))  # -log σ(1)
ANTI = math.log1p(math.exp(1.0))  # -log σ(-1)


def _qout(layers: list[torch.Tensor]) -> QuantizerOutput:
    """A quantizer output carrying only what the distillation term reads: the layer outputs."""
    return QuantizerOutput(quantized=layers[0], codes=torch.zeros(1), commit_loss=torch.zeros(()), layer_outputs=layers)


def lm_sm(student_dim: int, lm_dim: int, sm_dim: int, lm_target: str = "rvq1", sm_target: str = "rvq1:8",
          lambda_sm: float = 0.5, **kwargs) -> Distillation:
    return Distillation(student_dim, {"lm": lm_dim, "sm": sm_dim}, lm={"target": lm_target}, sm={"target": sm_target},
                        lambda_sm=lambda_sm, lambda_lm=1.0 - lambda_sm, **kwargs)


def _seq(b=1, t=5, d=4):
    return torch.randn(b, t, d) + 0.1  # no all-zero column


def test_identical_sequences_give_minus_log_sigmoid_one():
    s = _seq()
    assert distillation_loss(s.clone(), s).item() == pytest.approx(MATCH, abs=1e-6)


def test_opposite_sign_gives_minus_log_sigmoid_minus_one():
    s = _seq()
    assert distillation_loss(-s, s).item() == pytest.approx(ANTI, abs=1e-6)


def test_cosine_runs_over_time_per_dimension():
    # Rescaling each feature dimension by its own positive factor keeps every per-dimension
    # cosine over time at 1; a cosine over the feature axis (per frame) would not stay at 1.
    s = _seq(t=6, d=3)
    scaled = s * torch.tensor([0.1, 5.0, 40.0])
    assert distillation_loss(scaled, s).item() == pytest.approx(MATCH, abs=1e-6)
    per_frame = -F.logsigmoid(F.cosine_similarity(scaled, s, dim=-1)).mean().item()
    assert per_frame > MATCH + 1e-3


def test_hand_computed_example():
    # T=3, D=2. dim 0: q=[1,0,0], s=[1,1,0] -> cos=1/sqrt(2); dim 1: q=[1,2,3], s=[3,2,1] -> 10/14.
    q = torch.tensor([[[1.0, 1.0], [0.0, 2.0], [0.0, 3.0]]])
    s = torch.tensor([[[1.0, 3.0], [1.0, 2.0], [0.0, 1.0]]])
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    expected = -(math.log(sig(1 / math.sqrt(2))) + math.log(sig(10 / 14))) / 2
    assert distillation_loss(q, s).item() == pytest.approx(expected, abs=1e-6)


def test_batch_is_mean_of_utterances_and_official_layout_differs():
    a = _seq(t=4, d=3)
    b = _seq(t=4, d=3)
    student = torch.cat([a, b])
    teacher = torch.cat([a, -b])  # utterance 0 matches, utterance 1 is anti-matched
    ours = distillation_loss(student, teacher).item()
    assert ours == pytest.approx((MATCH + ANTI) / 2, abs=1e-6)

    # The official code stores teacher features [1, T, D] per utterance -> [B, 1, T, D] batched,
    # truncates T to min(T, teacher.size(1)) = 1 and takes the cosine along dim 1: a different number.
    official_teacher = teacher.unsqueeze(1)
    n = min(student.size(1), official_teacher.size(1))
    official = -torch.log(torch.sigmoid(
        F.cosine_similarity(student[:, :n], official_teacher[:, :n], dim=1))).mean().item()
    assert abs(official - ours) > 1e-2
    with pytest.raises(ValueError, match=r"\[B, 1, T, D\]"):
        distillation_loss(student, official_teacher)


def test_rejects_mismatched_shapes_instead_of_broadcasting():
    s = _seq(b=2, t=5, d=4)
    with pytest.raises(ValueError, match="differ"):
        distillation_loss(s[:, :4], s)  # different T
    with pytest.raises(ValueError, match="differ"):
        distillation_loss(s[:1], s)  # batch 1 vs 2 would broadcast
    with pytest.raises(ValueError, match="differ"):
        distillation_loss(s[..., :3], s)


def test_truncate_reproduces_official_length_handling():
    s = _seq(t=6)
    assert distillation_loss(s[:, :4], s, length_mismatch="truncate").item() == pytest.approx(MATCH, abs=1e-6)


def test_mask_excludes_frames():
    s = _seq(t=6, d=4)
    student = s.clone()
    student[:, 4:] = torch.randn(1, 2, 4) * 10  # garbage on the last two frames
    mask = torch.tensor([[True, True, True, True, False, False]])
    assert distillation_loss(student, s, mask=mask).item() == pytest.approx(MATCH, abs=1e-6)
    assert distillation_loss(student, s).item() > MATCH + 1e-3
    # 0/1 float masks behave the same
    assert distillation_loss(student, s, mask=mask.float()).item() == pytest.approx(MATCH, abs=1e-6)


def test_mask_utterance_without_frames_leaves_the_mean():
    a, b = _seq(t=4, d=3), _seq(t=4, d=3)
    student, teacher = torch.cat([a, b]), torch.cat([-a, b])
    mask = torch.tensor([[False] * 4, [True] * 4])
    assert distillation_loss(student, teacher, mask=mask).item() == pytest.approx(MATCH, abs=1e-6)
    student.requires_grad_(True)
    none = distillation_loss(student, teacher, mask=torch.zeros(2, 4, dtype=torch.bool))
    assert none.item() == 0.0
    none.backward()  # still part of the graph
    with pytest.raises(ValueError, match="mask"):
        distillation_loss(student, teacher, mask=torch.ones(2, 3))


def test_rvq_target_parsing_and_selection():
    layers = [torch.full((2, 3, 5), float(k)) for k in range(1, 9)]  # layer k holds the value k
    assert select_rvq_target(layers, "rvq1").unique().item() == 1.0
    assert select_rvq_target(layers, "rvq8").unique().item() == 8.0
    assert select_rvq_target(layers, "rvq1:8").unique().item() == pytest.approx(4.5)
    assert select_rvq_target(layers, "rvq2:4").unique().item() == pytest.approx(3.0)
    assert select_rvq_target(layers, "RVQ-1:8").shape == (2, 3, 5)
    assert RVQTarget.parse("rvq3") == RVQTarget(3, 3) and str(RVQTarget.parse("rvq1:8")) == "rvq1:8"
    for bad in ("rvq0", "rvq5:2", "layer1", "rvq", "rvq1:", ""):
        with pytest.raises(ValueError, match="RVQ target"):
            RVQTarget.parse(bad)
    with pytest.raises(ValueError, match="returned 4"):
        select_rvq_target(layers[:4], "rvq1:8")


def test_projection_owns_w_and_teacher_distillation_backprops():
    proj = DistillationProjection(16, 8)
    assert tuple(proj.linear.weight.shape) == (8, 16)
    with pytest.raises(ValueError, match="transpose"):
        proj(torch.randn(2, 16, 5))
    head = get_registry("losses").build("distillation", student_dim=16, teacher_dims={"lm": 8}, lm={"target": "rvq1:2"})
    assert isinstance(head, Distillation) and head.inputs == TEACHER_FEATURES
    assert Distillation.roles(lm={"target": "rvq1:2"}) == ("lm",)
    assert [k for k, _ in head.named_parameters()] == ["projection.linear.weight", "projection.linear.bias"]
    layers = [torch.randn(2, 16, 5, requires_grad=True) for _ in range(3)]
    loss, parts = head(_qout(layers), {"lm": torch.randn(2, 5, 8)})
    assert list(parts) == ["distill_lm"] and parts["distill_lm"] is loss
    loss.backward()
    assert head.projection.linear.weight.grad is not None and torch.isfinite(head.projection.linear.weight.grad).all()
    assert layers[0].grad is not None and layers[2].grad is None  # rvq1:2 ignores layer 3


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="set lm and/or sm"):
        Distillation.roles(lm=None, sm=None)
    with pytest.raises(ValueError, match="target"):
        Distillation.roles(lm={"layer": 1})
    with pytest.raises(ValueError, match="recipe"):
        Distillation(lm={"target": "rvq1"})  # the sizes come from the recipe
    with pytest.raises(ValueError, match="no feature size"):
        Distillation(16, {"lm": 8}, sm={"target": "rvq1"})


def test_lm_mask_is_the_audio_frames_unless_silence_is_masked():
    layers = [torch.randn(2, 4, 6)]
    feats = {"lm": torch.randn(2, 6, 3), "lm_mask": torch.tensor([[True] * 3 + [False] * 3] * 2),
             "frame_mask": torch.ones(2, 6, dtype=torch.bool)}
    every = Distillation(4, {"lm": 3}, lm={"target": "rvq1"})
    silent = Distillation(4, {"lm": 3}, lm={"target": "rvq1"}, mask_silence=True)
    silent.load_state_dict(every.state_dict())
    with torch.no_grad():
        student = every.student(layers, "lm")
        assert every(_qout(layers), feats)[0].item() == pytest.approx(distillation_loss(student, feats["lm"]).item())
        words = distillation_loss(student[:, :3], feats["lm"][:, :3]).item()  # the masked frames left out
        assert silent(_qout(layers), feats)[0].item() == pytest.approx(words, rel=1e-6)


def test_combine_lm_sm_by_hand_and_validation():
    # default scale 1 (eq. 3 / official): 0.3*2 + 0.7*4 = 3.4; at ½/½: (2 + 4)/2 = 3
    out = combine_lm_sm(torch.tensor(2.0), torch.tensor(4.0), lambda_sm=0.3, lambda_lm=0.7)
    assert out.item() == pytest.approx(3.4)
    assert combine_lm_sm(torch.tensor(2.0), torch.tensor(4.0)).item() == pytest.approx(3.0)
    # eq. 11 read literally: ½(½·2 + ½·4) = 1.5
    assert combine_lm_sm(torch.tensor(2.0), torch.tensor(4.0), scale=0.5).item() == pytest.approx(1.5)
    with pytest.raises(ValueError, match="sum to 1"):
        combine_lm_sm(torch.tensor(1.0), torch.tensor(1.0), lambda_sm=0.5, lambda_lm=0.6)
    with pytest.raises(ValueError, match="sum to 1"):
        Distillation(16, {"lm": 8, "sm": 8}, lm={"target": "rvq1"}, sm={"target": "rvq1"}, lambda_sm=1.2, lambda_lm=0.5)


def test_lm_sm_distillation_module():
    with pytest.raises(ValueError, match="share_projection"):
        lm_sm(16, 6, 8, share_projection=True)
    m = lm_sm(16, 6, 8, lambda_sm=0.25)  # different sizes: one projection each (share_projection None)
    assert m.lambda_lm == pytest.approx(0.75) and list(m.projections) == ["lm", "sm"]
    layers = [torch.randn(1, 16, 4) for _ in range(8)]
    total, parts = m(_qout(layers), {"lm": torch.randn(1, 4, 6), "sm": torch.randn(1, 4, 8)})
    expect = 0.25 * parts["distill_sm"].item() + 0.75 * parts["distill_lm"].item()
    assert total.item() == pytest.approx(expect, rel=1e-6)
    shared = lm_sm(16, 8, 8)
    assert sum(p.numel() for p in shared.parameters()) == 16 * 8 + 8
    assert list(shared.projections) == ["shared"]


# ---------------------------------------------------------------- LM+SM against eq. 1 written out


def _eq1_by_hand(q: list[list[float]], s: list[list[float]]) -> float:
    """Eq. 1 for one utterance, loop by loop: −(1/D) Σ_d log σ(cos over time of column d)."""
    T, D = len(q), len(q[0])
    total = 0.0
    for d in range(D):
        dot = sum(q[t][d] * s[t][d] for t in range(T))
        nq = math.sqrt(sum(q[t][d] ** 2 for t in range(T)))
        ns = math.sqrt(sum(s[t][d] ** 2 for t in range(T)))
        cos = dot / (nq * ns)
        total += math.log(1.0 / (1.0 + math.exp(-cos)))
    return -total / D


@pytest.mark.parametrize(
    "lambda_sm, scale",
    [(0.5, 1.0), (0.5, 0.5), (0.3, 1.0), (0.0, 1.0), (1.0, 1.0), (0.8, 0.5)],
)
def test_lm_sm_output_is_scale_times_lambda_weighted_eq1(lambda_sm, scale):
    # student_dim = teacher dim = 2 and W = identity (bias 0), so the projected student is the
    # selected RVQ output itself; LM on rvq1, SM on the mean of rvq1..2 (T = 3 frames, B = 1).
    m = lm_sm(2, 2, 2, lm_target="rvq1", sm_target="rvq1:2", lambda_sm=lambda_sm, scale=scale)
    with torch.no_grad():
        m.projection_for("lm").linear.weight.copy_(torch.eye(2))
        m.projection_for("lm").linear.bias.zero_()
    rvq1 = [[1.0, 2.0], [0.0, 1.0], [2.0, -1.0]]  # [T, D]
    rvq2 = [[3.0, 0.0], [2.0, 1.0], [0.0, 3.0]]
    mean12 = [[(a + b) / 2 for a, b in zip(r1, r2)] for r1, r2 in zip(rvq1, rvq2)]  # [[2,1],[1,1],[1,1]]
    lm_teacher = [[1.0, 1.0], [1.0, 0.0], [0.0, 2.0]]
    sm_teacher = [[0.5, -1.0], [2.0, 1.0], [1.0, 1.0]]
    layers = [torch.tensor(x, dtype=torch.float64).T.unsqueeze(0).float() for x in (rvq1, rvq2)]  # [1, D, T]
    total, parts = m(_qout(layers), {"lm": torch.tensor([lm_teacher]), "sm": torch.tensor([sm_teacher])})
    l_lm, l_sm = _eq1_by_hand(rvq1, lm_teacher), _eq1_by_hand(mean12, sm_teacher)
    assert parts["distill_lm"].item() == pytest.approx(l_lm, abs=1e-6)
    assert parts["distill_sm"].item() == pytest.approx(l_sm, abs=1e-6)
    lambda_lm = 1.0 - lambda_sm
    assert total.item() == pytest.approx(scale * (lambda_sm * l_sm + lambda_lm * l_lm), abs=1e-6)


def test_lm_sm_default_is_half_the_sum_and_lm_only_equals_single_teacher():
    # the default (eq. 3 / official): λ = ½/½ gives ½(L_SM + L_LM); λ_LM = 1 gives exactly L_LM,
    # the LM-only (♣) loss of the single-teacher module on the same projection.
    layers = [torch.randn(2, 4, 5) for _ in range(2)]
    lm, sm = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    feats = {"lm": lm, "sm": sm}
    half = lm_sm(4, 3, 3, sm_target="rvq2")
    total, parts = half(_qout(layers), feats)
    assert total.item() == pytest.approx(0.5 * (parts["distill_lm"].item() + parts["distill_sm"].item()), rel=1e-6)
    lm_only = lm_sm(4, 3, 3, sm_target="rvq2", lambda_sm=0.0)
    single = Distillation(4, {"lm": 3}, lm={"target": "rvq1"})
    single.projection.load_state_dict(lm_only.projection_for("lm").state_dict())
    assert lm_only(_qout(layers), feats)[0].item() == pytest.approx(single(_qout(layers), feats)[0].item(), rel=1e-6)
