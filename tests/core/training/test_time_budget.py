"""trainer.max_minutes and the clock totals (wall / CPU / audio seconds) logged and kept in checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenizer_bench.core.config import validate
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer
from tokenizer_bench.core.training import checkpoint as ckpt

from tokenizer_bench.plugins.recipes import _testing as _tiny


def _data(tmp_path: Path, **trainer) -> dict:
    corpus = _tiny.make_corpus(tmp_path)
    data = _tiny.tiny_config(corpus, tmp_path, **trainer)
    _tiny.write_fake_cache(validate(data, TrainConfig), corpus)
    return data


def _with(data: dict, **trainer) -> TrainConfig:
    return validate({**data, "trainer": {**data["trainer"], **trainer}}, TrainConfig)


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_budget_stops_after_the_first_step_then_checkpoints_and_exports(tmp_path):
    # a budget smaller than any step: the run stops after its first optimiser step (not at max_steps 4)
    data = _data(tmp_path, max_steps=4, checkpoint_every=100, log_every=10, gradient_accumulation_steps=2)
    trainer = Trainer(_with(data, max_minutes=5e-4))  # 30 ms: past the start, before step 1 ends
    summary = trainer.fit()
    assert summary["step"] == 1 and summary["stopped_by"] == "max_minutes"
    assert Path(summary["export_dir"], "config.json").is_file()
    state = ckpt.load_trainer_state(ckpt.latest_checkpoint(trainer.run_dir))
    assert state["step"] == 1
    # batch 2 x crop 0.1 s x accumulation 2 x 1 step = 0.4 s of audio
    assert state["elapsed"]["audio_seconds"] == pytest.approx(0.4)
    assert state["elapsed"]["cpu_seconds"] > 0 and state["elapsed"]["wall_seconds"] > 0
    # the stopping step is logged (not a multiple of log_every) with the totals
    (rec,) = [r for r in _records(trainer.run_dir) if r["step"] == 1]
    assert "loss/mel" in rec and rec["data/audio_seconds"] == pytest.approx(0.4)
    assert rec["time/cpu_s"] > 0 and rec["time/wall_s"] > 0


def test_totals_continue_over_a_resume_and_a_spent_budget_does_no_more_steps(tmp_path):
    data = _data(tmp_path, max_steps=2, checkpoint_every=1, log_every=1)
    first = Trainer(_with(data)).fit()
    assert first["step"] == 2 and first["stopped_by"] is None
    run = Path(first["run_dir"])
    before = ckpt.load_trainer_state(ckpt.latest_checkpoint(run))["elapsed"]
    assert before["audio_seconds"] == pytest.approx(2 * 0.2)
    # resumed with a budget the first session already spent: no step, the export is still written
    spent = Trainer(_with(data, max_steps=4, max_minutes=before["wall_seconds"] / 60 / 2), resume=True).fit()
    assert spent["step"] == 2 and spent["stopped_by"] == "max_minutes"
    assert Path(spent["export_dir"], "config.json").is_file()
    # resumed without a budget: the totals go on from the checkpoint's
    more = Trainer(_with(data, max_steps=4), resume=True).fit()
    assert more["step"] == 4
    after = ckpt.load_trainer_state(ckpt.latest_checkpoint(run))["elapsed"]
    assert after["audio_seconds"] == pytest.approx(4 * 0.2)
    assert after["wall_seconds"] > before["wall_seconds"] and after["cpu_seconds"] > before["cpu_seconds"]
    audio = {r["step"]: r["data/audio_seconds"] for r in _records(run) if "data/audio_seconds" in r}
    assert audio == pytest.approx({1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8})


def test_a_cpu_clock_budget_counts_process_cpu_time(tmp_path):
    data = _data(tmp_path, max_steps=4, checkpoint_every=100, log_every=10)
    # 30 ms of CPU: past the start, spent within the first step (a step of the tiny codec takes longer)
    summary = Trainer(_with(data, max_minutes=5e-4, max_minutes_clock="cpu")).fit()
    assert summary["step"] == 1 and summary["stopped_by"] == "max_minutes"
    assert summary["elapsed"]["cpu_seconds"] >= 0.03
