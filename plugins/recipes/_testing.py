"""Test helpers for training (the recipe's tests, and any that train a tiny codec): a tiny corpus,
a fake teacher cache, a tiny DM-Codec config and trainer.

Private to the package (not a recipe module: ``forward_to_submodules`` skips ``_`` names); tests
import it as ``tokenizer_bench.plugins.recipes._testing``, like ``plugins/teachers/_testing.py``.

The teacher features are random tensors written as safetensors in the teacher-cache layout (no
teacher model runs), at the codec frame rate of the tiny model (hop 16 samples at 16 kHz).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

SR = 16000
HOP = 16  # strides [4, 4]
LM_DIM, SM_DIM = 12, 10


def make_corpus(root: Path, n: int = 8, seconds: tuple[float, ...] = (0.08, 0.15, 0.2, 0.05), seed: int = 0) -> Path:
    """A LibriSpeech-style folder of ``n`` short noisy-sine FLACs (one speaker)."""
    rng = np.random.default_rng(seed)
    folder = root / "corpus" / "1" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        dur = seconds[i % len(seconds)]
        t = np.arange(int(dur * SR)) / SR
        wav = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.02 * rng.standard_normal(t.shape)
        sf.write(folder / f"1-1-{i:04d}.flac", wav.astype(np.float32), SR, subtype="PCM_16")
    return root / "corpus"


def write_fake_cache(cfg, corpus: Path, seed: int = 0) -> int:
    """Random LM/SM features for every utterance, written where ``TeacherCache`` looks for them.

    No teacher runs: the files are safetensors written directly in the cache layout (keys from
    the config's teacher settings), so the trainer finds a complete cache. Returns the count.
    """
    from safetensors.torch import save_file

    from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache

    cache = TeacherCache.open(cfg, HOP)
    g = torch.Generator().manual_seed(seed)
    n = 0
    for store in cache.stores.values():
        store.dir.mkdir(parents=True, exist_ok=True)
    for flac in sorted(Path(corpus).rglob("*.flac")):
        t = math.ceil(sf.info(str(flac)).frames / HOP)
        if "lm" in cache.stores:
            save_file({"lm": torch.randn(t, LM_DIM, generator=g).half(), "lm_mask": torch.rand(t, generator=g) > 0.2},
                      str(cache.stores["lm"].path(flac.stem)))
        if "sm" in cache.stores:
            save_file({"sm": torch.randn(t, SM_DIM, generator=g).half()}, str(cache.stores["sm"].path(flac.stem)))
        n += 1
    return n


def tiny_config(corpus: Path, out: Path, **trainer: Any) -> dict[str, Any]:
    """A complete TrainConfig mapping of a tiny DM-Codec (LM+SM) with the three discriminators."""
    seanet = dict(n_filters=4, strides=[4, 4], dimension=16, lstm_layers=1, n_residual_layers=1)
    return {
        "name": "tiny",
        "seed": 42,
        "model": {
            "tokenizer": "dm_codec",
            "sample_rate": SR,
            "encoder": {"name": "seanet_encoder", **seanet, "bidirectional": True},
            "quantizer": {"name": "rvq", "dimension": 16, "n_q": 3, "codebook_size": 8, "kmeans_iters": 5},
            "decoder": {"name": "seanet_decoder", **seanet, "bidirectional": False},
            "semantic_dimension": None,
        },
        # never loaded: the cache is written by write_fake_cache, so no teacher model runs
        "teachers": {
            "stt": {"name": "stt_hf_ctc", "model": "fake-stt"},
            "lm": {"name": "lm_hf", "model": "fake-lm"},
            "sm": {"name": "sm_hf", "model": "fake-sm"},
            "cache_dir": str(out / "cache"),
        },
        "discriminators": [
            {"name": "mpd", "periods": [2, 3], "channels": [4, 8]},
            {"name": "msd", "num_scales": 2, "channels": [4, 8, 8], "kernel_sizes": [5, 5, 3],
             "strides": [1, 2, 1], "groups": [1, 4, 1]},
            {"name": "mstft", "filters": 4, "n_ffts": [128, 64]},
        ],
        "losses": {
            "mel": {"name": "multiscale_mel", "weight": 45.0, "n_mels": 16, "min_exponent": 5, "max_exponent": 7},
            "waveform": {"name": "waveform_l1", "weight": 500.0},
            "commitment": {"name": "commitment", "weight": 10.0},
            "distillation": {"name": "distillation", "weight": 120.0, "lm": {"target": "rvq1"},
                             "sm": {"target": "rvq1:3"}, "lambda_lm": 0.5, "lambda_sm": 0.5},
            "adversarial": {"name": "adversarial", "weight": 1.0, "kind": "hinge"},
            "feature_matching": {"name": "feature_matching", "weight": 2.0},
        },
        "data": {"train": [str(corpus)], "segment_seconds": 0.1, "batch_size": 2, "num_workers": 0},
        "trainer": {
            "output_dir": str(out / "run"),
            "max_steps": 4,
            "checkpoint_every": 2,
            "log_every": 1,
            "audio_every": 1000,
            "tensorboard": False,
            "progress": False,
            "num_threads": 1,
            **trainer,
        },
    }


def tiny_trainer(root: Path, **trainer: Any):
    """A Trainer on the tiny config over its own corpus and fake teacher cache under ``root``."""
    from tokenizer_bench.core.config import validate
    from tokenizer_bench.core.train_config import TrainConfig
    from tokenizer_bench.core.training import Trainer

    corpus = make_corpus(root)
    data = tiny_config(corpus, root, **trainer)
    write_fake_cache(validate(data, TrainConfig), corpus)
    return Trainer(validate(data, TrainConfig))


def step_gradients(trainer) -> tuple[list[list[torch.Tensor]], dict[str, float]]:
    """One optimiser step (``Trainer.train_step``) on the first batch; the gradients each optimiser
    steps with (D, then G; captured by optimiser step pre-hooks) and the step's logged scalars."""
    captured: list[list[torch.Tensor]] = []

    def spy(opt, args, kwargs):
        captured.append([p.grad.clone() for group in opt.param_groups for p in group["params"] if p.grad is not None])

    # Accelerate wraps each optimiser; the hook goes on the torch optimiser that steps
    handles = [getattr(opt, "optimizer", opt).register_step_pre_hook(spy) for opt in trainer.optimizers.values()]
    try:
        scalars = trainer.train_step(next(iter(trainer.data.loader(0))))
    finally:
        for h in handles:
            h.remove()
    return captured, scalars


class Stop(Exception):
    """Raised by :func:`stop_after_checkpoint` to end ``fit`` as a kill would."""


def stop_after_checkpoint(trainer, step: int) -> None:
    """Make ``fit`` stop (as if killed) right after the checkpoint of ``step`` is complete."""
    original = trainer.save_checkpoint

    def save():
        path = original()
        if trainer.step == step:
            raise Stop
        return path

    trainer.save_checkpoint = save
