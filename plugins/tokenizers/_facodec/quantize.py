"""FACodec's factorised vector quantiser (FVQ) and its residual stack.

Facts that differ from EnCodec/SpeechTokenizer RVQs (and matter for reproducing the codes):

* the input is projected to a small ``codebook_dim`` (8) by a weight-normed ``Linear``;
* the code is chosen by the smallest L2 distance between the **L2-normalised** projection and
  the **L2-normalised** codebook rows (i.e. the largest cosine similarity);
* the dequantised vector is ``out_proj`` of the **raw** (unnormalised) codebook row;
* codebooks are plain ``Embedding`` weights trained by a codebook + commitment loss: no EMA,
  no k-means, no dead-code replacement, no buffers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tokenizer_bench.plugins.layers import WNLinear


class FactorizedVQ(nn.Module):
    """One FVQ layer; ``codebook_size`` here is the number of entries (not its log2)."""

    def __init__(self, dim: int, codebook_size: int, codebook_dim: int, commitment: float = 0.005) -> None:
        super().__init__()
        if dim == codebook_dim:
            raise ValueError(
                "FACodec's FVQ needs codebook_dim != dim (the published layout always has in/out projections)"
            )
        self.codebook_size = codebook_size
        self.codebook_dim = codebook_dim
        self.commitment = commitment
        self.in_proj = WNLinear(dim, codebook_dim)
        self.out_proj = WNLinear(codebook_dim, dim)
        self._codebook = nn.Embedding(codebook_size, codebook_dim)

    @property
    def codebook(self) -> torch.Tensor:
        return self._codebook.weight

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """``z [B, D, T]`` -> low-dimensional latents ``[B, T, d]``."""
        return self.in_proj(z.transpose(1, 2))

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, T]`` for latents ``[B, T, d]``: argmin ||n(z_e) - n(c_k)||^2, n = L2 normalise."""
        enc = F.normalize(z_e.reshape(-1, z_e.shape[-1]), dim=1)
        cb = F.normalize(self.codebook, dim=1)
        dist = enc.pow(2).sum(1, keepdim=True) - 2 * enc @ cb.t() + cb.pow(2).sum(1, keepdim=True).t()
        return (-dist).max(dim=1).indices.view(z_e.shape[0], z_e.shape[1])

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z [B, D, T]`` -> (quantised ``[B, D, T]``, codes ``[B, T]``, loss ``[B]``).

        The loss is codebook + ``commitment`` x commitment MSE per item in training, zeros in
        eval. Gradients reach ``z`` through the straight-through estimator.
        """
        z_e = self.project(z)
        codes = self.nearest(z_e)
        z_q = F.embedding(codes, self.codebook)
        if self.training:
            commit = F.mse_loss(z_e, z_q.detach(), reduction="none").mean([1, 2]) * self.commitment
            book = F.mse_loss(z_q, z_e.detach(), reduction="none").mean([1, 2])
            loss = commit + book
        else:
            loss = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
        z_q = z_e + (z_q - z_e).detach()
        return self.out_proj(z_q).transpose(1, 2), codes, loss

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, T]`` -> ``out_proj(codebook[codes])`` as ``[B, D, T]``."""
        return self.out_proj(F.embedding(codes, self.codebook)).transpose(1, 2)


class ResidualFVQ(nn.Module):
    """A stack of FVQ layers, each quantising what the previous ones left (``layers.i``).

    ``codebook_size_log2`` follows the official argument: 10 means 1024 entries.
    ``quantizer_dropout`` (fraction of the batch) and ``dropout_type`` act in training only.
    """

    def __init__(self, num_quantizers: int, dim: int, codebook_size_log2: int, codebook_dim: int,
                 commitment: float = 0.005, quantizer_dropout: float = 0.0,
                 dropout_type: str = "linear") -> None:
        super().__init__()
        if num_quantizers < 1:
            raise ValueError(f"num_quantizers must be >= 1, got {num_quantizers}")
        if dropout_type not in ("linear", "exp"):
            raise ValueError(f"dropout_type must be 'linear' or 'exp', got {dropout_type!r}")
        self.num_quantizers = num_quantizers
        self.quantizer_dropout = quantizer_dropout
        self.dropout_type = dropout_type
        self.layers = nn.ModuleList(
            [FactorizedVQ(dim, 2**codebook_size_log2, codebook_dim, commitment) for _ in range(num_quantizers)]
        )

    def _training_depths(self, batch: int, device: torch.device) -> torch.Tensor:
        depths = torch.full((batch,), self.num_quantizers + 1, dtype=torch.long)
        n_drop = int(batch * self.quantizer_dropout)
        if n_drop > 0:
            if self.dropout_type == "linear":
                drop = torch.randint(1, self.num_quantizers + 1, (batch,))
            else:
                drop = 2 ** torch.randint(1, max(2, int(math.log2(self.num_quantizers))), (batch,))
            depths[:n_drop] = drop[:n_drop]
        return depths.to(device)

    def forward(self, x: torch.Tensor, n_quantizers: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [B, D, T]`` -> (sum ``[B, D, T]``, codes ``[L, B, T]``, losses ``[L]``, per-layer ``[L, B, D, T]``)."""
        n = self.num_quantizers if n_quantizers is None else int(n_quantizers)
        depths = self._training_depths(x.shape[0], x.device) if self.training else None
        residual = x
        total = torch.zeros_like(x)
        codes, losses, quantized = [], [], []
        for i, layer in enumerate(self.layers):
            if depths is None and i >= n:
                break
            q, idx, loss = layer(residual)
            residual = residual - q
            if depths is None:
                total = total + q
                losses.append(loss.mean())
            else:
                keep = (i < depths).to(q.dtype)
                total = total + q * keep[:, None, None]
                losses.append((loss * keep).mean())
            codes.append(idx)
            quantized.append(q)
        return total, torch.stack(codes), torch.stack(losses), torch.stack(quantized)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[L', B, T]`` (``L' <= L``, layers in order) -> summed ``[B, D, T]``."""
        if codes.shape[0] > self.num_quantizers:
            raise ValueError(f"got {codes.shape[0]} code streams for {self.num_quantizers} layers")
        out = self.layers[0].decode(codes[0])
        for i in range(1, codes.shape[0]):
            out = out + self.layers[i].decode(codes[i])
        return out
