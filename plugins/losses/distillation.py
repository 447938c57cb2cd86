"""DM-Codec's representation distillation (eq. 1/2), its LM+SM combination (eq. 3/11) and target selection.

For a student sequence Q' ∈ R^{T×D} (the RVQ output mapped to the teacher size by a learned
linear W) and a teacher sequence S ∈ R^{T×D} of one utterance:

    L = −(1/D) Σ_d log σ( cos(Q'[:, d], S[:, d]) )

with the cosine taken **over time, separately for each feature dimension d**; the batch loss is
the mean over utterances. Inputs are strictly ``[B, T, D]`` with identical shapes: the official
code stores teacher features as ``[B, 1, T, D]``, and its loss then compares a single frame and
broadcasts across the batch (fault 3 of the design notes), so a 4-D input is refused, never
broadcast. Different T is refused too: putting teacher features on codec frames is the
aligner's job (``length_mismatch="truncate"`` reproduces the official truncation for parity).

Which RVQ output is distilled is a spec string: ``"rvqK"`` (layer K, 1-based) or ``"rvqA:B"``
(the average of layers A..B), e.g. ``rvq1`` (LM-guided ♣), ``rvq1:8`` (SM in LM+SM ♠), ``rvq8``.

LM + SM (♠) combine as ``scale·(λ_SM·L_SM + λ_LM·L_LM)`` with λ_SM + λ_LM = 1. The paper's
eq. 3 and the official trainer (``(L_h + L_l)/2`` at λ = ½/½; ``λ_SM·L_SM + λ_LM·L_LM`` in its λ
sweep, so λ_LM = 1 is the LM-only ♣ loss) are ``scale=1.0``, the default. Eq. 11 read literally,
``½(λ_SM·L_SM + λ_LM·L_LM)`` (¼(L_SM + L_LM) at ½/½), is ``scale=0.5``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

_SPEC = re.compile(r"^rvq-?(\d+)(?::(\d+))?$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# the loss
# --------------------------------------------------------------------------------------------


def _check_pair(student: torch.Tensor, teacher: torch.Tensor) -> None:
    for name, t in (("student", student), ("teacher", teacher)):
        if t.dim() != 3:
            hint = (
                " A [B, 1, T, D] teacher is the official code's per-utterance storage layout; squeeze "
                "dim 1 to [B, T, D] (the official loss silently broadcasts it, see design notes §2.3)."
                if t.dim() == 4 and t.shape[1] == 1 else ""
            )
            raise ValueError(f"distillation expects {name} features [B, T, D], got {tuple(t.shape)}.{hint}")


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mask: torch.Tensor | None = None,
    eps: float = 1e-8,
    length_mismatch: Literal["error", "truncate"] = "error",
) -> torch.Tensor:
    """Eq. 1/2 for ``student``/``teacher`` ``[B, T, D]``; returns the batch mean (a scalar).

    ``mask`` ``[B, T]`` (bool or 0/1) marks the frames that take part in the cosine (True = keep),
    e.g. to exclude padding or silence. An utterance with no valid frame has no defined cosine;
    it is left out of the batch mean (and if no utterance has one, the loss is 0, still attached
    to the graph). ``eps`` bounds the norm product from below, as ``torch.cosine_similarity``.
    """
    _check_pair(student, teacher)
    if length_mismatch not in ("error", "truncate"):
        raise ValueError(f"length_mismatch must be 'error' or 'truncate', got {length_mismatch!r}")
    if student.shape[1] != teacher.shape[1] and length_mismatch == "truncate":
        n = min(student.shape[1], teacher.shape[1])
        student, teacher = student[:, :n], teacher[:, :n]
        mask = None if mask is None else mask[:, :n]
    if student.shape != teacher.shape:
        raise ValueError(
            f"distillation: student {tuple(student.shape)} and teacher {tuple(teacher.shape)} differ; "
            "both must be [B, T, D] on the same frames (align the teacher to the codec frames, and "
            "project the student to the teacher size)"
        )
    q, s = student.float(), teacher.float()
    if mask is not None:
        if mask.shape != student.shape[:2]:
            raise ValueError(f"distillation mask must be [B, T] = {tuple(student.shape[:2])}, got {tuple(mask.shape)}")
        m = mask.to(q.dtype).unsqueeze(-1)
        q, s = q * m, s * m
        valid = mask.to(torch.bool).any(dim=1)
    else:
        valid = torch.ones(q.shape[0], dtype=torch.bool, device=q.device)
    dot = (q * s).sum(dim=1)  # [B, D]: over time
    norms = q.norm(dim=1) * s.norm(dim=1)
    cos = dot / norms.clamp_min(eps)
    per_utt = -F.logsigmoid(cos).mean(dim=1)  # [B]
    if not bool(valid.any()):
        return per_utt.sum() * 0.0
    return per_utt[valid].mean()


class DistillationLoss(nn.Module):
    """Parameter-free eq. 1/2 on already projected features; see :func:`distillation_loss`."""

    def __init__(self, eps: float = 1e-8, length_mismatch: Literal["error", "truncate"] = "error") -> None:
        super().__init__()
        if length_mismatch not in ("error", "truncate"):
            raise ValueError(f"length_mismatch must be 'error' or 'truncate', got {length_mismatch!r}")
        self.eps, self.length_mismatch = float(eps), length_mismatch

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return distillation_loss(student, teacher, mask, self.eps, self.length_mismatch)


# --------------------------------------------------------------------------------------------
# which RVQ output, projected how
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RVQTarget:
    """Layers ``first..last`` (1-based, inclusive) whose outputs are averaged."""

    first: int
    last: int

    @classmethod
    def parse(cls, spec: str) -> "RVQTarget":
        m = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
        if m is None:
            raise ValueError(
                f"invalid RVQ target {spec!r}: use 'rvqK' (layer K, 1-based, e.g. 'rvq1', 'rvq8') "
                "or 'rvqA:B' (average of layers A..B, e.g. 'rvq1:8')"
            )
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if first < 1 or last < first:
            raise ValueError(f"invalid RVQ target {spec!r}: need 1 <= A <= B in 'rvqA:B'")
        return cls(first, last)

    def __str__(self) -> str:
        return f"rvq{self.first}" if self.first == self.last else f"rvq{self.first}:{self.last}"


def select_rvq_target(layer_outputs: Sequence[torch.Tensor], spec: str | RVQTarget) -> torch.Tensor:
    """The distilled student before projection: one RVQ layer's output or the mean of a range.

    ``layer_outputs[k]`` is layer k+1's quantized output ``[B, D, T]`` (as in ``QuantizerOutput``);
    the result has the same layout.
    """
    target = spec if isinstance(spec, RVQTarget) else RVQTarget.parse(spec)
    if target.last > len(layer_outputs):
        raise ValueError(
            f"RVQ target {target} needs {target.last} layer outputs but the quantizer returned "
            f"{len(layer_outputs)} (is n_q lower than the target layer?)"
        )
    chosen = list(layer_outputs[target.first - 1 : target.last])
    return chosen[0] if len(chosen) == 1 else torch.stack(chosen).mean(dim=0)


class DistillationProjection(nn.Module):
    """W of eq. 1: ``nn.Linear(student_dim, teacher_dim)`` applied per frame, ``[B, T, Ds] -> [B, T, Dt]``.

    (The official generator calls this layer ``transform``; its ``weight``/``bias`` map one to one.)
    """

    def __init__(self, student_dim: int = 1024, teacher_dim: int = 768, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(student_dim, teacher_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.linear.in_features:
            raise ValueError(
                f"projection expects [B, T, {self.linear.in_features}], got {tuple(x.shape)} "
                "(quantizer outputs are [B, D, T]: transpose them first)"
            )
        return self.linear(x)


class TeacherDistillation(nn.Module):
    """One teacher: select the RVQ target, project it with W, apply eq. 1/2.

    ``forward(layer_outputs, teacher[B,T,Dt], mask=None)``; the projection's parameters belong to
    the generator's optimiser.
    """

    def __init__(
        self,
        student_dim: int = 1024,
        teacher_dim: int = 768,
        target: str = "rvq1",
        eps: float = 1e-8,
        length_mismatch: Literal["error", "truncate"] = "error",
    ) -> None:
        super().__init__()
        self.target = RVQTarget.parse(target)
        self.projection = DistillationProjection(student_dim, teacher_dim)
        self.loss = DistillationLoss(eps, length_mismatch)

    def student(self, layer_outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Projected student features ``[B, T, Dt]``."""
        return self.projection(select_rvq_target(layer_outputs, self.target).transpose(1, 2))

    def forward(
        self, layer_outputs: Sequence[torch.Tensor], teacher: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.loss(self.student(layer_outputs), teacher, mask)


# --------------------------------------------------------------------------------------------
# LM + SM (eq. 3 / 11)
# --------------------------------------------------------------------------------------------


def check_lambdas(lambda_sm: float, lambda_lm: float) -> None:
    if lambda_sm < 0 or lambda_lm < 0 or not math.isclose(lambda_sm + lambda_lm, 1.0, abs_tol=1e-6):
        raise ValueError(
            f"lambda_sm ({lambda_sm}) and lambda_lm ({lambda_lm}) must be >= 0 and sum to 1 (eq. 3)"
        )


def combine_lm_sm(
    loss_sm: torch.Tensor, loss_lm: torch.Tensor, lambda_sm: float = 0.5, lambda_lm: float = 0.5, scale: float = 1.0
) -> torch.Tensor:
    """``L_LS = scale · (λ_SM·L_SM + λ_LM·L_LM)`` with λ_SM + λ_LM = 1.

    ``scale=1.0`` (default): eq. 3 and the official trainer, ½(L_SM + L_LM) at λ = ½/½.
    ``scale=0.5``: eq. 11 read literally, ½(λ_SM·L_SM + λ_LM·L_LM).
    """
    check_lambdas(lambda_sm, lambda_lm)
    return scale * (lambda_sm * loss_sm + lambda_lm * loss_lm)


class LMSMDistillation(nn.Module):
    """LM- and SM-guided distillation (DM-Codec ♠): LM on ``lm_target``, SM on ``sm_target``.

    ``forward(layer_outputs, lm_features, sm_features, lm_mask=None, sm_mask=None)`` returns
    ``(L_LS, {"lm": L_LM, "sm": L_SM})``. With ``share_projection`` (the paper's single W, and the
    official ``transform``) both teachers must have the same size; set it False for teachers of
    different sizes (e.g. a 384-d LM stand-in next to a 768-d HuBERT), giving each its own W.
    ``lambda_lm`` defaults to ``1 − lambda_sm``; ``L_LS = scale·(λ_SM·L_SM + λ_LM·L_LM)``
    (``scale=1.0``: eq. 3 / official; ``0.5``: eq. 11 read literally), see :func:`combine_lm_sm`.
    """

    def __init__(
        self,
        student_dim: int = 1024,
        lm_dim: int = 768,
        sm_dim: int = 768,
        lm_target: str = "rvq1",
        sm_target: str = "rvq1:8",
        lambda_sm: float = 0.5,
        lambda_lm: float | None = None,
        scale: float = 1.0,
        share_projection: bool = True,
        eps: float = 1e-8,
        length_mismatch: Literal["error", "truncate"] = "error",
    ) -> None:
        super().__init__()
        lambda_lm = 1.0 - lambda_sm if lambda_lm is None else lambda_lm
        check_lambdas(lambda_sm, lambda_lm)
        self.lambda_sm, self.lambda_lm, self.scale = float(lambda_sm), float(lambda_lm), float(scale)
        self.lm_target, self.sm_target = RVQTarget.parse(lm_target), RVQTarget.parse(sm_target)
        if share_projection and lm_dim != sm_dim:
            raise ValueError(
                f"share_projection=True needs equal teacher sizes, got lm_dim={lm_dim} and sm_dim={sm_dim}; "
                "set share_projection: false to give each teacher its own projection"
            )
        self.share_projection = bool(share_projection)
        if self.share_projection:
            self.projections = nn.ModuleDict({"shared": DistillationProjection(student_dim, lm_dim)})
        else:
            self.projections = nn.ModuleDict({
                "lm": DistillationProjection(student_dim, lm_dim),
                "sm": DistillationProjection(student_dim, sm_dim),
            })
        self.loss = DistillationLoss(eps, length_mismatch)

    def projection(self, teacher: Literal["lm", "sm"]) -> DistillationProjection:
        return self.projections["shared" if self.share_projection else teacher]

    def forward(
        self,
        layer_outputs: Sequence[torch.Tensor],
        lm_features: torch.Tensor,
        sm_features: torch.Tensor,
        lm_mask: torch.Tensor | None = None,
        sm_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        lm_student = self.projection("lm")(select_rvq_target(layer_outputs, self.lm_target).transpose(1, 2))
        sm_student = self.projection("sm")(select_rvq_target(layer_outputs, self.sm_target).transpose(1, 2))
        loss_lm = self.loss(lm_student, lm_features, lm_mask)
        loss_sm = self.loss(sm_student, sm_features, sm_mask)
        total = combine_lm_sm(loss_sm, loss_lm, self.lambda_sm, self.lambda_lm, self.scale)
        return total, {"lm": loss_lm, "sm": loss_sm}


def register_losses(register) -> None:
    register("distillation", TeacherDistillation)
    register("lm_sm_distillation", LMSMDistillation)
    register("distillation_cosine", DistillationLoss)
