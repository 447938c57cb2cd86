"""Schema of a training config (``tokenizer-bench train CONFIG``).

Sections: ``model`` (the tokenizer's components), ``teachers`` (frozen models and the aligner),
``distillation`` (which RVQ outputs are distilled toward which teacher, λ weights),
``discriminators``, ``losses`` (components and the eq. 10 weights), ``data``, ``trainer``.
Component mappings are ``{name: <registered name>, <constructor argument>: value, ...}``.
"""

from __future__ import annotations

from typing import Literal

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
    model_config = Strict
    lm: DistillTarget | None = Field(default_factory=DistillTarget)
    sm: DistillTarget | None = None
    lambda_lm: float = Field(default=0.5, ge=0.0, le=1.0)
    lambda_sm: float = Field(default=0.5, ge=0.0, le=1.0)
    loss: component("losses") = Field(default_factory=lambda: Component(name="distillation"))
    mask_silence: bool = Field(default=False, description="Exclude frames between words from the LM loss.")

    @model_validator(mode="after")
    def _lambdas(self) -> "DistillationConfig":
        if self.lm is not None and self.sm is not None and abs(self.lambda_lm + self.lambda_sm - 1.0) > 1e-6:
            raise ValueError(f"lambda_lm + lambda_sm must be 1 (paper eq. 3), got {self.lambda_lm} + {self.lambda_sm}")
        return self


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
    model_config = Strict
    subsets: list[str] = Field(default_factory=lambda: ["train-clean-100"])
    base_url: str = "https://www.openslr.org/resources/12"
    root: str = "data"


class DataConfig(BaseModel):
    model_config = Strict
    train: list[str] = Field(description="LibriSpeech-style folders and/or JSONL manifests")
    valid: list[str] = Field(default_factory=list)
    format: Literal["auto", "librispeech", "manifest", "folder"] = "auto"
    segment_seconds: float = Field(default=3.0, gt=0)
    batch_size: int = Field(default=6, ge=1)
    num_workers: int = Field(default=2, ge=0)
    max_utterances: int | None = Field(default=None, ge=1)
    download: DownloadConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data):
        if isinstance(data, dict):
            for key in ("train", "valid"):
                if isinstance(data.get(key), str):
                    data = {**data, key: [data[key]]}
        return data


class TrainerConfig(BaseModel):
    model_config = Strict
    output_dir: str = "runs/dm_codec"
    max_epochs: int = Field(default=100, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    lr_generator: float = Field(default=1e-4, gt=0)
    lr_discriminator: float = Field(default=1e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.99)
    lr_decay: float = Field(default=0.98, gt=0, le=1)
    lr_decay_every: Literal["epoch"] | int = "epoch"
    discriminator_warmup_steps: int = Field(default=0, ge=0)
    grad_clip: float | None = None
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    compile: bool = False
    checkpoint_every: int = Field(default=1000, ge=1)
    keep_last: int = Field(default=3, ge=1)
    log_every: int = Field(default=10, ge=1)
    audio_every: int = Field(default=1000, ge=1)
    export_dir: str | None = None


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
