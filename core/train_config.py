"""Schema of a training config (``tokenizer-bench train CONFIG``): core's sections, and the recipe's.

Core's sections: ``model`` (the tokenizer under training and its constructor arguments),
``recipe`` (the registered training step; default: the tokenizer's ``default_recipe``),
``losses`` (the weighted loss terms), ``data``, ``trainer``, ``evaluation``. Component mappings
are ``{name: <registered name>, <constructor argument>: value, ...}``; a loss term adds its ``weight``.

Everything else belongs to the recipe: a recipe declares the config it reads as a subclass of
:class:`TrainConfig` (its class attribute ``config_schema``) that adds its own sections (e.g.
DM-Codec's ``teachers`` and ``discriminators``) and may extend ``trainer`` with a subclass of
:class:`TrainerConfig` (e.g. the discriminators' learning rate). :meth:`TrainConfig.schema_for`
picks that schema from the config's ``recipe`` (or its tokenizer's default recipe) before
validation, so unknown keys of a recipe's section get the same did-you-mean message and the
file that set them as core's own keys, and a recipe with other sections needs no core change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from tokenizer_bench.core.config import Component, registered
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import CODEC_PART_CONTEXT

if TYPE_CHECKING:
    from tokenizer_bench.core.registry import Entry

Strict = ConfigDict(extra="forbid")


class ModelConfig(BaseModel):
    """The tokenizer under training: ``tokenizer`` names the registered factory, every other key
    is passed to it as a constructor argument (the component specs as mappings)."""

    model_config = ConfigDict(extra="allow")
    tokenizer: str = Field(description="Registered tokenizer name, a trainable one (core.interfaces.TrainableCodec)")
    sample_rate: int = 16000
    encoder: Annotated[Component, registered("encoders", CODEC_PART_CONTEXT["encoder"])] | None = None
    quantizer: Annotated[Component, registered("quantizers", CODEC_PART_CONTEXT["quantizer"])] | None = None
    decoder: Annotated[Component, registered("decoders", CODEC_PART_CONTEXT["decoder"])] | None = None

    def factory_options(self) -> dict[str, Any]:
        """The keyword arguments of the tokenizer factory: every key but ``tokenizer``."""
        out: dict[str, Any] = {"sample_rate": self.sample_rate}
        for part in ("encoder", "quantizer", "decoder"):
            comp = getattr(self, part)
            if comp is not None:
                out[part] = comp.to_dict()
        out.update(self.model_extra or {})
        return out


class LossTerm(Component):
    """One term of the generator's total: a registered loss, its constructor arguments and its
    ``weight`` (left out: the recipe's default weight for this term name).

    The registered loss is looked up once, when the config is validated (:meth:`entry`), and kept:
    its inputs, teacher roles and the built loss all come from that one entry.
    """

    weight: float | None = None
    _entry: Any = PrivateAttr(default=None)

    def entry(self, term: str = "") -> "Entry":
        """The registered loss (looked up and its arguments checked on the first call; ValueError
        naming ``losses.<term>`` when unknown or given wrong arguments)."""
        if self._entry is None:
            from tokenizer_bench.core.errors import UnknownComponentError
            from tokenizer_bench.core.plugins import get_registry
            from tokenizer_bench.core.registry import check_arguments

            where = f"losses.{term}: " if term else ""
            try:
                entry = get_registry("losses").get(self.name)
            except UnknownComponentError as exc:
                raise ValueError(f"{where}{exc}") from None
            try:
                check_arguments(entry, self.kwargs)
            except ConfigError as exc:
                raise ValueError(f"{where}{exc}") from None
            self._entry = entry
        return self._entry

    @property
    def inputs(self) -> Any:
        """The inputs the loss declares (one of ``core.interfaces.LOSS_INPUTS``, or None when it declares none)."""
        return getattr(self.entry().factory, "inputs", None)

    def build_loss(self, **extra: Any) -> Any:
        """The loss object: its factory called with the term's arguments and ``extra`` (what the
        recipe passes, e.g. sizes)."""
        from tokenizer_bench.core.registry import check_arguments

        entry = self.entry()
        check_arguments(entry, {**self.kwargs, **extra})
        return entry.factory(**self.kwargs, **extra)


def loss_roles(term: str, spec: LossTerm) -> tuple[str, ...]:
    """Teacher roles a loss term needs (its class's ``roles(**args)``; none for other losses).
    ``roles`` also checks the arguments, raising ValueError."""
    roles = getattr(spec.entry(term).factory, "roles", None)
    return tuple(roles(**spec.kwargs)) if roles is not None else ()


OLD_FORM_HELP = (
    "a training config lists every loss term with its weight and arguments, "
    "`losses: {<term>: {name: <registered loss>, weight: <number>, <constructor arguments>}}`, and the settings "
    "of a loss are its arguments (docs/training.md, 'Loss terms'); `tokenizer-bench migrate-config FILE` "
    "rewrites a config of the older form"
)


class DownloadConfig(BaseModel):
    """LibriSpeech subsets fetched into ``root`` when ``data.train`` is missing (``tokenizer-bench download``)."""

    model_config = Strict
    subsets: list[str] = Field(default_factory=lambda: ["train-clean-100"])
    base_url: str = "https://www.openslr.org/resources/12"
    root: str = "data"
    checksums: dict[str, str] = Field(
        default_factory=dict, description="subset -> SHA-256 or MD5, for mirrors or subsets not in the built-in table"
    )
    keep_archive: bool = False


class DemoCorpusConfig(BaseModel):
    """Synthesise the offline demo corpus (eSpeak NG) into ``data.train[0]`` when it is missing."""

    model_config = Strict
    num_utterances: int = Field(default=60, ge=1)
    seed: int = 42
    held_out_dir: str | None = Field(
        default=None, description="Also synthesise held-out sentences here (the demo's evaluation set)")
    held_out_utterances: int = Field(default=8, ge=1)


class DataConfig(BaseModel):
    model_config = Strict
    train: list[str] = Field(description="LibriSpeech-style folders and/or JSONL manifests")
    valid: list[str] = Field(default_factory=list)
    format: Literal["auto", "librispeech", "manifest", "folder"] = "auto"
    segment_seconds: float = Field(default=3.0, gt=0)
    batch_size: int = Field(default=6, ge=1, description="Per process (the global batch is this x processes)")
    num_workers: int = Field(default=2, ge=0)
    max_utterances: int | None = Field(default=None, ge=1)
    valid_utterances: int = Field(default=16, ge=1, description="Validation uses the first N of data.valid")
    crop: Literal["per_epoch", "fixed"] = Field(
        default="per_epoch",
        description="'per_epoch': a fresh random crop of every file each epoch, from (seed, epoch, index); "
        "'fixed': one random crop per file, drawn once from (seed, utterance id) and reused every epoch "
        "(the paper crops every file once to 3 s before training)",
    )
    download: DownloadConfig | None = None
    demo_corpus: DemoCorpusConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data):
        if isinstance(data, dict):
            for key in ("train", "valid"):
                if isinstance(data.get(key), str):
                    data = {**data, key: [data[key]]}
        return data


class TrainerConfig(BaseModel):
    """Optimisation, precision, checkpointing and logging.

    ``max_steps`` counts optimiser steps (each ``gradient_accumulation_steps`` batches per process);
    training stops at ``max_steps``, after ``max_epochs`` or past ``max_minutes``, whichever comes first.
    """

    model_config = Strict
    output_dir: str = "runs/codec"
    max_epochs: int = Field(default=100, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    max_minutes: float | None = Field(
        default=None, gt=0,
        description="Wall-clock budget of the training loop in minutes, summed over resumed sessions (the time to "
        "reach each checkpoint travels in it): training stops at the first optimiser step past it, then saves a "
        "checkpoint and exports as at max_steps. A later --resume with a larger budget continues the run",
    )
    max_minutes_clock: Literal["wall", "cpu"] = Field(
        default="wall",
        description="What max_minutes counts: 'wall' (wall-clock time of the training loop) or 'cpu' (process CPU "
        "time, all threads, summed over processes: an equal budget on a machine that other work shares)",
    )
    lr_generator: float = Field(default=1e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.99)
    adam_eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    lr_decay: float = Field(default=0.98, gt=0, le=1)
    lr_decay_every: Literal["epoch"] | int = Field(default="epoch", description="'epoch' or a number of steps")
    lr_schedule: Literal["exponential", "cosine"] = Field(
        default="exponential",
        description="'exponential': lr x lr_decay at every lr_decay_every (the paper); 'cosine': anneal every step "
        "from the lr to lr_min over the run's total steps (max_steps, or max_epochs x batches per epoch), as the "
        "official trainer's CosineAnnealingLR",
    )
    lr_min: float = Field(default=0.0, ge=0, description="Final lr of the cosine schedule (every optimiser)")
    lr_warmup_steps: int = Field(
        default=0, ge=0, description="Linear warm-up: step n <= N uses lr x n/(N+1), then the schedule starts"
    )
    grad_clip: float | None = Field(default=None, gt=0, description="Max global grad norm (every optimiser)")
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    compile: bool = Field(default=False, description="torch.compile the recipe's distributed modules (the "
                          "generator); a recipe may compile its other networks too")
    cudnn_benchmark: bool | None = Field(
        default=None,
        description="torch.backends.cudnn.benchmark on CUDA (cuDNN times its algorithms per input shape and keeps the "
        "fastest); None: on, as training crops (data.segment_seconds) have one shape",
    )
    activation_checkpointing: list[str] = Field(
        default_factory=list,
        description="Generator parts to recompute in the backward pass instead of storing their activations, "
        "e.g. [encoder, decoder]: less memory for a second forward of those parts",
    )
    release_host_memory: bool = Field(
        default=True,
        description="On CPU, give freed heap pages back to the OS after every optimiser step (glibc malloc_trim), "
        "so heap fragmentation does not add to the next step's peak",
    )
    reuse_freed_memory: bool = Field(
        default=False,
        description="On CPU, let each step's layers reuse the heap memory earlier layers freed instead of "
        "page-faulting a fresh mapping for every large activation (glibc), and give the free heap back after "
        "the step. Trade-off: fewer page faults against a higher peak while a step's freed memory is held; off by "
        "default, as the training step gained no time from it (benchmarks/results/host_memory.md)",
    )
    adam_implementation: Literal["fused", "foreach", "loop"] = Field(
        default="fused", description="torch.optim.Adam kernel: fused (fastest), foreach, or the per-tensor loop"
    )
    cpu: bool = Field(default=False, description="Train on CPU even when a GPU is present")
    distributed_timeout_minutes: int = Field(
        default=180, ge=1,
        description="Collective timeout of multi-process runs (other ranks wait this long while rank 0 builds "
        "a missing teacher cache; build big caches ahead with cache-teachers)",
    )
    num_threads: int | None = Field(
        default=None, ge=1, description="torch CPU threads per process (None: torch's default)")
    checkpoint_every: int = Field(default=1000, ge=1)
    keep_last: int = Field(default=3, ge=1)
    log_every: int = Field(default=10, ge=1)
    audio_every: int = Field(default=1000, ge=1)
    valid_every: int | None = Field(default=None, ge=1, description="Validation loss every N steps (needs data.valid)")
    tensorboard: bool = True
    progress: bool | None = Field(default=None, description="Progress bar; None: only on a terminal")
    export: bool = Field(default=True, description="save_pretrained the tokenizer at the end")
    export_dir: str | None = Field(default=None, description="Default: <output_dir>/tokenizer")
    export_which: Literal["last", "best"] = Field(
        default="last",
        description="'last': the generator of the final step; 'best': the validated generator with the lowest "
        "validation loss (needs data.valid and valid_every; the final step is validated too)",
    )
    codebook_window: int = Field(
        default=100, ge=0,
        description="Batches in the running code histogram per quantizer layer (codebook_window/* usage and "
        "perplexity, "
        "collapse warnings); 0 turns both off",
    )
    codebook_collapse_perplexity: float | None = Field(
        default=2.0, ge=1.0, description="Warn when a layer's window perplexity falls below this (null: never)"
    )
    codebook_collapse_usage: float | None = Field(
        default=0.01, ge=0.0, le=1.0,
        description="Warn when a layer's window usage (fraction of its codes) falls below this (null: never)",
    )

    @model_validator(mode="after")
    def _decay_every(self) -> "TrainerConfig":
        if not isinstance(self.lr_decay_every, str) and self.lr_decay_every < 1:
            raise ValueError(f"lr_decay_every must be 'epoch' or a positive number of steps, got {self.lr_decay_every}")
        rates = self.learning_rates()
        if self.lr_schedule == "cosine" and self.lr_min > min(rates):
            raise ValueError(
                f"lr_min {self.lr_min} is above the learning rate ({' / '.join(f'{r:g}' for r in rates)}): "
                "the cosine schedule anneals down to lr_min"
            )
        return self

    def learning_rates(self) -> tuple[float, ...]:
        """Every optimiser's learning rate set here (a recipe's subclass adds its own)."""
        return (self.lr_generator,)


class EvaluationConfig(BaseModel):
    """Score the exported tokenizer through the benchmark harness when training ends.

    The same protocol as ``tokenizer-bench compare`` (its records, tables and report land in
    ``out``), so a user sees what the codec does, not only that the loop ran.
    """

    model_config = Strict
    evaluator: str = Field(default="harness", description="Registered evaluator (`tokenizer-bench plugins --kind "
                           "evaluators`); 'harness' scores with the benchmark harness")
    data: list[str] = Field(description="Held-out LibriSpeech-style folders / JSONL manifests (not data.train)")
    num_samples: int | None = Field(default=None, ge=1, description="Seeded draw of this many utterances")
    seed: int = 42
    metrics: list[str] = Field(default_factory=lambda: ["stoi", "wer", "bitrate"])
    asr: str | None = Field(
        default=None, description="Registered ASR backend for the transcript metrics (e.g. wer); required when one is "
        "listed (`tokenizer-bench plugins` lists the asr_backends)")
    asr_options: dict[str, Any] = Field(default_factory=dict)
    out: str | None = Field(default=None, description="Default: <output_dir>/evaluation")

    @field_validator("evaluator")
    @classmethod
    def _registered_evaluator(cls, name: str) -> str:
        from tokenizer_bench.core.plugins import get_registry

        registry = get_registry("evaluators")
        if name not in registry:
            raise ValueError(registry.unknown_message(name))
        return name


class TrainConfig(BaseModel):
    """Core's sections of a training config; a recipe's ``config_schema`` subclasses it to add its own.

    ``TrainConfig.model_validate(data)`` (and :func:`core.config.validate` / ``load_config`` with
    ``TrainConfig``) validates with the schema of the config's recipe (:meth:`schema_for`), so the
    object it returns is an instance of that subclass: ``cfg.teachers`` exists when the recipe
    declares ``teachers``.
    """

    model_config = Strict
    name: str = "codec"
    seed: int = 42
    model: ModelConfig
    recipe: Component | None = Field(
        default=None, description="The training step {name, <args>}; left out: the tokenizer's default_recipe")
    losses: dict[str, LossTerm | None] = Field(
        default_factory=dict, description="term -> {name, weight, <args>}; null drops a term of a base config")
    data: DataConfig
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig | None = None

    @classmethod
    def schema_for(cls, data: Any) -> type["TrainConfig"]:
        """The schema that validates ``data``: the ``config_schema`` of the recipe it names (or of its
        tokenizer's default recipe), a subclass of this class; this class itself when the recipe
        declares none or cannot be told yet (validation then reports the unknown name)."""
        if cls is not TrainConfig:
            return cls
        name = recipe_name(data)
        if name is None:
            return cls
        if not _registered("recipes", name):
            return cls
        from tokenizer_bench.core.plugins import get_registry

        schema = getattr(get_registry("recipes").get(name).factory, "config_schema", TrainConfig)
        if not (isinstance(schema, type) and issubclass(schema, TrainConfig)):
            raise ConfigError(f"recipe {name!r}: its config_schema must be TrainConfig or a subclass of it "
                              f"(core/train_config.py), got {schema!r}")
        return schema

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> "TrainConfig":  # type: ignore[override]
        """Validation with the recipe's schema (:meth:`schema_for`) when called on ``TrainConfig``."""
        schema = cls.schema_for(obj)
        if schema is not cls:
            return schema.model_validate(obj, **kwargs)
        return cast(TrainConfig, super().model_validate(obj, **kwargs))

    @model_validator(mode="before")
    @classmethod
    def _old_form(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = _without_former_defaults(cls, data)
            recipe = recipe_name(data)
            extra = sorted(map(str, set(data) - set(cls.model_fields)))
            if recipe is not None and not _registered("recipes", recipe):
                extra = []  # which sections it has cannot be told: the unknown recipe is the error reported
            sections = ", ".join(cls.model_fields)
            whose = f"of core and recipe {recipe!r}" if recipe else "of core; a recipe adds its own, name one"
            problems = [f"unknown section(s) {', '.join(extra)} (sections: {sections}; {whose})"] if extra else []
            losses = data.get("losses")
            if isinstance(losses, dict) and isinstance(losses.get("weights"), dict) and "name" not in losses["weights"]:
                problems.append("losses.weights is a table of weights, not a loss term")
            if problems:
                raise ValueError(f"{'; '.join(problems)} (an older config form?): " + OLD_FORM_HELP)
        return data

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, spec: Component | None) -> Component | None:
        """The recipe exists and takes these arguments (``cfg``, the whole config, is passed by the trainer)."""
        if spec is not None:
            from tokenizer_bench.core.errors import UnknownComponentError
            from tokenizer_bench.core.plugins import get_registry
            from tokenizer_bench.core.registry import check_arguments

            try:
                entry = get_registry("recipes").get(spec.name)
                check_arguments(entry, {**spec.kwargs, "cfg": None})
            except (UnknownComponentError, ConfigError) as exc:
                raise ValueError(str(exc)) from None
            if "cfg" in spec.kwargs:
                raise ValueError("recipe: `cfg` is the whole config, which the trainer passes; not an argument to set")
        return spec

    @field_validator("losses")
    @classmethod
    def _known_losses(cls, losses: dict[str, LossTerm | None]) -> dict[str, LossTerm | None]:
        for term, spec in losses.items():
            if spec is not None:
                spec.entry(term)
        return losses

    def terms(self) -> dict[str, LossTerm]:
        """The listed loss terms, in config order (null entries dropped)."""
        return {k: v for k, v in self.losses.items() if v is not None}

    def teacher_roles(self) -> tuple[str, ...]:
        """The teacher roles the loss terms need (whose features a batch carries), in order."""
        return tuple(dict.fromkeys(r for name, spec in self.terms().items() for r in loss_roles(name, spec)))


#: Sections and ``trainer`` keys that core's schema held, for every recipe, before DM-Codec's recipe
#: declared them (plugins/recipes/gan_distillation_config.py), with their defaults then. Configs and
#: run folders of that time carry them (a run's config.yaml lists every key), also for recipes that
#: never read them: where the recipe does not declare one and it holds that default (so it set
#: nothing), it is dropped before validation; any other value is an unknown key, as always.
FORMER_SECTION_DEFAULTS: dict[str, Any] = {
    "teachers": {"stt": None, "lm": None, "sm": None, "aligner": {"name": "timestamps"}, "transcripts": "stt",
                 "cache_dir": "cache/teachers", "cache_dtype": "float16", "device": "auto"},
    "discriminators": [],
}
FORMER_TRAINER_DEFAULTS: dict[str, Any] = {
    "lr_discriminator": 1e-4, "discriminator_warmup_steps": 0, "discriminator_passes": "each",
}


def _holds_defaults(value: Any, default: Any) -> bool:
    if value is None or value == default:
        return True
    return isinstance(value, dict) and isinstance(default, dict) and all(
        k in default and v == default[k] for k, v in value.items())


def _without_former_defaults(schema: type[TrainConfig], data: dict) -> dict:
    """``data`` less the former core keys (:data:`FORMER_SECTION_DEFAULTS`) that ``schema`` does not
    declare and that hold their former default."""
    drop = [k for k, default in FORMER_SECTION_DEFAULTS.items()
            if k in data and k not in schema.model_fields and _holds_defaults(data[k], default)]
    out = {k: v for k, v in data.items() if k not in drop}
    trainer = out.get("trainer")
    declared = getattr(schema.model_fields["trainer"].annotation, "model_fields", {})
    if isinstance(trainer, dict):
        former = [k for k, v in FORMER_TRAINER_DEFAULTS.items() if k in trainer and k not in declared
                  and trainer[k] == v]
        if former:
            out["trainer"] = {k: v for k, v in trainer.items() if k not in former}
    return out


def _registered(kind: str, name: str) -> bool:
    from tokenizer_bench.core.plugins import get_registry

    return name in get_registry(kind)


def _declared(entry: Any, key: str) -> Any:
    """What a registered component declares for ``key``: registration metadata
    (``register(name, factory, key=value)``), else an attribute of its factory."""
    return entry.meta[key] if key in entry.meta else getattr(entry.factory, key, None)


def recipe_name(data: Any) -> str | None:
    """The recipe a config's raw data trains with: ``recipe.name``, else the default recipe its
    ``model.tokenizer`` declares at registration (``default_recipe``); None when neither can be told."""
    if not isinstance(data, dict):
        return None
    recipe = data.get("recipe")
    if isinstance(recipe, Component):
        return recipe.name
    if isinstance(recipe, dict):
        name = recipe.get("name")
        return name if isinstance(name, str) else None
    model = data.get("model")
    tokenizer = model.tokenizer if isinstance(model, ModelConfig) else (
        model.get("tokenizer") if isinstance(model, dict) else None)
    if not isinstance(tokenizer, str):
        return None
    from tokenizer_bench.core.plugins import get_registry

    tokenizers = get_registry("tokenizers")
    if tokenizer not in tokenizers:
        return None
    default = _declared(tokenizers.get(tokenizer), "default_recipe")
    return default if isinstance(default, str) else None
