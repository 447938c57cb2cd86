"""The generic pieces between trainer and recipe: loss terms, their total, the trainable-codec check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.train_config import LossTerm
from tokenizer_bench.core.training.recipe import build_loss_terms, check_trainable, weighted_total


def test_weighted_total_by_hand():
    values = {"mel": torch.tensor(0.1), "waveform": torch.tensor(0.01), "adversarial": torch.tensor(2.0)}
    total, weighted = weighted_total(values, {"mel": 45.0, "waveform": 500.0, "adversarial": 1.0})
    assert total.item() == pytest.approx(45 * 0.1 + 500 * 0.01 + 2.0)
    assert weighted["waveform"].item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match="scalar"):
        weighted_total({"mel": torch.ones(2)}, {"mel": 1.0})
    with pytest.raises(ValueError, match="at least one"):
        weighted_total({}, {})


def test_terms_come_in_a_canonical_order_whatever_the_config_order():
    specs = {
        "feature_matching": LossTerm(name="feature_matching", weight=2.0),
        "waveform": LossTerm(name="waveform_l1", weight=500.0),
        "adversarial": LossTerm(name="adversarial", weight=1.0),
        "commitment": LossTerm(name="commitment", weight=10.0),
        "mel": LossTerm(name="multiscale_mel"),  # no weight: the default table's
    }
    terms = build_loss_terms(specs, {"mel": 45.0})
    # waveforms (by name), quantizer, discriminator logits, discriminator features
    assert [(t.name, t.weight) for t in terms] == [
        ("mel", 45.0), ("waveform", 500.0), ("commitment", 10.0), ("adversarial", 1.0), ("feature_matching", 2.0)]
    assert [t.inputs for t in terms] == ["waveforms", "waveforms", "quantizer", "discriminator_logits",
                                         "discriminator_features"]


def test_a_loss_without_declared_inputs_is_refused():
    from tokenizer_bench.core import plugins
    from tokenizer_bench.core.hookspecs import hookimpl

    class Undeclared(torch.nn.Module):
        def forward(self, x, y):
            return (x - y).abs().mean()

    class Plugin:
        @hookimpl
        def register_losses(self, register):
            register("undeclared_test_loss", Undeclared)

    plugin = Plugin()
    plugins.register_plugin(plugin, name="undeclared-test")
    try:
        with pytest.raises(ConfigError, match="declares no known inputs"):
            build_loss_terms({"odd": LossTerm(name="undeclared_test_loss", weight=1.0)}, {})
    finally:
        plugins.unregister_plugin(plugin)


def test_untrainable_tokenizer_names_what_it_lacks():
    class Frozen:
        sample_rate = 16000
        codebook_size = 8

        def save_pretrained(self, directory):
            pass

    with pytest.raises(ConfigError, match="lacks default_recipe, generator"):
        check_trainable(Frozen(), "frozen")


def test_each_loss_term_is_looked_up_in_the_registry_once(monkeypatch):
    """From the YAML mapping to the built term: validation, teacher roles, inputs and the build
    share the one registry entry validation found."""
    from tokenizer_bench.core.config import validate
    from tokenizer_bench.core.registry import Registry
    from tokenizer_bench.core.train_config import TrainConfig
    from tokenizer_bench.plugins.recipes import _testing as _tiny

    lookups: list[str] = []
    get = Registry.get

    def counting_get(self, name):
        if self.kind == "losses":
            lookups.append(name)
        return get(self, name)

    data = _tiny.tiny_config(Path("corpus"), Path("out"))
    monkeypatch.setattr(Registry, "get", counting_get)
    cfg = validate(data, TrainConfig)
    assert sorted(lookups) == sorted(spec["name"] for spec in data["losses"].values())  # one each
    assert cfg.teacher_roles() == ("lm", "sm")
    terms = build_loss_terms(cfg.terms(), {}, extra={"teacher_features": {"student_dim": 16,
                                                                         "teacher_dims": {"lm": 12, "sm": 10}}})
    assert [t.name for t in terms] == ["mel", "waveform", "commitment", "distillation", "adversarial",
                                       "feature_matching"]
    assert sorted(lookups) == sorted(spec["name"] for spec in data["losses"].values())  # none more
