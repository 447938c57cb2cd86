"""``trainer.export_which: best``, validation codebook metrics, and ``data.crop`` in a tiny run.

The exported "best" tokenizer is checked independently: run here on the validation crops, it
reproduces the lowest validation loss the run logged. A run stopped after a checkpoint and
resumed exports the same weights and records the same best step as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.config import validate
from tokenizer_bench.core.data.dataset import collate
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer
from tokenizer_bench.core.training import checkpoint as ckpt

from tokenizer_bench.plugins.recipes import _testing as _tiny
from tokenizer_bench.plugins.recipes._testing import Stop, stop_after_checkpoint


def config(tmp_path: Path, **trainer) -> TrainConfig:
    corpus = _tiny.make_corpus(tmp_path)
    opts = dict(max_steps=4, checkpoint_every=2, valid_every=1, export_which="best")
    opts.update(trainer)
    data = _tiny.tiny_config(corpus, tmp_path, **opts)
    data["data"].update(valid=[str(corpus)], valid_utterances=4, crop="fixed")
    cfg = validate(data, TrainConfig)
    _tiny.write_fake_cache(cfg, corpus)
    return cfg


def valid_records(run_dir: Path) -> dict[int, dict]:
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in recs if "valid/mel" in r}


def perplexity_of(values: list[int]) -> float:
    n = len(values)
    return math.exp(-sum(c / n * math.log(c / n) for c in Counter(values).values()))


@torch.no_grad()
def validate_here(generator, trainer: Trainer) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Mel loss of ``generator`` (eval mode) over the run's validation crops, with codes and masks."""
    generator.eval()
    mel = trainer.cfg.losses["mel"].build("losses")
    ds = trainer.data.valid
    batch = collate([ds[i] for i in range(len(ds))])
    total, codes = 0.0, []
    bs = trainer.cfg.data.batch_size
    for start in range(0, len(ds), bs):
        wav = batch["wav"][start: start + bs]
        wav_hat, qout = generator(wav)
        total += float(mel(wav, wav_hat[..., : wav.shape[-1]])) * wav.shape[0]
        codes.append(qout.codes)
    return total / len(ds), torch.cat(codes), batch["frame_mask"]


def test_best_is_exported_and_reproduces_the_lowest_validation_loss(tmp_path):
    cfg = config(tmp_path, lr_generator=3e-3)  # large steps: validation losses differ step to step
    trainer = Trainer(cfg)
    assert trainer.data.dataset.crop == "fixed" and trainer.data.valid.random_crop is False
    summary = trainer.fit()
    valid = valid_records(trainer.run_dir)
    assert sorted(valid) == [1, 2, 3, 4]
    best_step = min(valid, key=lambda s: valid[s]["valid/mel"])
    assert summary["export_step"] == best_step == summary["best_valid"]["step"]
    assert summary["best_valid"]["value"] == valid[best_step]["valid/mel"]
    state = ckpt.load_trainer_state(ckpt.latest_checkpoint(trainer.run_dir))
    assert state["validation"] == {"best": summary["best_valid"], "last_step": 4}
    # exactly one best file, the one the checkpoint names
    assert [p.name for p in (trainer.run_dir / "best").iterdir()] == [f"step_{best_step:08d}.pt"]

    tok = load_tokenizer("dm_codec", checkpoint=trainer.run_dir / "tokenizer")
    loss, codes, mask = validate_here(tok.generator, trainer)
    assert loss == pytest.approx(valid[best_step]["valid/mel"], rel=1e-6)
    # validation codebook perplexity/usage per layer = this histogram of the eval-mode codes (real frames)
    for layer in range(codes.shape[1]):
        values = [int(codes[b, layer, t]) for b in range(codes.shape[0]) for t in range(codes.shape[2]) if mask[b, t]]
        rec = valid[best_step]
        assert rec[f"valid/codebook/layer{layer}_perplexity"] == pytest.approx(perplexity_of(values), rel=1e-9)
        assert rec[f"valid/codebook/layer{layer}_usage"] == len(set(values)) / tok.codebook_size
    # the trainer itself still holds the last generator (the best was swapped in for the export only)
    last = state["generator"]
    assert all(torch.equal(v.cpu(), last[k]) for k, v in trainer.tokenizer.generator.state_dict().items())
    if best_step != 4:
        assert any(not torch.equal(v, last[k]) for k, v in tok.generator.state_dict().items())


def test_best_survives_a_resume(tmp_path):
    cfg = config(tmp_path, lr_generator=3e-3)
    ref = Trainer(cfg, output_dir=tmp_path / "ref")
    ref_summary = ref.fit()

    first = Trainer(cfg, output_dir=tmp_path / "cut")
    stop_after_checkpoint(first, 2)
    with pytest.raises(Stop):
        first.fit()
    # a best file from a step after the checkpoint (a killed run may leave one): dropped on resume
    stale = tmp_path / "cut" / "best" / "step_00000003.pt"
    torch.save({"step": 3}, stale)
    resumed = Trainer(cfg, output_dir=tmp_path / "cut", resume=True)
    assert not stale.exists() and resumed.best_valid == ckpt.load_trainer_state(
        ckpt.latest_checkpoint(tmp_path / "cut"))["validation"]["best"]
    summary = resumed.fit()
    assert summary["best_valid"] == ref_summary["best_valid"]
    a = load_tokenizer("dm_codec", checkpoint=tmp_path / "ref" / "tokenizer").generator.state_dict()
    b = load_tokenizer("dm_codec", checkpoint=tmp_path / "cut" / "tokenizer").generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_final_step_is_validated_and_last_stays_the_default(tmp_path):
    # valid_every=3 of 4 steps: the final generator is validated too before choosing the best
    trainer = Trainer(config(tmp_path / "best", valid_every=3, checkpoint_every=100))
    trainer.fit()
    assert sorted(valid_records(trainer.run_dir)) == [3, 4]
    assert ckpt.load_trainer_state(ckpt.latest_checkpoint(trainer.run_dir))["validation"]["last_step"] == 4
    # export_which: last (the default) exports the final generator and keeps no best file
    last = Trainer(config(tmp_path / "last", export_which="last", valid_every=3, checkpoint_every=100))
    assert last.cfg.trainer.export_which == "last"
    assert TrainConfig.model_fields["trainer"].default_factory().export_which == "last"
    summary = last.fit()
    assert summary["export_step"] == 4 and sorted(valid_records(last.run_dir)) == [3]
    assert not (last.run_dir / "best").exists()


def test_best_needs_validation(tmp_path):
    corpus = _tiny.make_corpus(tmp_path)
    data = _tiny.tiny_config(corpus, tmp_path, export_which="best")
    with pytest.raises(ConfigError, match="data.valid and trainer.valid_every are not set"):
        Trainer(validate(data, TrainConfig))
    data["data"]["valid"] = [str(corpus)]
    with pytest.raises(ConfigError, match="trainer.valid_every is not set"):
        Trainer(validate(data, TrainConfig))
