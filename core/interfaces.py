"""Structural interfaces of the pluggable components.

These are :class:`typing.Protocol` classes: a plugin need not inherit from them, only provide
the attributes. They document the contract between the trainer/harness (core) and components.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from contextlib import AbstractContextManager
from typing import Any, Callable, Protocol, runtime_checkable

import torch


@dataclass
class QuantizerOutput:
    """What a quantizer's ``forward`` returns during training.

    ``layer_outputs[k]`` is the quantized output of quantizer layer k (``[B,D,T]``) — losses that
    read single layers or averages of layers (``teacher_features`` losses) compute them from these.
    """

    quantized: torch.Tensor  # [B, D, T], straight-through
    codes: torch.Tensor  # [B, Q, T] int64
    commit_loss: torch.Tensor  # scalar
    layer_outputs: list[torch.Tensor] = field(default_factory=list)
    # e.g. usage/perplexity per layer; 0-dim tensors may stay on the device (a trainer reads them on
    # log steps, so a training step need not wait for the GPU)
    metrics: dict[str, float | torch.Tensor] = field(default_factory=dict)


@runtime_checkable
class Encoder(Protocol):
    hop_length: int
    dimension: int

    def __call__(self, wav: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Decoder(Protocol):
    def __call__(self, latent: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Quantizer(Protocol):
    num_codebooks: int
    codebook_size: int
    dimension: int

    def __call__(self, x: torch.Tensor, n_q: int | None = None) -> QuantizerOutput: ...

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor: ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Discriminator(Protocol):
    def __call__(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]: ...


@dataclass(frozen=True)
class MetricNeeds:
    """What a metric needs; the harness disables a metric whose needs are not met, saying why."""

    reference_audio: bool = True
    reference_text: bool = False
    transcript: bool = False  # an ASR transcript of the reconstruction
    gpu: bool = False
    packages: tuple[str, ...] = ()  # importable module names
    sample_rate: int | None = None  # audio is resampled to this rate before scoring


METRIC_KINDS = ("audio", "text", "system")
METRIC_AGGREGATES = ("mean", "corpus")


@dataclass(frozen=True)
class MetricMeta:
    """How a metric's values are read and printed, declared by the metric itself
    (``meta = MetricMeta(higher_is_better=True, display="STOI", decimals=3)``).

    The harness's tables, rankings, significance tests and plots read this declaration and nothing
    else (no table of metric names, no guessed attribute), so a third-party metric renders exactly
    like a built-in one with the same declaration. Only the direction has no default: a wrong guess
    would silently rank systems backwards.
    """

    #: direction: which systems rank first, which is bolded as best, the sign of significance tests
    higher_is_better: bool
    #: column title; ``None``: the name the metric is registered under
    display: str | None = None
    #: shown next to the title (``"%"``, ``"dB"``, ``"kbps"``); ``""`` for none
    unit: str = ""
    #: digits printed after the decimal point (after ``display_scale``)
    decimals: int = 3
    #: factor for display only; records keep raw values (bits/s shown as kbps: ``1e-3``)
    display_scale: float = 1.0
    #: the table's figure: ``"mean"`` of the per-utterance values, or ``"corpus"``: one score over all
    #: utterances from the metric's ``corpus_score(references, hypotheses)`` (the paper's WER/WIL over
    #: all sentences concatenated; per-utterance values are still recorded for intervals and tests)
    aggregate: str = "mean"
    #: ``"audio"`` (compares reference and reconstruction), ``"text"`` (needs an ASR transcript; also
    #: computed for the ground-truth row) or ``"system"`` (a property of the codec run: bitrate, real-time
    #: factor). ``None``: from ``needs`` (a transcript or reference text: text; reference audio: audio;
    #: else system)
    kind: str | None = None
    #: ``False`` for a property of the system rather than a quality (bitrate): never ranked or bolded
    ranked: bool = True

    def __post_init__(self) -> None:
        if self.aggregate not in METRIC_AGGREGATES:
            raise ValueError(f"MetricMeta.aggregate={self.aggregate!r}; choose one of {', '.join(METRIC_AGGREGATES)}")
        if self.kind is not None and self.kind not in METRIC_KINDS:
            raise ValueError(f"MetricMeta.kind={self.kind!r}; choose one of {', '.join(METRIC_KINDS)} or None")
        if not isinstance(self.decimals, int) or self.decimals < 0:
            raise ValueError(f"MetricMeta.decimals={self.decimals!r}; a whole number >= 0")


@runtime_checkable
class Metric(Protocol):
    """A benchmark metric: ``metric(**inputs) -> float`` for one utterance (the inputs its ``needs``
    ask for), and how its values are reported (``meta``). With ``meta.aggregate == "corpus"`` it also
    has ``corpus_score(references, hypotheses) -> float``."""

    name: str
    needs: MetricNeeds
    meta: MetricMeta

    def __call__(self, **inputs: Any) -> float: ...


# --------------------------------------------------------------------------------------------
# training: losses, trainable codecs, recipes
# --------------------------------------------------------------------------------------------
#
# A training config lists its loss terms by name (``losses: {term: {name, weight, <args>}}``);
# the recipe computes each listed term from the inputs its loss declares and adds them up,
# Σ weight · value, in a fixed order (by input kind as LOSS_INPUTS lists them, then by term
# name). A loss declares its inputs with a class attribute ``inputs`` holding one of the names
# below; that name fixes how it is called:
#
# ``waveforms``              ``loss(wav, wav_hat) -> scalar``: float32 ``[B, 1, N]`` input and
#                            reconstruction, cut to the same length (reconstruction losses).
# ``quantizer``              ``loss(qout) -> scalar``: the generator's :class:`QuantizerOutput`
#                            (e.g. the commitment loss).
# ``teacher_features``       ``loss(qout, features) -> (scalar, {part: scalar})``: ``features`` maps a
#                            teacher role (e.g. ``"lm"``) to its cached features ``[B, T, D]`` on
#                            codec frames, ``"<role>_mask"`` to that role's ``[B, T]`` mask and
#                            ``"frame_mask"`` to the frames that hold audio. The factory takes
#                            ``student_dim`` (quantizer dimension) and ``teacher_dims``
#                            (``{role: D}``) from the recipe, and the class says which roles a
#                            configuration needs with ``roles(**config_args) -> tuple[str, ...]``.
#                            Its parameters (projections) are trained with the generator.
# ``discriminator_logits``   ``loss.generator_loss(fake_logits, num_terms=None)`` and
#                            ``loss.discriminator_loss(real_logits, fake_logits, num_terms=None)``
#                            over the flat lists of discriminator logits (adversarial losses).
# ``discriminator_features`` ``loss(real_fmaps, fake_fmaps, num_terms=None)`` over the feature-map
#                            lists (feature matching).
#
# ``num_terms`` is given when the discriminators run one at a time: the number of logits /
# feature maps of the whole pass, so a mean over them can be written as a sum of per-discriminator
# parts. A loss that cannot take it works with ``trainer.discriminator_passes: together``.

WAVEFORMS = "waveforms"
QUANTIZER = "quantizer"
TEACHER_FEATURES = "teacher_features"
DISCRIMINATOR_LOGITS = "discriminator_logits"
DISCRIMINATOR_FEATURES = "discriminator_features"
LOSS_INPUTS: tuple[str, ...] = (WAVEFORMS, QUANTIZER, TEACHER_FEATURES, DISCRIMINATOR_LOGITS, DISCRIMINATOR_FEATURES)


@runtime_checkable
class TrainingLoss(Protocol):
    """A loss usable as a term of ``losses:``: a callable declaring its ``inputs`` (one of
    :data:`LOSS_INPUTS`; the calling convention is listed above)."""

    inputs: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class TrainableCodec(Protocol):
    """What a tokenizer exposes to be trained (``model.tokenizer`` of a training config).

    ``generator`` is the trained ``nn.Module``: ``generator(wav [B,1,N]) -> (wav_hat [B,1,N'],
    QuantizerOutput)`` with ``layer_outputs`` filled, ``generator.hop_length`` samples per frame
    and ``generator.quantizer.dimension`` the latent size. ``save_pretrained(dir)`` writes the
    trained generator so that the tokenizer factory loads it back. ``default_recipe`` names the
    registered recipe used when the config has no ``recipe`` section.
    """

    generator: Any
    sample_rate: int
    codebook_size: int
    default_recipe: str

    def save_pretrained(self, directory: Any) -> Any: ...


#: What a composed codec (the ``codec`` tokenizer and those built on it) passes to each part's
#: factory, as keyword arguments, when -- and only when -- the factory's signature names them: the
#: codec's ``sample_rate`` and the encoder's ``hop_length`` (samples per frame). A config need not
#: set them; when it does, the value must be the codec's. docs/components.md has the contracts.
CODEC_PART_CONTEXT: dict[str, tuple[str, ...]] = {
    "encoder": ("sample_rate",),
    "quantizer": ("sample_rate", "hop_length"),
    "decoder": ("sample_rate", "hop_length"),
}

TRAINABLE_CODEC_ATTRIBUTES: tuple[str, ...] = (
    "generator", "sample_rate", "codebook_size", "default_recipe", "save_pretrained",
)


@dataclass
class FeatureSource:
    """Per-frame features a recipe's batches carry (what its ``open_features`` returns).

    ``load(utt_id)``: ``{key: [T, D], key_mask: [T] (optional)}`` on codec frames; ``load_frames(utt_id,
    start, length)``: the same for frames ``[start, start + length)`` only (None: ``load`` then crop);
    ``utterances``: the training utterances that have features (the others are left out of training).
    """

    load: Callable[[str], dict]
    load_frames: Callable[[str, int, int], dict] | None
    utterances: list


class RecipeContext(Protocol):
    """What the trainer offers a recipe (``core.training.Trainer`` is one).

    ``accelerator``: the Hugging Face Accelerate object (device, ``autocast``, ``backward``,
    ``no_sync``, ``num_processes``); ``cfg``: the validated config (an instance of the recipe's
    ``config_schema``); ``step``: optimiser steps so far; ``prepared[key]``: the DDP-wrapped module of
    a distributed optimiser group; ``optimizers[key]``: its optimiser; ``phase(name)``: a profiling
    context around a phase of the step (a no-op unless a benchmark sets a timer).
    """

    accelerator: Any
    cfg: Any
    step: int
    prepared: dict[str, Any]
    optimizers: dict[str, Any]
    phase: Callable[[str], AbstractContextManager]

    def clip(self, params: Any, optimizer: str | None = None) -> torch.Tensor:
        """Clip ``params``' gradients to ``trainer.grad_clip`` (unscaling ``optimizer``'s under fp16); their norm."""
        ...

    def step_optimizer(self, key: str) -> None:
        """Step optimiser ``key`` (through the fp16 scaler when there is one) and drop its gradients."""
        ...

    def say(self, text: str) -> None:
        """Print ``text`` once (main process), into the run's log."""
        ...


@runtime_checkable
class Recipe(Protocol):
    """One training step of a codec: which networks it trains and how (``recipe:`` of a config).

    The trainer (the generic loop: accumulation, checkpoints, logging, schedules, validation,
    export) calls, in this order:

    * ``feature_roles() -> tuple[str, ...]``: the features (e.g. teacher roles) every batch must
      carry (before the data is opened); when there are any, the recipe's ``open_features`` gives
      them (:class:`OpensFeatures`);
    * ``build(codec, feature_dims)``: make the modules and losses (``feature_dims``: ``{role: D}``
      of the features);
    * ``modules() -> dict[str, nn.Module]``: every trained module by checkpoint name;
    * ``optimizers() -> list[OptimizerGroup]`` (``core.training.recipe``): parameter groups, each
      with its own optimiser and schedule;
    * ``bind(context)`` (optional, :class:`BindsContext`), once the distributed modules are prepared;
    * ``micro_step(context, batch, sync, accum) -> StepResult`` for every micro-batch (backward,
      and on ``sync`` the optimiser steps, clipping with ``context.clip``);
    * ``validation_loss(wav, wav_hat) -> (key, value)`` on validation crops (eval mode).

    The factory's class attribute ``config_schema`` (optional: a subclass of
    ``core.train_config.TrainConfig``) declares the config sections the recipe reads; an optional
    ``summary_keys`` tuple names the scalars a log line shows without a progress bar.
    """

    def feature_roles(self) -> tuple[str, ...]: ...

    def build(self, codec: Any, feature_dims: dict[str, int]) -> None: ...

    def modules(self) -> dict[str, Any]: ...

    def optimizers(self) -> list[Any]: ...

    def micro_step(self, trainer: RecipeContext, batch: dict[str, Any], sync: bool, accum: int) -> Any: ...

    def validation_loss(self, wav: torch.Tensor, wav_hat: torch.Tensor) -> tuple[str, torch.Tensor]: ...


@runtime_checkable
class BindsContext(Protocol):
    """A recipe with a step after the trainer prepared its modules (e.g. compiling extra networks)."""

    def bind(self, context: RecipeContext) -> None: ...


@runtime_checkable
class OpensFeatures(Protocol):
    """A recipe whose batches carry features it reads itself (e.g. a teacher cache)."""

    def open_features(self, utterances: list, hop_length: int, *, is_main: bool, wait: Callable[[], None],
                      say: Callable[[str], None]) -> FeatureSource: ...
