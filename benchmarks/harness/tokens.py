"""Token statistics: how a tokenizer uses its codebooks over an evaluation set.

Nominal bitrate (frames/s x codebooks x log2 K) is what a code stream costs uncompressed; a
codebook whose codes are unevenly used carries fewer bits. Per codebook, over all frames of all
utterances: utilisation (distinct codes used / K), entropy H of the code histogram (bits) and
perplexity 2^H. The sum of the entropies times the frame rate is the *ideal entropy-coded*
bitrate (a unigram code per level; it ignores dependence between frames and levels, so it is an
upper bound on what an entropy coder of that kind reaches). Tokens per second = frame rate x Q.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch


def histogram_entropy_bits(counts: torch.Tensor) -> float:
    """Shannon entropy (bits) of a histogram of non-negative counts; 0 for an empty one."""
    c = counts.double()
    total = float(c.sum())
    if total <= 0:
        return 0.0
    p = c[c > 0] / total
    return float(-(p * torch.log2(p)).sum())


@dataclass
class TokenCounter:
    """Accumulates per-codebook code histograms over batches of codes ``[B, Q, T]``."""

    codebook_sizes: Sequence[int]
    frame_rate: float
    counts: list[torch.Tensor] = field(default_factory=list)
    frames: int = 0

    def __post_init__(self) -> None:
        if not self.codebook_sizes:
            raise ValueError("token statistics need at least one codebook")
        self.counts = [torch.zeros(int(k), dtype=torch.long) for k in self.codebook_sizes]

    def add(self, codes: torch.Tensor) -> None:
        """Count the codes of one batch; ``Q`` may be below the number of codebooks (the rest stay empty)."""
        if codes.dim() != 3 or codes.shape[1] > len(self.counts):
            raise ValueError(f"codes must be [B, Q <= {len(self.counts)}, T], got {tuple(codes.shape)}")
        codes = codes.detach().to("cpu", torch.long)
        for q in range(codes.shape[1]):
            row = codes[:, q].reshape(-1)
            k = self.counts[q].numel()
            if row.numel() and (int(row.min()) < 0 or int(row.max()) >= k):
                raise ValueError(f"codebook {q}: codes outside [0, {k})")
            self.counts[q] += torch.bincount(row, minlength=k)
        self.frames += int(codes.shape[0] * codes.shape[2])

    def result(self, nominal_bitrate: float | None = None) -> dict[str, Any]:
        """The statistics as a JSON-ready mapping (see the module docstring for the definitions)."""
        used_levels = [c for c in self.counts if int(c.sum()) > 0]
        per = []
        for q, c in enumerate(self.counts):
            if int(c.sum()) == 0:
                continue
            h = histogram_entropy_bits(c)
            per.append({"codebook": q, "size": int(c.numel()), "utilisation": int((c > 0).sum()) / c.numel(),
                        "entropy_bits": h, "perplexity": 2.0 ** h, "max_entropy_bits": math.log2(c.numel())})
        entropy_sum = sum(p["entropy_bits"] for p in per)
        return {
            "frames": self.frames,
            "frame_rate": float(self.frame_rate),
            "num_codebooks": len(used_levels),
            "tokens_per_second": float(self.frame_rate) * len(used_levels),
            "nominal_bitrate": nominal_bitrate,
            "entropy_bitrate": entropy_sum * float(self.frame_rate),
            "mean_utilisation": sum(p["utilisation"] for p in per) / len(per) if per else None,
            "codebooks": per,
        }


def token_statistics(tokenizer: Any, wavs: Iterable[torch.Tensor], n_q: int | None = None) -> dict[str, Any]:
    """Encode each ``wav [1, 1, N]`` (or ``[N]``) and return :meth:`TokenCounter.result` for it.

    ``n_q`` None means every codebook; the nominal bitrate is the tokenizer's ``bitrate_at(n_q)``.
    """
    n = tokenizer.check_n_q(n_q)
    sizes = list(tokenizer.codebook_sizes)[:n]
    counter = TokenCounter(sizes, float(tokenizer.frame_rate))
    with torch.no_grad():
        for wav in wavs:
            x = torch.as_tensor(wav, dtype=torch.float32)
            x = x.reshape(1, 1, -1) if x.dim() < 3 else x
            counter.add(tokenizer.encode(x, n_q=n))
    return counter.result(nominal_bitrate=float(tokenizer.bitrate_at(n)))


def stats_markdown(rows: dict[str, dict[str, Any] | str]) -> str:
    """A results.md table: one row per system (a string value is its 'not applicable' reason)."""
    lines = ["| system | Q | tokens/s | nominal bit/s | entropy-coded bit/s | utilisation per codebook | "
             "entropy bits per codebook | perplexity per codebook |",
             "|---|---:|---:|---:|---:|---|---|---|"]
    for label, st in rows.items():
        if isinstance(st, str):
            lines.append(f"| {label} | – | – | – | – | {st} | | |")
            continue
        cbs = st["codebooks"]
        util = " / ".join(f"{c['utilisation']:.3f}" for c in cbs)
        ent = " / ".join(f"{c['entropy_bits']:.2f}" for c in cbs)
        ppl = " / ".join(f"{c['perplexity']:.1f}" for c in cbs)
        nominal = "–" if st["nominal_bitrate"] is None else f"{st['nominal_bitrate']:.0f}"
        lines.append(f"| {label} | {st['num_codebooks']} | {st['tokens_per_second']:.0f} | {nominal} | "
                     f"{st['entropy_bitrate']:.0f} | {util} | {ent} | {ppl} |")
    return "\n".join(lines) + "\n"
