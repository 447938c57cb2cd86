"""Weighted total (eq. 10) with the official default weights."""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.losses.total import DEFAULT_WEIGHTS, WeightedSum, weighted_total


def test_defaults_are_the_official_weights():
    assert DEFAULT_WEIGHTS == {"mel": 45, "waveform": 500, "commitment": 10, "distillation": 120,
                               "feature_matching": 2, "adversarial": 1}


def test_weighted_total_by_hand_and_overrides():
    terms = {"mel": torch.tensor(0.1), "waveform": torch.tensor(0.01), "adversarial": torch.tensor(2.0)}
    total, weighted = weighted_total(terms)
    assert total.item() == pytest.approx(45 * 0.1 + 500 * 0.01 + 2.0)
    assert weighted["waveform"].item() == pytest.approx(5.0)
    total, _ = get_registry("losses").build("weighted_sum", weights={"mel": 1.0})(terms)
    assert total.item() == pytest.approx(0.1 + 5.0 + 2.0)


def test_unknown_names_list_known_terms():
    with pytest.raises(ValueError, match="known terms: mel, waveform, commitment"):
        WeightedSum(weights={"mell": 1.0})
    with pytest.raises(ValueError, match="unknown loss term 'spectral'"):
        weighted_total({"spectral": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="scalar"):
        weighted_total({"mel": torch.ones(2)})
