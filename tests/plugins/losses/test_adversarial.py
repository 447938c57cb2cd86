"""Hinge / LSGAN adversarial losses and feature matching, by hand."""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.losses.adversarial import (
    AdversarialLoss,
    FeatureMatchingLoss,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

FAKE = [torch.tensor([0.5, 2.0]), torch.tensor([-1.0])]


def test_hinge_generator_by_hand():
    # relu(1-g): [0.5, 0] -> 0.25 ; [2] -> 2
    assert generator_adversarial_loss(FAKE, "hinge", "mean").item() == pytest.approx((0.25 + 2) / 2)
    assert generator_adversarial_loss(FAKE, "hinge", "sum").item() == pytest.approx(2.25)


def test_lsgan_generator_by_hand():
    # (1-g)^2: [0.25, 1] -> 0.625 ; [4] -> 4
    assert generator_adversarial_loss(FAKE, "lsgan", "sum").item() == pytest.approx(4.625)
    assert generator_adversarial_loss(FAKE, "lsgan", "mean").item() == pytest.approx(4.625 / 2)


def test_discriminator_losses_by_hand():
    real = [torch.tensor([0.5, 2.0]), torch.tensor([0.0])]
    fake = [torch.tensor([-2.0, 0.0]), torch.tensor([3.0])]
    # hinge: k0: relu(1-r)=[.5,0]->.25, relu(1+g)=[0,1]->.5 ; k1: 1 + 4 = 5
    assert discriminator_adversarial_loss(real, fake, "hinge", "sum").item() == pytest.approx(0.75 + 5)
    assert discriminator_adversarial_loss(real, fake, "hinge", "mean").item() == pytest.approx((0.75 + 5) / 2)
    # lsgan: k0: (1-r)^2=[.25,1]->.625, g^2=[4,0]->2 ; k1: 1 + 9 = 10
    assert discriminator_adversarial_loss(real, fake, "lsgan", "sum").item() == pytest.approx(2.625 + 10)
    with pytest.raises(ValueError, match="real vs"):
        discriminator_adversarial_loss(real, fake[:1])


def test_feature_matching_relative_and_absolute_by_hand():
    real = [[torch.tensor([1.0, -2.0]), torch.tensor([2.0, 2.0])]]
    fake = [[torch.tensor([0.0, 0.0]), torch.tensor([1.0, 3.0])]]
    # layer 0: mean|r-g| = 1.5, mean|r| = 1.5 -> 1 ; layer 1: 1 / 2 = 0.5
    assert feature_matching_loss(real, fake, "relative", "mean").item() == pytest.approx(0.75)
    assert feature_matching_loss(real, fake, "absolute", "sum").item() == pytest.approx(2.5)
    assert FeatureMatchingLoss("absolute", "mean")(real, fake).item() == pytest.approx(1.25)


def test_feature_matching_gradients_reach_only_the_fake_side():
    r = torch.tensor([1.0, -2.0], requires_grad=True)
    g = torch.tensor([0.5, 0.0], requires_grad=True)
    feature_matching_loss([[r]], [[g]]).backward()
    assert r.grad is None
    # d/dg mean|r-g|/mean|r| = -sign(r-g) / (n * mean|r|) = -[1, -1] / (2 * 1.5)
    assert torch.allclose(g.grad, torch.tensor([-1.0, 1.0]) / 3.0)


def test_feature_matching_refuses_mismatched_maps():
    with pytest.raises(ValueError, match="crop"):
        feature_matching_loss([[torch.zeros(1, 4)]], [[torch.zeros(1, 5)]])
    with pytest.raises(ValueError, match="feature maps"):
        feature_matching_loss([[torch.zeros(1)]], [[torch.zeros(1), torch.zeros(1)]])


def test_modules_registered_and_validated():
    adv = get_registry("losses").build("adversarial", kind="lsgan", reduction="sum")
    assert isinstance(adv, AdversarialLoss)
    assert adv(FAKE).item() == pytest.approx(4.625)
    assert adv.discriminator_loss([torch.ones(3)], [torch.zeros(3)]).item() == 0.0
    assert isinstance(get_registry("losses").build("feature_matching"), FeatureMatchingLoss)
    with pytest.raises(ValueError, match="hinge"):
        AdversarialLoss(kind="wasserstein")
    with pytest.raises(ValueError, match="reduction"):
        FeatureMatchingLoss(reduction="max")
