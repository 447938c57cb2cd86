"""The plugin's recipe trains through a config's ``recipe:`` section, inside the project's trainer.

Reference: with no discriminators and no teacher terms, the built-in ``dm_codec_gan`` step is a
generator step on the same terms, so both recipes must give the same losses and the same update.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.config import load_config
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer, train

CONFIG = Path(__file__).with_name("tiny_stft.yaml")
RECIPE = "recipe={name: reconstruction_only}"


def _overrides(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [f"data.train=[{corpus}]", f"trainer.output_dir={out}", *extra]


def test_trains_checkpoints_and_resumes(corpus, tmp_path):
    run = tmp_path / "run"
    summary = train(CONFIG, _overrides(corpus, run, RECIPE, "trainer.checkpoint_every=1"))
    assert summary["step"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        listed = sorted(k for k in r if k.startswith("weighted/"))
        assert listed == ["weighted/commitment", "weighted/stft", "weighted/waveform"]
        assert r["loss/generator_total"] == pytest.approx(sum(r[k] for k in listed), rel=1e-5)
        assert r["weighted/waveform"] == pytest.approx(500.0 * r["loss/waveform"], rel=1e-6)  # weights of the YAML
    # the trainer's checkpoint holds the recipe's modules: a resumed run continues from step 2
    resumed = Trainer(load_config(CONFIG, TrainConfig, _overrides(corpus, run, RECIPE, "trainer.max_steps=3")),
                      resume=True)
    assert resumed.step == 2 and resumed.fit()["step"] == 3


def _one_step(corpus: Path, out: Path, *extra: str) -> tuple[dict[str, float], list[torch.Tensor]]:
    trainer = Trainer(load_config(CONFIG, TrainConfig, _overrides(corpus, out, *extra)))
    scalars = trainer.train_step(next(iter(trainer.data.loader(0))))
    return scalars, [p.detach().clone() for p in trainer.tokenizer.generator.parameters()]


def test_same_step_as_the_built_in_recipe_without_discriminators(corpus, tmp_path):
    ours, after_ours = _one_step(corpus, tmp_path / "ours", RECIPE)
    ref, after_ref = _one_step(corpus, tmp_path / "ref", "recipe={name: dm_codec_gan}")
    for key in ("loss/waveform", "loss/commitment", "loss/stft", "loss/generator_total", "grad_norm/generator"):
        assert ours[key] == pytest.approx(ref[key], rel=1e-6), key
    assert all(torch.allclose(a, b, rtol=1e-6, atol=1e-9) for a, b in zip(after_ours, after_ref))


def test_refuses_terms_it_does_not_compute(corpus, tmp_path):
    # the recipe declares no discriminators section: the config is refused when it is read
    gan = ["discriminators=[{name: mpd, periods: [2], channels: [4]}]",
           "losses.adversarial={name: adversarial, weight: 1}"]
    with pytest.raises(ConfigError, match=r"unknown section.s. discriminators .*recipe 'reconstruction_only'"):
        load_config(CONFIG, TrainConfig, _overrides(corpus, tmp_path / "gan", RECIPE, *gan))
    with pytest.raises(ConfigError, match="computes waveforms and quantizer terms only"):
        Trainer(load_config(CONFIG, TrainConfig, _overrides(corpus, tmp_path / "gan", RECIPE, gan[1])))
