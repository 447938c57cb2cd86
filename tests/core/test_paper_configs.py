"""Every paper and ablation config against a table written by hand from the paper.

For each packaged config (loaded through the public loader): which RVQ output each teacher is
distilled into, the λs, the teachers' layers and models, and the effective factor on L_LM and
L_SM in the distillation loss, worked out by hand: with both teachers scale·λ (scale 1, eq. 3 and
the official trainer), with one teacher 1 (its eq. 1 loss itself), with none 0. The factors are
then checked on the distillation module the trainer builds from each config, against eq. 1
written out here.

Sources: Table 1 (♠ dm_codec_lm_sm: LM on RVQ-1, SM on the mean of RVQ-1..8; ♣ dm_codec_lm),
Table 3 (λ sweep), Table 4 (RVQ targets), Table 5 (teacher models), Table 6 (teacher layers); sec.
4.3: "unless otherwise stated, RVQ-1 for both LM and SM". The 9th layer: hidden_states[9] as the
paper's text reads it, hidden_states[10] as the official code computes it (``*_9th_official``).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tokenizer_bench.core.config import load_config, packaged_config_names
from tokenizer_bench.core.interfaces import QuantizerOutput
from tokenizer_bench.core.train_config import TrainConfig

BERT, ELECTRA = "bert-base-uncased", "google/electra-base-discriminator"
HUBERT, W2V2 = "facebook/hubert-base-ls960", "facebook/wav2vec2-base-960h"
AVG = "average"

# config -> (LM target, SM target, λ_LM, λ_SM, LM layers, SM layers, LM model, SM model,
#            factor on L_LM, factor on L_SM)
TABLE: dict[str, tuple] = {
    # Table 1
    "dm_codec_lm_sm.yaml": ("rvq1", "rvq1:8", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "dm_codec_lm.yaml": ("rvq1", None, 1.0, 0.0, AVG, None, BERT, None, 1.0, 0.0),
    # Table 3: L_LS = λ_SM·L_SM + λ_LM·L_LM, RVQ-1 for both
    "ablations/lambda/lambda_sm_0.0.yaml": ("rvq1", "rvq1", 1.0, 0.0, AVG, AVG, BERT, HUBERT, 1.0, 0.0),
    "ablations/lambda/lambda_sm_0.1.yaml": ("rvq1", "rvq1", 0.9, 0.1, AVG, AVG, BERT, HUBERT, 0.9, 0.1),
    "ablations/lambda/lambda_sm_0.2.yaml": ("rvq1", "rvq1", 0.8, 0.2, AVG, AVG, BERT, HUBERT, 0.8, 0.2),
    "ablations/lambda/lambda_sm_0.3.yaml": ("rvq1", "rvq1", 0.7, 0.3, AVG, AVG, BERT, HUBERT, 0.7, 0.3),
    "ablations/lambda/lambda_sm_0.4.yaml": ("rvq1", "rvq1", 0.6, 0.4, AVG, AVG, BERT, HUBERT, 0.6, 0.4),
    "ablations/lambda/lambda_sm_0.5.yaml": ("rvq1", "rvq1", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/lambda/lambda_sm_0.6.yaml": ("rvq1", "rvq1", 0.4, 0.6, AVG, AVG, BERT, HUBERT, 0.4, 0.6),
    "ablations/lambda/lambda_sm_0.7.yaml": ("rvq1", "rvq1", 0.3, 0.7, AVG, AVG, BERT, HUBERT, 0.3, 0.7),
    "ablations/lambda/lambda_sm_0.8.yaml": ("rvq1", "rvq1", 0.2, 0.8, AVG, AVG, BERT, HUBERT, 0.2, 0.8),
    "ablations/lambda/lambda_sm_0.9.yaml": ("rvq1", "rvq1", 0.1, 0.9, AVG, AVG, BERT, HUBERT, 0.1, 0.9),
    "ablations/lambda/lambda_sm_1.0.yaml": ("rvq1", "rvq1", 0.0, 1.0, AVG, AVG, BERT, HUBERT, 0.0, 1.0),
    # Table 4: the targets are the ablation itself
    "ablations/rvq/lm_rvq1.yaml": ("rvq1", None, 1.0, 0.0, AVG, None, BERT, None, 1.0, 0.0),
    "ablations/rvq/lm_rvq1-8.yaml": ("rvq1:8", None, 1.0, 0.0, AVG, None, BERT, None, 1.0, 0.0),
    "ablations/rvq/lm_rvq8.yaml": ("rvq8", None, 1.0, 0.0, AVG, None, BERT, None, 1.0, 0.0),
    "ablations/rvq/sm_rvq1.yaml": (None, "rvq1", 0.0, 1.0, None, AVG, None, HUBERT, 0.0, 1.0),
    "ablations/rvq/sm_rvq1-8.yaml": (None, "rvq1:8", 0.0, 1.0, None, AVG, None, HUBERT, 0.0, 1.0),
    "ablations/rvq/sm_rvq8.yaml": (None, "rvq8", 0.0, 1.0, None, AVG, None, HUBERT, 0.0, 1.0),
    "ablations/rvq/lm_rvq1_sm_rvq1.yaml": ("rvq1", "rvq1", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq1_sm_rvq1-8.yaml": ("rvq1", "rvq1:8", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq1_sm_rvq8.yaml": ("rvq1", "rvq8", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq1-8_sm_rvq1.yaml": ("rvq1:8", "rvq1", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq1-8_sm_rvq1-8.yaml": ("rvq1:8", "rvq1:8", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq1-8_sm_rvq8.yaml": ("rvq1:8", "rvq8", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq8_sm_rvq1.yaml": ("rvq8", "rvq1", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq8_sm_rvq1-8.yaml": ("rvq8", "rvq1:8", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/rvq/lm_rvq8_sm_rvq8.yaml": ("rvq8", "rvq8", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    # Table 5: teacher models, RVQ-1 for both
    "ablations/models/lm_bert.yaml": ("rvq1", None, 1.0, 0.0, AVG, None, BERT, None, 1.0, 0.0),
    "ablations/models/lm_electra.yaml": ("rvq1", None, 1.0, 0.0, AVG, None, ELECTRA, None, 1.0, 0.0),
    "ablations/models/lm_bert_sm_hubert.yaml": ("rvq1", "rvq1", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/models/lm_bert_sm_wav2vec2.yaml": ("rvq1", "rvq1", 0.5, 0.5, AVG, AVG, BERT, W2V2, 0.5, 0.5),
    "ablations/models/lm_electra_sm_hubert.yaml": ("rvq1", "rvq1", 0.5, 0.5, AVG, AVG, ELECTRA, HUBERT, 0.5, 0.5),
    "ablations/models/lm_electra_sm_wav2vec2.yaml": ("rvq1", "rvq1", 0.5, 0.5, AVG, AVG, ELECTRA, W2V2, 0.5, 0.5),
    # Table 6: teacher layers, RVQ-1 for both; ♠ rows and ♣ (LM-only) rows
    "ablations/layers/layer_average.yaml": ("rvq1", "rvq1", 0.5, 0.5, AVG, AVG, BERT, HUBERT, 0.5, 0.5),
    "ablations/layers/layer_last.yaml": ("rvq1", "rvq1", 0.5, 0.5, "last", "last", BERT, HUBERT, 0.5, 0.5),
    "ablations/layers/layer_9th.yaml": ("rvq1", "rvq1", 0.5, 0.5, 9, 9, BERT, HUBERT, 0.5, 0.5),
    "ablations/layers/layer_9th_official.yaml": ("rvq1", "rvq1", 0.5, 0.5, 10, 10, BERT, HUBERT, 0.5, 0.5),
    "ablations/layers/lm_layer_average.yaml": ("rvq1", None, 1.0, 0.0, AVG, None, BERT, None, 1.0, 0.0),
    "ablations/layers/lm_layer_last.yaml": ("rvq1", None, 1.0, 0.0, "last", None, BERT, None, 1.0, 0.0),
    "ablations/layers/lm_layer_9th.yaml": ("rvq1", None, 1.0, 0.0, 9, None, BERT, None, 1.0, 0.0),
    "ablations/layers/lm_layer_9th_official.yaml": ("rvq1", None, 1.0, 0.0, 10, None, BERT, None, 1.0, 0.0),
    # baseline (the λs are the base's and unused)
    "ablations/no_distillation.yaml": (None, None, 0.5, 0.5, None, None, None, None, 0.0, 0.0),
}

# RVQ target -> 0-based layer outputs averaged, by hand
LAYERS_OF = {"rvq1": [0], "rvq8": [7], "rvq1:8": list(range(8))}


def _load(name: str, *overrides: str) -> TrainConfig:
    return load_config(name, TrainConfig, overrides)


def _distillation(c: TrainConfig) -> SimpleNamespace | None:
    """The arguments of the config's distillation term (None: the config has none)."""
    spec = c.terms().get("distillation")
    if spec is None:
        return None
    assert spec.name == "distillation"
    return SimpleNamespace(**spec.kwargs)


def _target(d, key):
    t = getattr(d, key) if d is not None else None
    return None if t is None else t["target"]


def build_distillation(c: TrainConfig, student_dim: int, dims: dict[str, int]):
    """The distillation module as the recipe builds it, or None without a distillation term."""
    spec = c.terms().get("distillation")
    return None if spec is None else spec.build("losses", student_dim=student_dim, teacher_dims=dims)


def _qout(layers: list[torch.Tensor]) -> QuantizerOutput:
    return QuantizerOutput(quantized=layers[0], codes=torch.zeros(1), commit_loss=torch.zeros(()), layer_outputs=layers)


def _teacher(c, key, arg):
    t = getattr(c.teachers, key)
    return None if t is None else t.kwargs.get(arg)


def _eq1(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Eq. 1 per utterance, batch mean: −(1/D) Σ_d log σ(cos over time of dimension d)."""
    cos = (student * teacher).sum(1) / (student.norm(dim=1) * teacher.norm(dim=1))  # [B, D]
    return (-torch.log(torch.sigmoid(cos))).mean(1).mean(0)


def test_table_covers_every_paper_and_ablation_config():
    # the paper configs at the top level and every ablation (demo and quality/ are not paper settings)
    names = {n for n in packaged_config_names() if n.startswith("ablations/") or n.startswith("dm_codec_")}
    assert names == set(TABLE), f"missing rows: {sorted(names - set(TABLE))}; stale rows: {sorted(set(TABLE) - names)}"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_config_matches_the_table(name):
    lm_t, sm_t, lam_lm, lam_sm, lm_layers, sm_layers, lm_model, sm_model, _, _ = TABLE[name]
    c = _load(name)
    d = _distillation(c)
    assert (_target(d, "lm"), _target(d, "sm")) == (lm_t, sm_t)
    if d is not None:  # the baseline has no distillation term (its λs would be unused)
        assert (d.lambda_lm, d.lambda_sm) == (pytest.approx(lam_lm), pytest.approx(lam_sm))
        assert d.scale == 1.0  # eq. 3 / official trainer everywhere
        assert c.losses["distillation"].weight == 120.0  # the official trainer's weight
    assert (_teacher(c, "lm", "layers"), _teacher(c, "sm", "layers")) == (lm_layers, sm_layers)
    assert (_teacher(c, "lm", "model"), _teacher(c, "sm", "model")) == (lm_model, sm_model)
    # a teacher that is configured is distilled, and vice versa
    assert (c.teachers.lm is not None, c.teachers.sm is not None) == (lm_t is not None, sm_t is not None)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_effective_factors_of_the_built_loss(name):
    lm_t, sm_t, *_, f_lm, f_sm = TABLE[name]
    c = _load(name)
    torch.manual_seed(1)
    student_dim, dim, T = 6, 4, 7
    dims = {k: dim for k, t in (("lm", lm_t), ("sm", sm_t)) if t is not None}
    module = build_distillation(c, student_dim, dims)
    if not dims:
        assert module is None and (f_lm, f_sm) == (0.0, 0.0)
        return
    assert set(module.targets) == set(dims)
    layers = [torch.randn(2, student_dim, T) for _ in range(8)]  # RVQ layer outputs [B, D, T]
    feats = {k: torch.randn(2, T, dim) for k in dims}
    expected, hand = 0.0, {}
    for key, target, factor in (("lm", lm_t, f_lm), ("sm", sm_t, f_sm)):
        if target is None:
            continue
        chosen = torch.stack([layers[i] for i in LAYERS_OF[target]]).mean(0).transpose(1, 2)  # [B, T, Ds]
        lin = module.projection_for(key).linear
        hand[key] = _eq1(chosen @ lin.weight.T + lin.bias, feats[key])
        expected += factor * hand[key].item()
    with torch.no_grad():
        total, parts = module(_qout(layers), feats)
    for key in dims:
        assert parts[f"distill_{key}"].item() == pytest.approx(hand[key].item(), rel=1e-5)
    assert total.item() == pytest.approx(expected, rel=1e-5)


def test_scale_default_and_eq11_literal_option():
    import inspect

    from tokenizer_bench.plugins.losses.distillation import Distillation

    assert inspect.signature(Distillation).parameters["scale"].default == 1.0
    c = _load("dm_codec_lm_sm", "losses.distillation.scale=0.5")  # eq. 11 read literally: ¼(L_SM + L_LM) at ½/½
    module = build_distillation(c, 6, {"lm": 4, "sm": 4})
    layers = [torch.randn(1, 6, 5) for _ in range(8)]
    with torch.no_grad():
        total, parts = module(_qout(layers), {"lm": torch.randn(1, 5, 4), "sm": torch.randn(1, 5, 4)})
    quarter = 0.25 * parts["distill_lm"].item() + 0.25 * parts["distill_sm"].item()
    assert total.item() == pytest.approx(quarter, rel=1e-6)
