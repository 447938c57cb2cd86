"""A recipe declares its own configuration, and core validates and trains it with no change of its own.

The recipe here is a third party's in all but packaging: registered through the same hooks
(``register_recipes``, ``register_losses``, ``register_teachers``) as a package would be. It has no
discriminator and a fourth teacher role, ``emotion``, that DM-Codec's recipe does not know: its
``config_schema`` declares a ``teachers`` section with four roles, its loss distils the first RVQ
layer toward the ``emotion`` features, and its ``open_features`` supplies those features.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Annotated, Any

import pytest
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tokenizer_bench import hookimpl
from tokenizer_bench.core import plugins
from tokenizer_bench.core.config import Component, load_config, registered
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import QUANTIZER, TEACHER_FEATURES, WAVEFORMS
from tokenizer_bench.core.train_config import TrainConfig, loss_roles
from tokenizer_bench.core.training import Trainer, train
from tokenizer_bench.core.training import checkpoint as ckpt
from tokenizer_bench.core.interfaces import FeatureSource
from tokenizer_bench.core.training.recipe import OptimizerGroup, StepResult, build_loss_terms, weighted_total
from tokenizer_bench.plugins.recipes import _testing as _tiny

EMOTION_DIM = 5


class EmotionTeachers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stt: Annotated[Component, registered("teachers")] | None = None
    lm: Annotated[Component, registered("teachers")] | None = None
    sm: Annotated[Component, registered("teachers")] | None = None
    emotion: Annotated[Component, registered("teachers")] | None = None


class EmotionConfig(TrainConfig):
    teachers: EmotionTeachers = Field(default_factory=EmotionTeachers)

    @model_validator(mode="after")
    def _teachers_for_losses(self) -> "EmotionConfig":
        for term, spec in self.terms().items():
            for role in loss_roles(term, spec):
                if getattr(self.teachers, role, None) is None:
                    raise ValueError(f"losses.{term} needs teachers.{role}")
        return self


class EmotionTeacher:
    """Registered so that ``teachers.emotion`` names a teacher; never built (the recipe's features stand in)."""

    role = "emotion"

    def __init__(self, model: str = "fake-emotion") -> None:
        self.model = model


class EmotionDistillation(torch.nn.Module):
    """``teacher_features`` loss: MSE between a projection of RVQ-1 and the emotion features, on masked frames."""

    inputs = TEACHER_FEATURES

    def __init__(self, student_dim: int | None = None, teacher_dims: dict[str, int] | None = None) -> None:
        super().__init__()  # the sizes come from the recipe (a config sets neither)
        assert student_dim is not None and teacher_dims is not None
        self.projection = torch.nn.Linear(student_dim, teacher_dims["emotion"])

    @classmethod
    def roles(cls) -> tuple[str, ...]:
        return ("emotion",)

    def forward(self, qout, features):
        student = self.projection(qout.layer_outputs[0].transpose(1, 2))  # [B, T, D]
        mask = features["emotion_mask"][..., : student.shape[1]].float()
        err = ((student - features["emotion"][:, : student.shape[1]]) ** 2).mean(-1)
        value = (err * mask).sum() / mask.sum().clamp(min=1)
        return value, {"emotion_mse": value.detach()}


def emotion_features(utt_id: str, frames: int) -> dict[str, torch.Tensor]:
    """Deterministic features of an utterance (seeded by its id), the recipe's stand-in for a teacher."""
    g = torch.Generator().manual_seed(zlib.crc32(utt_id.encode()))
    return {"emotion": torch.randn(frames, EMOTION_DIM, generator=g),
            "emotion_mask": torch.ones(frames, dtype=torch.bool)}


class EmotionRecipe:
    """The generator's step on the reconstruction, quantizer and emotion terms; no discriminator."""

    config_schema = EmotionConfig

    def __init__(self, cfg: EmotionConfig) -> None:
        self.cfg = cfg
        self.seen: list[tuple[int, ...]] = []  # the emotion batches' shapes, for the test

    def feature_roles(self) -> tuple[str, ...]:
        return self.cfg.teacher_roles()

    def open_features(self, utterances, hop_length, *, is_main, wait, say) -> FeatureSource:
        import soundfile as sf

        frames = {u.id: -(-sf.info(str(u.path)).frames // hop_length) for u in utterances}
        return FeatureSource(lambda uid: emotion_features(uid, frames[uid]), None, list(utterances))

    def build(self, codec: Any, feature_dims: dict[str, int]) -> None:
        self.generator = codec.generator.train()
        self.terms = build_loss_terms(self.cfg.terms(), {}, extra={TEACHER_FEATURES: {
            "student_dim": int(self.generator.quantizer.dimension), "teacher_dims": dict(feature_dims)}})
        self.weights = {t.name: t.weight for t in self.terms}
        self.teacher = torch.nn.ModuleDict({t.name: t.loss for t in self.terms if t.inputs == TEACHER_FEATURES})

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator, "teacher_losses": self.teacher}

    def optimizers(self) -> list[OptimizerGroup]:
        params = torch.nn.ModuleList([self.generator, self.teacher])
        return [OptimizerGroup("g", "generator", params, self.cfg.trainer.lr_generator, distributed=False)]

    def micro_step(self, trainer, batch: dict[str, Any], sync: bool, accum: int) -> StepResult:
        dev = trainer.accelerator.device
        wav = batch["wav"].to(dev)
        feats = {k: batch[k].to(dev) for k in ("emotion", "emotion_mask")}
        self.seen.append(tuple(feats["emotion"].shape))
        wav_hat, qout = self.generator(wav)
        wav_hat = wav_hat[..., : wav.shape[-1]]
        values = {}
        for t in self.terms:
            if t.inputs == WAVEFORMS:
                values[t.name] = t.loss(wav, wav_hat)
            elif t.inputs == QUANTIZER:
                values[t.name] = t.loss(qout)
            else:
                values[t.name] = t.loss(qout, feats)[0]
        total, weighted = weighted_total(values, self.weights)
        trainer.accelerator.backward(total / accum)
        if sync:
            trainer.clip(self.generator.parameters())
            trainer.step_optimizer("g")
        scalars = {f"loss/{k}": v.detach() for k, v in values.items()}
        scalars.update({f"weighted/{k}": v.detach() for k, v in weighted.items()})
        return StepResult(scalars, wav.detach(), wav_hat.detach(), codes=qout.codes)

    def validation_loss(self, wav, wav_hat):
        term = next(t for t in self.terms if t.inputs == WAVEFORMS)
        return term.name, term.loss(wav, wav_hat)


class Plugin:
    @hookimpl
    def register_recipes(self, register):
        register("emotion_test", EmotionRecipe)

    @hookimpl
    def register_losses(self, register):
        register("emotion_test_distillation", EmotionDistillation)

    @hookimpl
    def register_teachers(self, register):
        register("emotion_test_teacher", EmotionTeacher)


@pytest.fixture()
def plugin():
    p = Plugin()
    plugins.register_plugin(p, name="emotion-test-recipe")
    try:
        yield p
    finally:
        plugins.unregister_plugin(p)


def _config(tmp_path: Path) -> tuple[Path, Path]:
    corpus = _tiny.make_corpus(tmp_path)
    data = _tiny.tiny_config(corpus, tmp_path, max_steps=3, checkpoint_every=3)
    del data["discriminators"]
    data["model"]["tokenizer"] = "codec"  # whose default recipe is dm_codec_gan: `recipe:` picks ours
    data["model"].pop("semantic_dimension")
    data["recipe"] = {"name": "emotion_test"}
    data["teachers"] = {"emotion": {"name": "emotion_test_teacher"}}
    data["losses"] = {k: data["losses"][k] for k in ("mel", "waveform", "commitment")}
    data["losses"]["emotion"] = {"name": "emotion_test_distillation", "weight": 3.0}
    path = tmp_path / "emotion.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, Path(data["trainer"]["output_dir"])


def test_the_recipe_sections_are_validated_as_cores(plugin, tmp_path):
    path, _ = _config(tmp_path)
    cfg = load_config(path, TrainConfig)
    assert type(cfg) is EmotionConfig and cfg.teachers.emotion.name == "emotion_test_teacher"
    assert cfg.teacher_roles() == ("emotion",)
    # a typo in the recipe's section: the file, the key path and the keys allowed there
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {path.name}\nteachers:\n  emotoin: {{name: emotion_test_teacher}}\n")
    with pytest.raises(ConfigError, match=rf"{child}: teachers.emotoin: unknown key; allowed keys here: "
                                          "emotion, lm, sm, stt"):
        load_config(child, TrainConfig)
    with pytest.raises(ConfigError, match="unknown teacher 'emotion_teacher'"):
        load_config(path, TrainConfig, ["teachers.emotion={name: emotion_teacher}"])
    # DM-Codec's sections and GAN keys are not this recipe's
    with pytest.raises(ConfigError, match=r"unknown section.s. discriminators .*of core and recipe 'emotion_test'"):
        load_config(path, TrainConfig, ["discriminators=[{name: mpd}]"])
    with pytest.raises(ConfigError, match=r"trainer.lr_discriminator: unknown key; allowed keys here: .*lr_generator"):
        load_config(path, TrainConfig, ["trainer.lr_discriminator=0.001"])
    # keys core held for every recipe before DM-Codec's declared them: accepted at their former default
    # (every earlier run folder's config.yaml lists them), dropped, since no recipe of ours reads them
    kept = load_config(path, TrainConfig, ["discriminators=[]", "trainer.lr_discriminator=1e-4",
                                           "trainer.discriminator_passes=each"])
    assert "discriminators" not in kept.model_dump() and "lr_discriminator" not in kept.trainer.model_dump()
    with pytest.raises(ConfigError, match="losses.emotion needs teachers.emotion"):
        load_config(path, TrainConfig, ["teachers.emotion=null"])


def test_a_fourth_teacher_role_without_discriminators_trains(plugin, tmp_path):
    path, run = _config(tmp_path)
    before = Trainer(load_config(path, TrainConfig), output_dir=tmp_path / "probe")
    start = {k: v.clone() for k, v in before.recipe.teacher.state_dict().items()}
    summary = train(path)
    assert summary["step"] == 3
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss/emotion" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    for r in steps:
        assert r["weighted/emotion"] == pytest.approx(3.0 * r["loss/emotion"], rel=1e-6)
        assert r["weighted/mel"] == pytest.approx(45.0 * r["loss/mel"], rel=1e-6)
    state = ckpt.load_trainer_state(ckpt.latest_checkpoint(run))
    assert {"generator", "teacher_losses"} <= set(state) and "discriminators" not in state
    # the emotion projection was trained: [5, 16] (teacher size from the features, student size from RVQ)
    trained = state["teacher_losses"]
    assert tuple(trained["emotion.projection.weight"].shape) == (EMOTION_DIM, 16)
    assert not torch.equal(trained["emotion.projection.weight"], start["emotion.projection.weight"])
    # the run's config records the recipe's section and validates again (export reads it)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["teachers"]["emotion"] == {"name": "emotion_test_teacher"} and "discriminators" not in saved
