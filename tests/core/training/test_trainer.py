"""The trainer on a tiny DM-Codec: steps, checkpoints, exact resume after SIGKILL, export, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tokenizer_bench.core.config import validate
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer
from tokenizer_bench.core.training import checkpoint as ckpt

from tokenizer_bench.plugins.recipes import _testing as _tiny

HERE = Path(__file__).parent
REPO = HERE.parents[2]


def setup_run(tmp_path: Path, **trainer) -> tuple[dict, Path]:
    corpus = _tiny.make_corpus(tmp_path)
    data = _tiny.tiny_config(corpus, tmp_path, **trainer)
    _tiny.write_fake_cache(validate(data, TrainConfig), corpus)
    return data, corpus


def losses(run_dir: Path) -> dict[int, dict[str, float]]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "loss/mel" in rec:
            out[rec["step"]] = {k: v for k, v in rec.items()
                                if k.startswith(("loss/", "grad_norm/", "lr/", "data/", "codebook_window/"))}
    return out


def env() -> dict:
    # Same thread setup as this process (the config sets 1 torch thread): kernels then round alike,
    # so a run in a subprocess and one in this process give bit-identical numbers.
    e = dict(os.environ)
    e.pop("OMP_NUM_THREADS", None)
    return e


def test_training_steps_checkpoints_and_export(tmp_path):
    """`train` and `export` through the CLI commands; everything a run leaves behind."""
    import typer
    from typer.testing import CliRunner

    from tokenizer_bench.core.training.cli import add_commands

    app = typer.Typer()
    add_commands(app)
    data, corpus = setup_run(tmp_path, max_steps=5, checkpoint_every=2, keep_last=1, lr_decay_every=1, lr_decay=0.5)
    cfg = validate(data, TrainConfig)
    # two corrupt files (with cached features, so only reading the audio fails): 10 items = 5 batches
    from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache

    cache = TeacherCache.open(cfg, _tiny.HOP)
    good = next(corpus.rglob("*.flac")).stem
    for bad in ("1-1-0090", "1-1-0091"):
        (next(corpus.rglob("*.flac")).parent / f"{bad}.flac").write_bytes(b"\x00corrupt")
        for store in ("lm", "sm"):
            cache.stores[store].path(bad).write_bytes(cache.stores[store].path(good).read_bytes())
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(data, sort_keys=False))
    res = CliRunner().invoke(app, ["train", str(cfg_file)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "done: step 5" in res.output
    run = Path(data["trainer"]["output_dir"])
    # the corrupt files were reported by name and skipped, training went on
    assert "skipped 1-1-0090" in res.output and "skipped 1-1-0091" in res.output
    assert "cannot decode audio" in res.output

    # every loss term of eq. 10 is logged, finite, once per step
    recs = losses(run)
    assert sorted(recs) == [1, 2, 3, 4, 5]
    for key in ("mel", "waveform", "commitment", "distillation", "distill_lm", "distill_sm",
                "adversarial", "feature_matching", "discriminator", "generator_total"):
        assert all(torch.isfinite(torch.tensor(r[f"loss/{key}"])) for r in recs.values()), key
    # lr decays by 0.5 after every step (logged after the decay): 1e-4 * 0.5**step
    for step, r in recs.items():
        assert r["lr/generator"] == pytest.approx(1e-4 * 0.5**step)
        assert r["lr/discriminator"] == pytest.approx(1e-4 * 0.5**step)
    # eq. 10: the total is the weighted sum of the logged terms with the official weights
    w = {"mel": 45, "waveform": 500, "commitment": 10, "distillation": 120, "feature_matching": 2, "adversarial": 1}
    r = recs[5]
    assert r["loss/generator_total"] == pytest.approx(sum(w[k] * r[f"loss/{k}"] for k in w), rel=1e-5)
    # eq. 3: distillation = scale·(λ_SM·L_SM + λ_LM·L_LM) with λ = ½
    expect = 1.0 * (0.5 * r["loss/distill_sm"] + 0.5 * r["loss/distill_lm"])  # the tiny config's scale 1
    assert r["loss/distillation"] == pytest.approx(expect, rel=1e-5)

    # keep_last=1: only the final checkpoint remains, complete, nothing temporary left behind
    ckpts = ckpt.list_checkpoints(run)
    assert [p.name for p in ckpts] == ["step_00000005"]
    assert sorted(p.name for p in ckpts[0].iterdir()) == ["rng_rank0.pt", "trainer.pt"]
    assert not list((run / "checkpoints").glob(".*"))
    state = ckpt.load_trainer_state(ckpts[0])
    expected = {"generator", "distillation", "discriminators", "optim_g", "optim_d", "scheduler_g", "scheduler_d"}
    assert expected <= set(state)
    assert state["step"] == 5 and state["skipped_total"] >= 2
    # the data position: 5 batches of 2 make one epoch of the 10 items (unless a batch was all bad)
    assert (state["epoch"], state["batch_in_epoch"]) in ((0, 5), (1, 1))
    assert any(k.startswith("projections.") for k in state["distillation"])  # W is saved
    assert any(k.startswith("discriminators.mpd.") for k in state["discriminators"])
    assert (run / "config.yaml").is_file()

    # the exported tokenizers (end of training, and `export` on demand) load through the public
    # API and hold the trained generator
    from tokenizer_bench.core.api import load_tokenizer

    res = CliRunner().invoke(app, ["export", str(run), str(tmp_path / "exported")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    for folder in (run / "tokenizer", tmp_path / "exported"):
        tok = load_tokenizer("dm_codec", checkpoint=folder)
        gen_state = tok.generator.state_dict()
        assert all(torch.equal(gen_state[k], v) for k, v in state["generator"].items())
    wav = torch.randn(1, 1, 800) * 0.1
    codes = tok.encode(wav)
    assert codes.shape == (1, 3, 50) and tok.num_codebooks == 3
    assert tok.decode(codes).shape == (1, 1, 800)

    # a second `train` into the same folder without --resume is refused
    from tokenizer_bench.core.errors import ConfigError

    with pytest.raises(ConfigError, match="--resume"):
        Trainer(cfg)


def test_partial_checkpoints_are_ignored(tmp_path):
    run = tmp_path / "run"
    good = run / "checkpoints" / "step_00000004"
    good.mkdir(parents=True)
    torch.save({"step": 4}, good / "trainer.pt")
    (run / "checkpoints" / "step_00000006").mkdir()  # no trainer.pt: never completed
    tmp = ckpt.begin_checkpoint(run, 8)  # a write that was killed half-way
    (tmp / "rng_rank0.pt").write_bytes(b"partial")
    assert ckpt.latest_checkpoint(run) == good
    ckpt.prune(run, keep_last=3)
    assert not tmp.exists()  # leftovers of killed writes are cleaned up


def _cli(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tokenizer_bench.core.training", *args],
        cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    data, _ = setup_run(tmp_path, max_steps=8, checkpoint_every=2, keep_last=2, lr_decay_every=3)
    # reference: 8 uninterrupted steps (in this process)
    ref_dir = tmp_path / "ref"
    Trainer(validate(data, TrainConfig), output_dir=ref_dir).fit()

    # the same config in a subprocess that would run "forever"; SIGKILL it after a checkpoint
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(data, sort_keys=False))
    run = tmp_path / "killed"
    proc = _cli(["train", str(cfg_file), "--output-dir", str(run), "--set", "trainer.max_steps=100000"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not ckpt.list_checkpoints(run):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    resumed_from = ckpt.latest_checkpoint(run)
    start = ckpt.load_trainer_state(resumed_from)["step"]
    assert 2 <= start < 8

    # resume to step 8 (the killed run may have logged steps past its checkpoint: they are replaced)
    trainer = Trainer(validate(data, TrainConfig), output_dir=run, resume=True)
    assert trainer.resumed_from == resumed_from and trainer.step == start
    trainer.fit()

    ref, got = losses(ref_dir), losses(run)
    assert sorted(got) == list(range(1, 9))
    assert "codebook_window/layer0_perplexity" in got[8]  # the restored code-histogram window, compared too
    for step in range(1, 9):
        for key, value in ref[step].items():
            assert got[step][key] == value, (step, key, got[step][key], value)  # bit-exact
    # the discriminators (not restored by the official code) end up identical too
    a = ckpt.load_trainer_state(ckpt.latest_checkpoint(ref_dir))
    b = ckpt.load_trainer_state(ckpt.latest_checkpoint(run))
    for part in ("discriminators", "generator", "distillation"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert a["optim_d"]["state"][0]["step"] == b["optim_d"]["state"][0]["step"] == 8


def test_two_processes_ddp_keep_identical_parameters(tmp_path):
    """Two gloo ranks, gradient accumulation 2 and bf16 autocast, DDP without buffer broadcast: the
    RVQ codebooks (buffers, synchronised by the quantizer itself) and every weight stay bit-identical."""
    data, _ = setup_run(tmp_path, max_steps=2, checkpoint_every=100, gradient_accumulation_steps=2,
                        mixed_precision="bf16", discriminator_warmup_steps=0)
    data["data"]["batch_size"] = 1
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(data, sort_keys=False))
    out_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "_ddp_worker.py"), str(cfg_file), str(out_dir)]
    res = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r0 = torch.load(out_dir / "rank0.pt", weights_only=True)
    r1 = torch.load(out_dir / "rank1.pt", weights_only=True)
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["mixed_precision"] == "bf16" and r0["optimizer_steps"] == 2
    assert r0["broadcast_buffers"] is False and r1["broadcast_buffers"] is False
    assert r0["ids"] and r1["ids"] and not set(r0["ids"]) & set(r1["ids"])  # each rank saw its own shard
    for part in ("generator", "distillation", "discriminators"):
        assert r0[part].keys() == r1[part].keys()
        for k in r0[part]:
            assert torch.equal(r0[part][k], r1[part][k]), (part, k)
    # and training changed them (not a vacuous equality of initial weights), codebooks included
    assert not torch.equal(r0["generator_init"], r0["generator"][r0["probe"]])
    embeds = [k for k in r0["generator"] if k.endswith("_codebook.embed")]
    assert embeds and all(bool(r0["generator"][k].abs().sum() > 0) for k in embeds)


def test_accumulation_warmup_and_clipping(tmp_path):
    data, _ = setup_run(tmp_path, max_steps=2, checkpoint_every=100, gradient_accumulation_steps=2,
                        discriminator_warmup_steps=1, grad_clip=0.5)
    trainer = Trainer(validate(data, TrainConfig))
    generator, discriminators = trainer.tokenizer.generator, trainer.recipe.modules()["discriminators"]
    gen_before = {k: v.clone() for k, v in generator.state_dict().items()}
    disc_before = {k: v.clone() for k, v in discriminators.state_dict().items()}
    calls = []
    original = trainer.clip

    def spy(params, optimizer=None):
        params = list(params)
        norm = float(original(params, optimizer))
        calls.append((norm, torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])))
        return norm

    trainer.clip = spy  # the recipe clips through the trainer's public clip
    trainer.fit()
    lines = (trainer.run_dir / "metrics.jsonl").read_text().splitlines()
    recs = {json.loads(line)["step"]: json.loads(line) for line in lines}
    # warm-up: step 1 trains the generator alone (no D loss, no adversarial terms)
    assert "loss/discriminator" not in recs[1] and "loss/adversarial" not in recs[1]
    assert "loss/discriminator" in recs[2] and "loss/adversarial" in recs[2] and "loss/feature_matching" in recs[2]
    # accumulation: 2 optimiser steps consumed 4 batches
    state = ckpt.load_trainer_state(ckpt.latest_checkpoint(trainer.run_dir))
    assert state["batch_in_epoch"] == 4 and state["step"] == 2
    assert state["optim_g"]["state"][0]["step"] == 2 and state["optim_d"]["state"][0]["step"] == 1
    # clipping: the logged norm is the pre-clip norm; after clipping the gradients' norm is <= 0.5
    assert len(calls) == 3  # G, G, D (step 2 only)
    for pre, post in calls:
        assert float(post) <= 0.5 + 1e-4 and (pre <= 0.5 + 1e-4 or float(post) == pytest.approx(0.5, rel=1e-3))
    assert any(not torch.equal(gen_before[k], v) for k, v in generator.state_dict().items())
    assert any(not torch.equal(disc_before[k], v) for k, v in discriminators.state_dict().items())
