"""The configuration DM-Codec's recipe (``dm_codec_gan``) reads: its sections and their schemas.

Core validates a training config with the recipe's ``config_schema`` (core/train_config.py), so
the sections below are checked like core's own (did-you-mean, the file each key came from), and
core knows none of them:

* ``teachers``: the frozen STT, LM and SM models (roles ``stt``/``lm``/``sm``), the aligner that
  puts LM token features on codec frames, and the teacher cache's settings;
* ``discriminators``: the GAN's discriminators (none: no adversarial step);
* ``trainer`` gains the discriminators' learning rate, warm-up and pass order.

The keys and defaults are those core held before the recipe owned them, so configs, run folders
and checkpoints of earlier versions validate unchanged (docs/training.md, "Recipe sections").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tokenizer_bench.core.config import Component, registered
from tokenizer_bench.core.train_config import TrainConfig, TrainerConfig, loss_roles

#: The teacher roles of DM-Codec (core/interfaces_teachers.py describes each one's contract).
TEACHER_ROLES: tuple[str, ...] = ("stt", "lm", "sm")


class TeachersConfig(BaseModel):
    """Frozen teachers. ``None`` disables one (e.g. ``sm: null`` for the LM-only model)."""

    model_config = ConfigDict(extra="forbid")
    stt: Annotated[Component, registered("teachers")] | None = None
    lm: Annotated[Component, registered("teachers")] | None = None
    sm: Annotated[Component, registered("teachers")] | None = None
    aligner: Annotated[Component, registered("aligners")] = Field(default_factory=lambda: Component(name="timestamps"))
    transcripts: Literal["stt", "dataset"] = Field(
        default="stt", description="'stt' transcribes with the STT teacher (the paper); 'dataset' uses the data's text."
    )
    cache_dir: str = "cache/teachers"
    cache_dtype: Literal["float16", "float32"] = "float16"
    device: str = "auto"


class GanTrainerConfig(TrainerConfig):
    """Core's ``trainer`` section plus the discriminators' optimisation."""

    lr_discriminator: float = Field(default=1e-4, gt=0)
    discriminator_warmup_steps: int = Field(
        default=0, ge=0, description="Steps before the discriminators are trained and used in the generator loss"
    )
    discriminator_passes: Literal["each", "together"] = Field(
        default="each",
        description="'each': run and back-propagate one discriminator at a time, holding one discriminator's "
        "activations instead of all (same gradients: the GAN losses add up over discriminators; needs losses "
        "that take num_terms); 'together': one pass over all discriminators",
    )

    def learning_rates(self) -> tuple[float, ...]:
        return (self.lr_generator, self.lr_discriminator)


class GanDistillationConfig(TrainConfig):
    """A training config of ``dm_codec_gan``: core's sections, ``teachers``, ``discriminators``, a GAN ``trainer``."""

    teachers: TeachersConfig = Field(default_factory=TeachersConfig)
    discriminators: list[Annotated[Component, registered("discriminators")]] = Field(default_factory=list)
    trainer: GanTrainerConfig = Field(default_factory=GanTrainerConfig)

    @model_validator(mode="after")
    def _teachers_for_losses(self) -> "GanDistillationConfig":
        for term, spec in self.terms().items():
            for role in loss_roles(term, spec):
                if role not in TEACHER_ROLES:
                    raise ValueError(f"losses.{term} needs a {role!r} teacher; recipe dm_codec_gan has the teacher "
                                     f"roles {', '.join(TEACHER_ROLES)}")
                if getattr(self.teachers, role) is None:
                    raise ValueError(
                        f"losses.{term} needs the {role} teacher but teachers.{role} is null: configure the "
                        f"{role.upper()} teacher or set losses.{term}.{role}: null"
                    )
        return self
