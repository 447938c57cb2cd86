"""DM-Codec's representation distillation (eq. 1/2), its LM+SM combination (eq. 3/11) and target selection.

For a student sequence Q' ∈ R^{T×D} (the RVQ output mapped to the teacher size by a learned
linear W) and a teacher sequence S ∈ R^{T×D} of one utterance:

    L = −(1/D) Σ_d log σ( cos(Q'[:, d], S[:, d]) )

with the cosine taken **over time, separately for each feature dimension d**; the batch loss is
the mean over utterances. Inputs are strictly ``[B, T, D]`` with identical shapes: the official
code stores teacher features as ``[B, 1, T, D]``, and its loss then compares a single frame and
broadcasts across the batch, so a 4-D input is refused, never
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
from typing import Literal, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tokenizer_bench.core.interfaces import TEACHER_FEATURES, QuantizerOutput

_SPEC = re.compile(r"^rvq-?(\d+)(?::(\d+))?$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# the loss
# --------------------------------------------------------------------------------------------


def _check_pair(student: torch.Tensor, teacher: torch.Tensor) -> None:
    for name, t in (("student", student), ("teacher", teacher)):
        if t.dim() != 3:
            hint = (
                " A [B, 1, T, D] teacher is the official code's per-utterance storage layout; squeeze "
                "dim 1 to [B, T, D] (the official loss silently broadcasts it over the batch)."
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
    # the mean over valid utterances as a masked sum (boolean indexing would sync with the device)
    w = valid.to(per_utt.dtype)
    return torch.where(valid, per_utt, torch.zeros_like(per_utt)).sum() / w.sum().clamp_min(1.0)


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


class Distillation(nn.Module):
    """The distillation term of ``losses``: LM- and/or SM-guided (eq. 1-3, 11), one W per teacher or shared.

    ``lm`` / ``sm``: ``{target: <RVQ spec>}`` of each teacher used, or None (SM-only: ``lm: None``).
    With both teachers the loss is ``scale·(λ_SM·L_SM + λ_LM·L_LM)`` with λ_SM + λ_LM = 1
    (:func:`combine_lm_sm`; ``scale=1.0`` is eq. 3 and the official trainer, ``0.5`` eq. 11 read
    literally); ``share_projection`` gives both one W (the paper, and the official ``transform``;
    None: share when the teachers have the same size). With one teacher the loss is that
    teacher's L (eq. 1) itself: ``scale`` and the λs are not applied. ``mask_silence`` leaves
    the frames between words out of the LM loss (the aligner's mask); otherwise every frame that
    holds audio counts.

    ``student_dim`` (the quantizer dimension) and ``teacher_dims`` (``{role: D}`` of the cached
    features) come from the recipe. ``forward(qout, features)`` returns ``(L, {"distill_<role>":
    L_role})`` (the ``teacher_features`` inputs of core/interfaces.py).
    """

    inputs = TEACHER_FEATURES

    def __init__(
        self,
        student_dim: int | None = None,
        teacher_dims: Mapping[str, int] | None = None,
        lm: Mapping[str, str] | None = None,
        sm: Mapping[str, str] | None = None,
        lambda_lm: float = 0.5,
        lambda_sm: float = 0.5,
        scale: float = 1.0,
        share_projection: bool | None = None,
        mask_silence: bool = False,
        eps: float = 1e-8,
        length_mismatch: Literal["error", "truncate"] = "error",
    ) -> None:
        super().__init__()
        self.targets = _targets(lm, sm, lambda_lm, lambda_sm, scale)
        if student_dim is None or teacher_dims is None:
            raise ValueError("distillation: student_dim and teacher_dims are set by the recipe (sizes of the "
                             "quantizer and of the cached teacher features)")
        missing = [r for r in self.targets if r not in teacher_dims]
        if missing:
            raise ValueError(
                f"distillation: no feature size for teacher(s) {', '.join(missing)} (got {dict(teacher_dims)})")
        self.lambda_sm, self.lambda_lm, self.scale = float(lambda_sm), float(lambda_lm), float(scale)
        self.mask_silence = bool(mask_silence)
        if len(self.targets) == 2:
            dims = {r: int(teacher_dims[r]) for r in ("lm", "sm")}
            share = dims["lm"] == dims["sm"] if share_projection is None else bool(share_projection)
            if share and dims["lm"] != dims["sm"]:
                raise ValueError(
                    f"share_projection=True needs equal teacher sizes, got lm={dims['lm']} and sm={dims['sm']}; "
                    "set share_projection: false to give each teacher its own projection"
                )
            self.share_projection = share
            self.projections = nn.ModuleDict(
                {"shared": DistillationProjection(int(student_dim), dims["lm"])} if share else
                {r: DistillationProjection(int(student_dim), dims[r]) for r in ("lm", "sm")}
            )
        else:
            (role,) = self.targets
            self.share_projection = False
            self.projection = DistillationProjection(int(student_dim), int(teacher_dims[role]))
        self.loss = DistillationLoss(eps, length_mismatch)

    @classmethod
    def roles(cls, lm: Mapping[str, str] | None = None, sm: Mapping[str, str] | None = None,
              lambda_lm: float = 0.5, lambda_sm: float = 0.5, scale: float = 1.0, **_: object) -> tuple[str, ...]:
        """The teacher roles these arguments use (config-time check; ValueError on bad arguments)."""
        return tuple(_targets(lm, sm, lambda_lm, lambda_sm, scale))

    def projection_for(self, role: str) -> DistillationProjection:
        """W of one teacher (the shared one when both use one)."""
        if len(self.targets) == 1:
            return self.projection
        return self.projections["shared" if self.share_projection else role]

    def student(self, layer_outputs: Sequence[torch.Tensor], role: str) -> torch.Tensor:
        """Projected student features ``[B, T, Dt]`` of one teacher's RVQ target."""
        return self.projection_for(role)(select_rvq_target(layer_outputs, self.targets[role]).transpose(1, 2))

    def mask(self, features: Mapping[str, torch.Tensor], role: str) -> torch.Tensor | None:
        if role == "lm" and not self.mask_silence:
            return features.get("frame_mask")
        return features.get(f"{role}_mask")

    def forward(
        self, qout: QuantizerOutput, features: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not qout.layer_outputs:
            raise RuntimeError(
                "the quantizer returned no per-layer outputs (QuantizerOutput.layer_outputs); distillation needs them"
            )
        if len(self.targets) == 1:
            (role,) = self.targets
            total = self.loss(self.student(qout.layer_outputs, role), features[role], self.mask(features, role))
            return total, {f"distill_{role}": total}
        lm_student = self.student(qout.layer_outputs, "lm")
        sm_student = self.student(qout.layer_outputs, "sm")
        loss_lm = self.loss(lm_student, features["lm"], self.mask(features, "lm"))
        loss_sm = self.loss(sm_student, features["sm"], self.mask(features, "sm"))
        total = combine_lm_sm(loss_sm, loss_lm, self.lambda_sm, self.lambda_lm, self.scale)
        return total, {"distill_lm": loss_lm, "distill_sm": loss_sm}


def _targets(lm: Mapping[str, str] | None, sm: Mapping[str, str] | None,
             lambda_lm: float, lambda_sm: float, scale: float) -> dict[str, RVQTarget]:
    """``{role: RVQ target}`` of the teachers used; checks the λs when both are."""
    targets: dict[str, RVQTarget] = {}
    for role, spec in (("lm", lm), ("sm", sm)):
        if spec is None:
            continue
        if not isinstance(spec, Mapping) or set(spec) - {"target"}:
            raise ValueError(f"distillation.{role} must be {{target: <rvq spec>}} or null, got {spec!r}")
        targets[role] = RVQTarget.parse(spec.get("target", "rvq1"))
    if not targets:
        raise ValueError("distillation: set lm and/or sm ({target: ...}); to train without distillation drop the "
                         "term (losses.distillation: null)")
    if len(targets) == 2:
        check_lambdas(lambda_sm, lambda_lm)
    if scale < 0:
        raise ValueError(f"distillation.scale must be >= 0, got {scale}")
    return targets


def register_losses(register) -> None:
    register("distillation", Distillation)
    register("distillation_cosine", DistillationLoss)
