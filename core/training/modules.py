"""The trainable halves of the GAN, each one ``nn.Module`` so DDP wraps it whole.

* :class:`GeneratorWithDistillation` — the tokenizer's generator plus the distillation loss
  module that owns the projections W (eq. 1). Its ``forward`` runs the generator *and* the
  distillation losses, so every generator-side parameter is used inside one DDP forward (the
  projections are trained with the generator and travel in its checkpoints).
* :class:`DiscriminatorSet` — the configured discriminators (MPD, MSD, MS-STFT, ...) under
  their config names; ``forward`` returns the flat lists of logits and feature maps over all
  sub-discriminators, as the adversarial and feature-matching losses expect.

Core knows only interfaces here: the generator is whatever the tokenizer factory built (its
``generator`` attribute: ``forward(wav) -> (wav_hat, QuantizerOutput)`` with ``layer_outputs``),
the distillation module is whatever the ``losses`` registry built from the config.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..interfaces import QuantizerOutput


class GeneratorWithDistillation(nn.Module):
    """``forward(wav, features)`` -> ``(wav_hat, qout, distill_total | None, distill_terms)``.

    ``distill_mode``: ``"lm_sm"`` (module called with both teachers, returns ``(total, terms)``),
    ``"lm"`` / ``"sm"`` (one teacher: ``module(layer_outputs, teacher, mask)``) or None.
    """

    def __init__(self, generator: nn.Module, distillation: nn.Module | None, distill_mode: str | None) -> None:
        super().__init__()
        self.generator = generator
        self.distillation = distillation
        self.distill_mode = distill_mode

    def forward(
        self, wav: torch.Tensor, features: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, QuantizerOutput, torch.Tensor | None, dict[str, torch.Tensor]]:
        wav_hat, qout = self.generator(wav)
        terms: dict[str, torch.Tensor] = {}
        total = None
        if self.distillation is not None and self.distill_mode is not None:
            f = features or {}
            if not qout.layer_outputs:
                raise RuntimeError(
                    "the quantizer returned no per-layer outputs (QuantizerOutput.layer_outputs); "
                    "distillation needs them"
                )
            if self.distill_mode == "lm_sm":
                total, parts = self.distillation(
                    qout.layer_outputs, f["lm"], f["sm"], f.get("lm_mask"), f.get("sm_mask")
                )
                terms = {f"distill_{k}": v for k, v in parts.items()}
            else:
                key = self.distill_mode
                total = self.distillation(qout.layer_outputs, f[key], f.get(f"{key}_mask"))
                terms = {f"distill_{key}": total}
        return wav_hat, qout, total, terms


class DiscriminatorSet(nn.Module):
    """Named discriminators; ``forward(wav)`` -> ``(logits, fmaps)`` flat over all sub-discriminators.

    ``run(names, wav)`` runs only some of them, so the trainer can hold one discriminator's
    activations at a time; ``output_counts`` says how many logits and feature maps each returns,
    which the per-discriminator losses need to add up to the loss over all of them.
    """

    def __init__(self, discriminators: dict[str, nn.Module]) -> None:
        super().__init__()
        self.discriminators = nn.ModuleDict(discriminators)
        self._counts: dict[str, tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.discriminators)

    def names(self) -> list[str]:
        return list(self.discriminators.keys())

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        return self.run(self.names(), wav)

    def run(
        self, names: list[str], wav: torch.Tensor, modules: dict[str, Any] | None = None
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Outputs of the named discriminators, flat; ``modules`` may map names to compiled versions."""
        logits: list[torch.Tensor] = []
        fmaps: list[list[torch.Tensor]] = []
        for name in names:
            out: Any = (modules or self.discriminators)[name](wav)
            try:
                lg, fm = out
            except (TypeError, ValueError):
                raise TypeError(
                    f"discriminator {name!r} must return (logits list, feature-map lists), got {type(out).__name__}"
                ) from None
            if isinstance(lg, torch.Tensor):  # a single (non multi-) discriminator
                lg, fm = [lg], [fm]
            if self._counts is not None and name in self._counts:
                n_logits, n_fmaps = len(lg), sum(len(f) for f in fm)
                if (n_logits, n_fmaps) != self._counts[name]:
                    raise RuntimeError(
                        f"discriminator {name!r} returned {n_logits} logits / {n_fmaps} feature maps, but "
                        f"{self._counts[name][0]} / {self._counts[name][1]} on the first input: the per-discriminator "
                        "losses need a fixed number of outputs (set trainer.discriminator_passes: together)"
                    )
            logits.extend(lg)
            fmaps.extend(fm)
        return logits, fmaps

    @torch.no_grad()
    def output_counts(self, wav: torch.Tensor) -> dict[str, tuple[int, int]]:
        """``{name: (logits, feature maps)}``, from one eval-mode pass over ``wav`` (no state changes:
        spectral norm does no power iteration in eval mode). Computed once, then checked per pass."""
        if self._counts is None:
            counts: dict[str, tuple[int, int]] = {}
            for name, disc in self.discriminators.items():
                was_training = disc.training
                disc.eval()
                try:
                    lg, fm = self.run([name], wav)
                finally:
                    disc.train(was_training)
                counts[name] = (len(lg), sum(len(f) for f in fm))
            self._counts = counts
        return dict(self._counts)


def split_real_fake(
    logits: list[torch.Tensor], fmaps: list[list[torch.Tensor]], n_real: int
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Outputs of one discriminator pass over ``cat([real, fake])`` split back into the two halves."""
    real_l = [x[:n_real] for x in logits]
    fake_l = [x[n_real:] for x in logits]
    real_f = [[x[:n_real] for x in fm] for fm in fmaps]
    fake_f = [[x[n_real:] for x in fm] for fm in fmaps]
    return real_l, fake_l, real_f, fake_f
