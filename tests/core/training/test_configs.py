"""The packaged training configs: paper settings, ablation overrides, the offline demo."""

from __future__ import annotations

import pytest

from tokenizer_bench.core.config import load_config, packaged_config_names, validate
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.train_config import TrainConfig, loss_roles
from tokenizer_bench.core.training.optim import decay_due

OFFICIAL_WEIGHTS = {"mel": 45.0, "waveform": 500.0, "commitment": 10.0, "distillation": 120.0,
                    "feature_matching": 2.0, "adversarial": 1.0}


def load(name: str, *overrides: str) -> TrainConfig:
    return load_config(name, TrainConfig, overrides)


def distillation(c: TrainConfig) -> dict:
    """The distillation term's arguments ({} when the config has no such term)."""
    spec = c.terms().get("distillation")
    return spec.kwargs if spec is not None else {}


def roles(c: TrainConfig) -> tuple[str, ...]:
    """Teacher roles the config's loss terms need (what the teacher cache must hold)."""
    assert c.teacher_roles() == tuple(r for name, spec in c.terms().items() for r in loss_roles(name, spec))
    return c.teacher_roles()


def weights(c: TrainConfig) -> dict[str, float]:
    return {name: spec.weight for name, spec in c.terms().items()}


def build_distillation(c: TrainConfig, student_dim: int, dims: dict[str, int]):
    """The distillation loss module as the recipe builds it (sizes passed at build time)."""
    return c.losses["distillation"].build("losses", student_dim=student_dim, teacher_dims=dims)


def test_every_packaged_config_validates():
    names = packaged_config_names()
    assert {"dm_codec_lm.yaml", "dm_codec_lm_sm.yaml", "demo.yaml", "ablations/no_distillation.yaml"} <= set(names)
    for name in names:
        load(name)  # raises ConfigError naming the file/key on any problem


def test_paper_lm_sm_config():
    c = load("dm_codec_lm_sm")
    enc, q, dec = c.model.encoder.kwargs, c.model.quantizer.kwargs, c.model.decoder.kwargs
    assert enc["n_filters"] == 64 and enc["strides"] == [8, 5, 4, 2] and enc["dimension"] == 1024
    assert enc["bidirectional"] is True and enc["lstm_layers"] == 2 and dec["bidirectional"] is False
    assert (q["n_q"], q["codebook_size"], q["dimension"]) == (8, 1024, 1024)
    assert c.model.sample_rate == 16000
    assert c.teachers.stt.kwargs["model"] == "facebook/wav2vec2-base-960h"
    assert c.teachers.lm.kwargs["model"] == "bert-base-uncased" and c.teachers.lm.kwargs["layers"] == "average"
    assert c.teachers.sm.kwargs["model"] == "facebook/hubert-base-ls960" and c.teachers.sm.kwargs["layers"] == "average"
    d = distillation(c)
    assert (d["lm"]["target"], d["sm"]["target"], d["lambda_lm"], d["lambda_sm"], d["scale"]) == (
        "rvq1", "rvq1:8", 0.5, 0.5, 1.0)
    assert [x.name for x in c.discriminators] == ["mpd", "msd", "mstft"]
    assert weights(c) == OFFICIAL_WEIGHTS
    assert c.losses["commitment"].name == "commitment" and c.losses["distillation"].name == "distillation"
    # eq. 5 as audiocraft implements it, its recipe's settings (chosen by the small-scale benchmark)
    assert c.losses["mel"].name == "audiocraft_mel"
    assert c.losses["mel"].kwargs == {"normalized": True, "alphas": "one", "f_min": 64}
    assert c.losses["adversarial"].kwargs == {"kind": "hinge", "reduction": "sum"}  # official: sums
    assert c.losses["feature_matching"].kwargs == {"kind": "relative", "reduction": "sum"}
    assert c.data.segment_seconds == 3.0 and c.data.train == ["data/LibriSpeech/train-clean-100"]
    assert c.data.crop == "fixed"  # the paper crops every file once
    assert c.data.download.subsets == ["train-clean-100"]
    t = c.trainer
    assert (t.lr_generator, t.lr_discriminator, t.lr_decay, t.lr_decay_every) == (1e-4, 1e-4, 0.98, "epoch")
    assert c.seed == 42


def test_paper_lm_config_is_lm_only():
    c = load("dm_codec_lm.yaml")
    assert c.teachers.sm is None and distillation(c)["sm"] is None
    assert distillation(c)["lm"]["target"] == "rvq1" and roles(c) == ("lm",)
    assert c.teachers.lm.kwargs["model"] == "bert-base-uncased"
    assert weights(c) == OFFICIAL_WEIGHTS


def test_lambda_sweep_files():
    for i in range(11):
        c = load(f"ablations/lambda/lambda_sm_{i / 10:.1f}.yaml")
        assert distillation(c)["lambda_sm"] == pytest.approx(i / 10)
        assert distillation(c)["lambda_lm"] == pytest.approx(1 - i / 10)
        assert roles(c) == ("lm", "sm")
        assert c.trainer.output_dir.endswith(f"lambda_sm_{i / 10:.1f}")


def test_rvq_target_models_and_layer_ablations():
    c = load("ablations/rvq/lm_rvq8_sm_rvq1-8.yaml")
    assert (distillation(c)["lm"]["target"], distillation(c)["sm"]["target"]) == ("rvq8", "rvq1:8")
    c = load("ablations/rvq/sm_rvq8.yaml")
    assert roles(c) == ("sm",) and distillation(c)["sm"]["target"] == "rvq8" and c.teachers.lm is None
    c = load("ablations/rvq/lm_rvq1-8.yaml")
    assert roles(c) == ("lm",) and distillation(c)["lm"]["target"] == "rvq1:8"
    assert load("ablations/models/lm_electra.yaml").teachers.lm.kwargs["model"] == "google/electra-base-discriminator"
    c = load("ablations/models/lm_bert_sm_wav2vec2.yaml")
    assert c.teachers.sm.kwargs["model"] == "facebook/wav2vec2-base-960h"
    assert c.teachers.sm.name == "sm_hf" and c.teachers.lm.kwargs["model"] == "bert-base-uncased"
    for tag, value in (("average", "average"), ("last", "last"), ("9th", 9)):
        c = load(f"ablations/layers/layer_{tag}.yaml")
        assert c.teachers.lm.kwargs["layers"] == value and c.teachers.sm.kwargs["layers"] == value
        assert c.teachers.lm.kwargs["model"] == "bert-base-uncased"  # only the layer changed
    c = load("ablations/no_distillation.yaml")
    assert roles(c) == () and "distillation" not in c.terms() and c.teachers.lm is None and c.teachers.sm is None
    assert weights(c) == {k: v for k, v in OFFICIAL_WEIGHTS.items() if k != "distillation"}


def test_demo_config_is_offline_and_small():
    c = load("demo.yaml")
    assert c.teachers.stt.name == "stt_faster_whisper" and "model" not in c.teachers.stt.kwargs  # bundled tiny.en
    assert c.teachers.lm.kwargs["model"] == "minilm-offline"
    assert c.teachers.sm is None and roles(c) == ("lm",)
    assert c.data.demo_corpus is not None and c.data.train == ["data/demo"]
    assert c.model.encoder.name == "mel_encoder" and c.model.decoder.name == "istft_decoder"  # the fast family
    assert c.model.encoder.kwargs["dimension"] <= 256 and c.discriminators == []


def test_schema_errors_name_the_problem():
    base = load("dm_codec_lm_sm").model_dump(mode="json")
    losses = base["losses"]
    bad = dict(base, losses={**losses, "distillation": {**losses["distillation"], "lambda_sm": 0.3}})
    with pytest.raises(ConfigError, match="sum to 1"):
        validate(bad, TrainConfig)
    bad = dict(base, teachers={**base["teachers"], "sm": None})
    with pytest.raises(ConfigError, match="teachers.sm is null"):
        validate(bad, TrainConfig)
    bad = dict(base, losses={**losses, "mel": {**losses["mel"], "name": "no_such_loss"}})
    with pytest.raises(ConfigError, match="no_such_loss"):
        validate(bad, TrainConfig)
    with pytest.raises(ConfigError, match="lr_decay_every"):
        load("dm_codec_lm_sm", "trainer.lr_decay_every=0")
    with pytest.raises(ConfigError, match="unknown key"):
        load("dm_codec_lm_sm", "trainer.learning_rate=1")


def test_distillation_module_from_config():
    c = load("dm_codec_lm_sm")
    module = build_distillation(c, 1024, {"lm": 768, "sm": 768})
    assert list(module.targets) == ["lm", "sm"] and list(module.projections) == ["shared"]  # the paper's single W
    w = module.projection_for("lm").linear.weight
    assert tuple(w.shape) == (768, 1024)
    # teachers of different sizes get one projection each
    module = build_distillation(c, 128, {"lm": 384, "sm": 768})
    assert tuple(module.projection_for("lm").linear.weight.shape) == (384, 128)
    assert tuple(module.projection_for("sm").linear.weight.shape) == (768, 128)
    module = build_distillation(load("dm_codec_lm"), 1024, {"lm": 768})
    assert list(module.targets) == ["lm"] and str(module.targets["lm"]) == "rvq1"
    assert "distillation" not in load("ablations/no_distillation.yaml").terms()


def test_lr_decay_schedule_points():
    per_epoch = load("dm_codec_lm_sm").trainer
    assert decay_due(per_epoch, epoch_ended=True) and not decay_due(per_epoch, step=100)
    every = load("dm_codec_lm_sm", "trainer.lr_decay_every=100").trainer
    assert decay_due(every, step=200) and not decay_due(every, step=150)
    assert not decay_due(every, epoch_ended=True)


def test_old_config_form_is_a_clear_error_naming_the_file(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("extends: dm_codec_lm_sm.yaml\ndistillation: {lambda_sm: 0.3, lambda_lm: 0.7}\n")
    sections = r"unknown section.s. distillation \(sections: name, seed, model, recipe.*an older config form"
    with pytest.raises(ConfigError, match=sections) as err:
        load(str(old))
    assert str(old) in str(err.value) and "losses: {<term>: {name:" in str(err.value)
    assert "migrate-config" in str(err.value)
    old.write_text("extends: dm_codec_lm_sm.yaml\nlosses: {weights: {mel: 30.0}}\n")
    with pytest.raises(ConfigError, match=r"losses.weights"):
        load(str(old))


def test_loss_term_weight_falls_back_to_the_recipe_default():
    c = load("dm_codec_lm_sm", "losses.mel.weight=null")
    assert c.losses["mel"].weight is None  # the recipe fills in its default (45, the official trainer's)
    from tokenizer_bench.core.training.recipe import build_loss_terms
    from tokenizer_bench.plugins.recipes.gan_distillation import DEFAULT_WEIGHTS

    terms = build_loss_terms({"mel": c.losses["mel"]}, DEFAULT_WEIGHTS)
    assert [(t.name, t.weight) for t in terms] == [("mel", 45.0)]
    with pytest.raises(ConfigError, match="no weight"):
        build_loss_terms({"mel": c.losses["mel"]}, {})


def test_recipe_is_named_and_checked():
    c = load("demo.yaml", "recipe={name: dm_codec_gan, validate_on: waveform}")
    assert c.recipe.name == "dm_codec_gan" and c.recipe.kwargs == {"validate_on": "waveform"}
    with pytest.raises(ConfigError, match="unknown recipe 'no_such_recipe'"):
        load("demo.yaml", "recipe={name: no_such_recipe}")
    with pytest.raises(ConfigError, match="unknown argument"):
        load("demo.yaml", "recipe={name: dm_codec_gan, learning_rate: 1}")


#: issue #24's levers, each a ten-line config on the fast family's reference row: what each must set
LEVERS = {
    "quality/fast/qdrop.yaml": lambda c: c.model.quantizer.kwargs["quantizer_dropout"] == 0.5,
    "quality/fast/factorised.yaml": lambda c: (c.model.quantizer.kwargs["codebook_dim"],
                                               c.model.quantizer.kwargs["lookup"]) == (8, "cosine"),
    "quality/fast/snake.yaml": lambda c: (c.model.encoder.kwargs["activation"],
                                          c.model.decoder.kwargs["activation"]) == ("snake", "snake"),
    "quality/fast/mrstft.yaml": lambda c: (c.losses["stft"].name, c.losses["stft"].weight)
                                          == ("multi_resolution_stft", 10.0),
}


@pytest.mark.parametrize("name", sorted(LEVERS))
def test_fast_family_levers_resolve_and_train_one_step(name, tmp_path):
    from tokenizer_bench.benchmarks.quality.variants import resolve_variant
    from tokenizer_bench.core.training import train
    from tokenizer_bench.plugins.recipes import _testing as _tiny

    c = load(name)
    ref = load("quality/fast/no_distillation.yaml")
    assert LEVERS[name](c) and c.model.quantizer.kwargs["n_q"] == 8  # the lever, on the reference codec
    assert set(c.terms()) - set(ref.terms()) <= {"stft"} and not c.discriminators
    variant = resolve_variant(name)
    assert variant.name.startswith("fast_") and variant.reference == "fast_no_distillation"
    corpus = _tiny.make_corpus(tmp_path, seconds=(0.2,))
    small = [f"model.{part}.{k}={v}" for part in ("encoder", "decoder")
             for k, v in (("dim", 16), ("hidden", 32), ("num_layers", 1))]
    summary = train(name, [f"data.train=[{corpus}]", f"data.valid=[{corpus}]", "data.segment_seconds=0.2",
                           "data.batch_size=2", "model.quantizer.codebook_size=16", "model.quantizer.kmeans_iters=2",
                           "model.decoder.post_layers=1", *small, "trainer.max_steps=1", "trainer.export=false"],
                    output_dir=tmp_path / "run")
    assert summary["step"] == 1
