"""The GAN machinery of the ``dm_codec_gan`` recipe: a named set of discriminators and their
per-discriminator gradient passes (a recipe module: core trains no discriminator itself).

Only interfaces here (``core.interfaces``): a discriminator maps ``wav -> (logits, feature-map
lists)``; an adversarial loss declares ``inputs = "discriminator_logits"`` and has
``generator_loss`` / ``discriminator_loss``; a feature-matching loss declares
``inputs = "discriminator_features"``. Recipes call these functions; tests call them directly.

Memory: with one group per discriminator (``trainer.discriminator_passes: each``) both passes go
one discriminator at a time, each back-propagated before the next runs, so only one
discriminator's activations live next to the generator's. The GAN losses are sums over
sub-discriminators (a mean is a sum over a known count, passed as ``num_terms``), so the
gradients are those of one joint pass. In the generator pass each group back-propagates into a
detached copy of ``wav_hat``; the summed gradient then enters the generator's single backward as
``(wav_hat * grad).sum()``. The discriminators are not DDP-wrapped: on the micro-batch that steps,
:class:`GradientMean` starts an asynchronous all-reduce of each group's gradients right after that
group's backward (so it overlaps the next group's forward and backward, as DDP's buckets would) and
waits for them all before the optimiser step; :func:`average_gradients` is the blocking one-call form.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from tokenizer_bench.core.interfaces import DISCRIMINATOR_FEATURES, DISCRIMINATOR_LOGITS

Phase = Callable[[str], contextlib.AbstractContextManager]


def no_phase(name: str) -> contextlib.AbstractContextManager:
    """The default profiling hook: times nothing."""
    return contextlib.nullcontext()


class DiscriminatorSet(nn.Module):
    """Named discriminators; ``forward(wav)`` -> ``(logits, fmaps)`` flat over all sub-discriminators.

    ``run(names, wav)`` runs only some of them, so a recipe can hold one discriminator's
    activations at a time; ``output_counts`` says how many logits and feature maps each returns,
    which the per-discriminator losses need to add up to the loss over all of them.
    """

    def __init__(self, discriminators: dict[str, nn.Module]) -> None:
        super().__init__()
        self.discriminators = nn.ModuleDict(discriminators)
        self._counts: dict[str, tuple[int, int]] | None = None

    @classmethod
    def build(cls, components: Sequence[Any]) -> "DiscriminatorSet | None":
        """From config components (``.name`` + ``.build(kind)``); a repeated name gets ``_2``, ``_3``..."""
        if not components:
            return None
        named: dict[str, nn.Module] = {}
        for comp in components:
            name, k = comp.name, 2
            while name in named:
                name, k = f"{comp.name}_{k}", k + 1
            named[name] = comp.build("discriminators")
        return cls(named)

    def __len__(self) -> int:
        return len(self.discriminators)

    def names(self) -> list[str]:
        return list(self.discriminators.keys())

    def groups(self, together: bool) -> list[list[str]]:
        """One group of all discriminators, or one group per discriminator."""
        names = self.names()
        return [names] if together else [[n] for n in names]

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        return self.run(self.names(), wav)

    def run(
        self, names: list[str], wav: torch.Tensor, modules: dict[str, Any] | None = None
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Outputs of the named discriminators, flat; ``modules`` may map names to compiled versions."""
        logits: list[torch.Tensor] = []
        fmaps: list[list[torch.Tensor]] = []
        if modules is not None:  # compiled: one graph for every batch size
            torch._dynamo.maybe_mark_dynamic(wav, 0)
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

    def num_terms(self, groups: list[list[str]], wav: torch.Tensor) -> tuple[int | None, int | None]:
        """Logits and feature maps of the whole pass when it runs in several groups (None: one group,
        the losses see every output at once)."""
        if len(groups) == 1:
            return None, None
        counts = self.output_counts(wav[:1])
        return sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())


def split_real_fake(
    logits: list[torch.Tensor], fmaps: list[list[torch.Tensor]], n_real: int
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Outputs of one discriminator pass over ``cat([real, fake])`` split back into the two halves."""
    real_l = [x[:n_real] for x in logits]
    fake_l = [x[n_real:] for x in logits]
    real_f = [[x[:n_real] for x in fm] for fm in fmaps]
    fake_f = [[x[n_real:] for x in fm] for fm in fmaps]
    return real_l, fake_l, real_f, fake_f


@dataclass(frozen=True)
class GanTerm:
    """A weighted generator loss term computed from discriminator outputs."""

    name: str
    loss: Any  # inputs: discriminator_logits or discriminator_features
    weight: float


def _maybe(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments that are not None (losses of joint passes are called without them)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def discriminator_backward(
    accelerator: Any,
    discriminators: DiscriminatorSet,
    groups: list[list[str]],
    loss: Any,
    wav: torch.Tensor,
    fake: torch.Tensor,
    *,
    accum: int = 1,
    modules: dict[str, Any] | None = None,
    phase: Phase = no_phase,
    reduce: "GradientMean | None" = None,
) -> torch.Tensor:
    """The discriminators' loss (``loss.discriminator_loss`` of real vs ``fake``), back-propagated
    group by group into the discriminators' gradients (divided by ``accum``); returns its value
    (a detached tensor on the device: reading it is the caller's host sync, on log steps).

    Real and generated audio go through a discriminator in one concatenated batch (every
    discriminator here is per-example, so this equals two passes and halves the launches).
    """
    n_logits, _ = discriminators.num_terms(groups, wav)
    both = torch.cat([wav, fake])
    value = torch.zeros((), device=wav.device)
    for names in groups:
        with phase("d_forward"), accelerator.autocast():
            logits, _ = discriminators.run(names, both, modules)
        with phase("d_loss"):
            real_l, fake_l, _, _ = split_real_fake(logits, [], wav.shape[0])
            part = loss.discriminator_loss(
                [x.float() for x in real_l], [x.float() for x in fake_l], **_maybe(num_terms=n_logits)
            )
        with phase("d_backward"):
            accelerator.backward(part / accum)
        if reduce is not None:  # this group's gradients are complete: their all-reduce starts now
            reduce.start([p for n in names for p in discriminators.discriminators[n].parameters()])
        value = value + part.detach()
        del logits, real_l, fake_l, part
    return value


def generator_adversarial_backward(
    accelerator: Any,
    discriminators: DiscriminatorSet,
    groups: list[list[str]],
    terms: Sequence[GanTerm],
    wav: torch.Tensor,
    wav_hat: torch.Tensor,
    *,
    modules: dict[str, Any] | None = None,
    phase: Phase = no_phase,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The generator's discriminator-based terms (values, summed over groups) and the gradient of
    their weighted sum with respect to ``wav_hat``, one group at a time (discriminator parameters
    frozen for the pass, their gradients untouched)."""
    n_logits, n_fmaps = discriminators.num_terms(groups, wav)
    # under fp16 the partial backwards need the loss scale too; it is divided out again below. The
    # scale is read as a device tensor (``scaler.scale`` of a one): ``get_scale()`` would sync the host
    scaler = getattr(accelerator, "scaler", None)
    scale = scaler.scale(torch.ones((), device=wav.device)) if scaler is not None else None
    leaf = wav_hat.detach().requires_grad_(True)
    values = {t.name: torch.zeros((), device=wav.device) for t in terms}
    discriminators.requires_grad_(False)
    try:
        for names in groups:
            with phase("g_disc_forward"):
                with torch.no_grad(), accelerator.autocast():
                    _, real_f = discriminators.run(names, wav, modules)
                with accelerator.autocast():
                    fake_l, fake_f = discriminators.run(names, leaf, modules)
            part = None
            with phase("g_losses"):
                for term in terms:
                    if term.loss.inputs == DISCRIMINATOR_LOGITS:
                        value = term.loss.generator_loss([g.float() for g in fake_l], **_maybe(num_terms=n_logits))
                    elif term.loss.inputs == DISCRIMINATOR_FEATURES:
                        value = term.loss(
                            [[r.float() for r in f] for f in real_f], [[g.float() for g in f] for f in fake_f],
                            **_maybe(num_terms=n_fmaps),
                        )
                    else:
                        raise ValueError(
                            f"loss term {term.name!r}: inputs {term.loss.inputs!r} are not discriminator outputs")
                    weighted = term.weight * value
                    part = weighted if part is None else part + weighted
                    values[term.name] = values[term.name] + value.detach()
            if part is not None:
                with phase("g_disc_backward"):
                    torch.autograd.backward(part * scale if scale is not None else part, inputs=[leaf])
            del fake_l, fake_f, real_f, part
    finally:
        discriminators.requires_grad_(True)
    grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
    return values, (grad / scale if scale is not None else grad)


class GradientMean:
    """Gradients averaged over processes, one asynchronous all-reduce per parameter group.

    ``start(params)`` launches the all-reduce of those parameters' gradients (flattened into one
    buffer) and returns at once; ``wait()`` waits for every launched one and writes the means back.
    With one process both do nothing.
    """

    def __init__(self, world_size: int) -> None:
        self.world_size = int(world_size)
        self._pending: list[tuple[Any, torch.Tensor, list[torch.Tensor]]] = []

    def start(self, params: Any) -> None:
        if self.world_size == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        work = torch.distributed.all_reduce(flat, async_op=True)
        self._pending.append((work, flat, grads))

    def wait(self) -> None:
        for work, flat, grads in self._pending:
            work.wait()
            flat /= self.world_size
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
        self._pending.clear()


def average_gradients(params: Any, world_size: int) -> None:
    """What DDP does for a module it does not wrap: every gradient's mean over processes, one all-reduce."""
    if world_size == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
