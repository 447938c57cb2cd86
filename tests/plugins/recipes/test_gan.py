"""Per-discriminator passes give the gradients of one joint pass (the memory saving is free).

The reference here is the textbook computation, written out in the test: all discriminators on
the real and generated audio, eq. 7 (or eq. 6 + eq. 8 with the config's weights) over the flat
lists, and ``torch.autograd.grad``. The public passes of ``plugins.recipes.gan`` instead run one
discriminator at a time and add the parts up, so any error in the ``num_terms`` normalisation or the
surrogate backward shows here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.training import Trainer
from tokenizer_bench.plugins.recipes.gan import (
    DiscriminatorSet,
    GanTerm,
    discriminator_backward,
    generator_adversarial_backward,
)
from tokenizer_bench.plugins.losses.adversarial import (
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

from tokenizer_bench.plugins.recipes import _testing as _tiny


def make_trainer(tmp_path: Path, passes: str) -> Trainer:
    return _tiny.tiny_trainer(tmp_path / passes, discriminator_passes=passes)


def clone_discriminators(trainer: Trainer):
    """Same weights and spectral-norm vectors (deepcopy fails once spectral norm has run)."""
    ref = DiscriminatorSet.build(trainer.cfg.discriminators)
    ref.load_state_dict(trainer.recipe.modules()["discriminators"].state_dict())
    return ref.train()


def audio(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    wav = 0.3 * torch.randn(2, 1, 1600, generator=g)
    wav_hat = (0.3 * torch.randn(2, 1, 1600, generator=g)).requires_grad_(True)
    return wav, wav_hat


@pytest.fixture(scope="module")
def trainer(tmp_path_factory) -> Trainer:
    return make_trainer(tmp_path_factory.mktemp("passes"), "each")


def discriminators(trainer: Trainer) -> DiscriminatorSet:
    return trainer.recipe.modules()["discriminators"]


def groups(trainer: Trainer) -> list[list[str]]:
    return discriminators(trainer).groups(together=False)


def test_each_discriminator_is_its_own_group(trainer):
    assert groups(trainer) == [["mpd"], ["msd"], ["mstft"]]
    # tiny config: mpd 2 periods, msd 2 scales, mstft 2 resolutions -> 6 logits
    assert discriminators(trainer).num_terms(groups(trainer), torch.zeros(1, 1, 1600))[0] == 6
    assert discriminators(trainer).num_terms([["mpd", "msd", "mstft"]], torch.zeros(1, 1, 1600)) == (None, None)


def test_discriminator_gradients_equal_one_joint_pass(trainer):
    wav, wav_hat = audio()
    fake = wav_hat.detach()
    ref = clone_discriminators(trainer)
    ref_params = [p for p in ref.parameters()]
    logits, _ = ref(torch.cat([wav, fake]))
    loss = discriminator_adversarial_loss([x[:2] for x in logits], [x[2:] for x in logits], kind="hinge")
    expected = torch.autograd.grad(loss, ref_params)

    trainer.optimizers["d"].zero_grad(set_to_none=True)
    adversarial = trainer.cfg.losses["adversarial"].build("losses")
    value = discriminator_backward(trainer.accelerator, discriminators(trainer), groups(trainer), adversarial,
                                   wav, fake, accum=1)
    got = [p.grad for p in discriminators(trainer).parameters()]
    assert value == pytest.approx(float(loss.detach()), rel=1e-5)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
    trainer.optimizers["d"].zero_grad(set_to_none=True)


def test_generator_gradient_equals_one_joint_pass(trainer):
    wav, wav_hat = audio(1)
    weights = {"adversarial": 1.0, "feature_matching": 2.0}  # the tiny config's
    ref = clone_discriminators(trainer)
    ref.requires_grad_(False)
    with torch.no_grad():
        _, real_f = ref(wav)
    fake_l, fake_f = ref(wav_hat)
    adv = generator_adversarial_loss(fake_l, kind="hinge")
    fm = feature_matching_loss(real_f, fake_f)
    expected = torch.autograd.grad(weights["adversarial"] * adv + weights["feature_matching"] * fm, wav_hat)[0]

    terms = [GanTerm(k, trainer.cfg.losses[k].build("losses"), trainer.cfg.losses[k].weight) for k in weights]
    assert {t.name: t.weight for t in terms} == weights
    values, grad = generator_adversarial_backward(trainer.accelerator, discriminators(trainer), groups(trainer),
                                                  terms, wav, wav_hat)
    assert float(values["adversarial"]) == pytest.approx(float(adv.detach()), rel=1e-5)
    assert float(values["feature_matching"]) == pytest.approx(float(fm.detach()), rel=1e-5)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-7)
    # the discriminators' parameters were frozen for the pass and are trainable again after it
    assert all(p.requires_grad and p.grad is None for p in discriminators(trainer).parameters())


def test_each_and_together_take_the_same_step(tmp_path):
    """One whole micro-step from identical states: the same D and G gradients (captured just before
    each optimiser step; Adam's first step is nearly scale-free, so weights alone would not do)."""
    results = [_tiny.step_gradients(make_trainer(tmp_path, passes)) for passes in ("each", "together")]
    (g_each, s_each), (g_together, s_together) = results
    assert len(g_each) == len(g_together) == 2  # D then G
    for a, b in zip(g_each, g_together):
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6)
    for key in ("loss/discriminator", "loss/adversarial", "loss/feature_matching", "loss/generator_total"):
        assert s_each[key] == pytest.approx(s_together[key], rel=1e-5)
