"""Eq. 9: the quantizer's commitment loss as a listed loss term.

The quantizer computes it in its forward (it knows the residuals); this term reads it from the
:class:`~tokenizer_bench.core.interfaces.QuantizerOutput`, so the commitment weight is set like
every other term's (``losses.commitment.weight``) and the term can be left out.
"""

from __future__ import annotations

import torch
from torch import nn

from tokenizer_bench.core.interfaces import QUANTIZER, QuantizerOutput


class CommitmentLoss(nn.Module):
    """``forward(qout) -> qout.commit_loss`` in float32."""

    inputs = QUANTIZER

    def forward(self, qout: QuantizerOutput) -> torch.Tensor:
        return qout.commit_loss.float()


def register_losses(register) -> None:
    register("commitment", CommitmentLoss)
