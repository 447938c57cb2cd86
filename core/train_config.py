"""Schema of a training config (``tokenizer-bench train CONFIG``).

Sections: ``model`` (the tokenizer's components), ``teachers`` (frozen models and the aligner),
``distillation`` (which RVQ outputs are distilled toward which teacher, λ weights),
``discriminators``, ``losses`` (components and the eq. 10 weights), ``data``, ``trainer``.
Component mappings are ``{name: <registered name>, <constructor argument>: value, ...}``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .config import Component, component

Strict = ConfigDict(extra="forbid")


def _c(name: str, **kwargs) -> dict:
    return {"name": name, **kwargs}


class ModelConfig(BaseModel):
    """The tokenizer under training; its options are passed to the tokenizer factory."""

    model_config = Strict
    tokenizer: str = "dm_codec"
    sample_rate: int = 16000
    encoder: component("encoders")
    quantizer: component("quantizers")
    decoder: component("decoders")
    semantic_dimension: int | None = Field(
        default=None, description="Size of the official `transform` head (checkpoint compatibility only)."
    )


class TeachersConfig(BaseModel):
    """Frozen teachers. ``None`` disables one (e.g. ``sm: null`` for the LM-only model)."""

    model_config = Strict
    stt: component("teachers") | None = None
    lm: component("teachers") | None = None
    sm: component("teachers") | None = None
    aligner: component("aligners") = Field(default_factory=lambda: Component(name="timestamps"))
    transcripts: Literal["stt", "dataset"] = Field(
        default="stt", description="'stt' transcribes with the STT teacher (the paper); 'dataset' uses the data's text."
    )
    cache_dir: str = "cache/teachers"
    cache_dtype: Literal["float16", "float32"] = "float16"
    device: str = "auto"


class DistillTarget(BaseModel):
    model_config = Strict
    target: str = Field(default="rvq1", description="RVQ output distilled: rvq1, rvq8, rvq1:8 (average), rvqK, rvqA:B")


class DistillationConfig(BaseModel):
    """Which RVQ outputs are distilled toward which cached teacher features (eq. 1-3, 11).

    ``lm``/``sm`` set to null disables that teacher's loss. With both teachers the loss is
    ``scale·(λ_SM·L_SM + λ_LM·L_LM)`` with λ_SM + λ_LM = 1. The default ``scale: 1.0`` is the
    paper's eq. 3 and the official trainer: at λ = ½/½ it gives ½(L_SM + L_LM) (the official
    ``(L_h + L_l)/2``), and the Table 3 sweep is λ_SM·L_SM + λ_LM·L_LM, so λ_LM = 1 equals the
    LM-only model (♣). ``scale: 0.5`` is eq. 11 read literally (½(λ_SM·L_SM + λ_LM·L_LM), i.e.
    ¼(L_SM + L_LM) at ½/½), kept as a named option. With one teacher the loss is that teacher's
    L (eq. 1) itself: ``scale`` and the λs are not applied. ``loss`` names the distillation
    component; left out, it is ``lm_sm_distillation`` with both teachers and ``distillation`` with
    one. The trainer passes it the sizes (student = quantizer dimension, teachers = cached feature
    sizes), the targets, the λs and ``scale``; its other options go in ``loss``.
    """

    model_config = Strict
    lm: DistillTarget | None = Field(default_factory=DistillTarget)
    sm: DistillTarget | None = None
    lambda_lm: float = Field(default=0.5, ge=0.0, le=1.0)
    lambda_sm: float = Field(default=0.5, ge=0.0, le=1.0)
    scale: float = Field(
        default=1.0,
        ge=0.0,
        description="Factor on λ_SM·L_SM + λ_LM·L_LM (both teachers only). 1.0: eq. 3 and the official "
        "trainer, ½(L_SM + L_LM) at λ = ½/½; 0.5: eq. 11 read literally, ¼(L_SM + L_LM) at λ = ½/½.",
    )
    share_projection: bool | None = Field(
        default=None,
        description="One W for both teachers (the paper). None: share when the teachers have the same size.",
    )
    loss: component("losses") | None = None
    mask_silence: bool = Field(default=False, description="Exclude frames between words from the LM loss.")

    @model_validator(mode="after")
    def _lambdas(self) -> "DistillationConfig":
        if self.lm is not None and self.sm is not None and abs(self.lambda_lm + self.lambda_sm - 1.0) > 1e-6:
            raise ValueError(f"lambda_lm + lambda_sm must be 1 (paper eq. 3), got {self.lambda_lm} + {self.lambda_sm}")
        return self

    @property
    def teachers(self) -> tuple[str, ...]:
        """The teachers whose features the loss needs, in a fixed order."""
        return tuple(k for k in ("lm", "sm") if getattr(self, k) is not None)


class LossesConfig(BaseModel):
    """Generator/discriminator loss components and the eq. 10 weights."""

    model_config = Strict
    mel: component("losses") | None = None
    waveform: component("losses") | None = None
    adversarial: component("losses") | None = None
    feature_matching: component("losses") | None = None
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "mel": 45.0,
            "waveform": 500.0,
            "commitment": 10.0,
            "distillation": 120.0,
            "feature_matching": 2.0,
            "adversarial": 1.0,
        }
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
    training stops at ``max_steps`` or after ``max_epochs``, whichever comes first.
    """

    model_config = Strict
    output_dir: str = "runs/dm_codec"
    max_epochs: int = Field(default=100, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    lr_generator: float = Field(default=1e-4, gt=0)
    lr_discriminator: float = Field(default=1e-4, gt=0)
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
    lr_min: float = Field(default=0.0, ge=0, description="Final lr of the cosine schedule (both networks)")
    lr_warmup_steps: int = Field(
        default=0, ge=0, description="Linear warm-up: step n <= N uses lr x n/(N+1), then the schedule starts"
    )
    discriminator_warmup_steps: int = Field(
        default=0, ge=0, description="Steps before the discriminators are trained and used in the generator loss"
    )
    grad_clip: float | None = Field(default=None, gt=0, description="Max global grad norm (both networks)")
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    compile: bool = Field(default=False, description="torch.compile the generator and the discriminators")
    discriminator_passes: Literal["each", "together"] = Field(
        default="each",
        description="'each': run and back-propagate one discriminator at a time, holding one discriminator's "
        "activations instead of all (same gradients: the GAN losses add up over discriminators; needs losses "
        "that take num_terms); 'together': one pass over all discriminators",
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
        "the step. Off by default: for the paper step at batch 2 x 3 s it saved page faults but no time and "
        "raised the peak by ~0.3 GiB (benchmarks/results/host_memory.md); the tokenizer's calls gain 1.2-1.35x",
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
    num_threads: int | None = Field(default=None, ge=1, description="torch CPU threads per process (None: torch's default)")
    checkpoint_every: int = Field(default=1000, ge=1)
    keep_last: int = Field(default=3, ge=1)
    log_every: int = Field(default=10, ge=1)
    audio_every: int = Field(default=1000, ge=1)
    valid_every: int | None = Field(default=None, ge=1, description="Validation mel loss every N steps (needs data.valid)")
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
        description="Batches in the running code histogram per RVQ layer (codebook_window/* usage and perplexity, "
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
        if self.lr_schedule == "cosine" and self.lr_min > min(self.lr_generator, self.lr_discriminator):
            raise ValueError(
                f"lr_min {self.lr_min} is above the learning rate ({self.lr_generator} / {self.lr_discriminator}): "
                "the cosine schedule anneals down to lr_min"
            )
        return self


class EvaluationConfig(BaseModel):
    """Score the exported tokenizer through the benchmark harness when training ends.

    The same protocol as ``tokenizer-bench compare`` (its records, tables and report land in
    ``out``), so a user sees what the codec does, not only that the loop ran.
    """

    model_config = Strict
    data: list[str] = Field(description="Held-out LibriSpeech-style folders / JSONL manifests (not data.train)")
    num_samples: int | None = Field(default=None, ge=1, description="Seeded draw of this many utterances")
    seed: int = 42
    metrics: list[str] = Field(default_factory=lambda: ["stoi", "wer", "bitrate"])
    asr: str = "faster_whisper"
    asr_options: dict[str, Any] = Field(default_factory=dict)
    out: str | None = Field(default=None, description="Default: <output_dir>/evaluation")


class TrainConfig(BaseModel):
    model_config = Strict
    name: str = "dm_codec"
    seed: int = 42
    model: ModelConfig
    teachers: TeachersConfig = Field(default_factory=TeachersConfig)
    distillation: DistillationConfig = Field(default_factory=DistillationConfig)
    discriminators: list[component("discriminators")] = Field(default_factory=list)
    losses: LossesConfig = Field(default_factory=LossesConfig)
    data: DataConfig
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig | None = None

    @model_validator(mode="after")
    def _teachers_for_distillation(self) -> "TrainConfig":
        for key in self.distillation.teachers:
            if getattr(self.teachers, key) is None:
                raise ValueError(
                    f"distillation.{key} is set but teachers.{key} is null: configure the {key.upper()} teacher "
                    f"or set distillation.{key}: null"
                )
        return self
