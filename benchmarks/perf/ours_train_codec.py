"""Our side of the peer comparison: the same measurements as ``peer_speechtokenizer.py``, on our code.

Runs in the project venv; ``compare_peer.py`` starts one fresh process per measurement and reads
the JSON written to ``--out``.

Training step (``train``). Everything is built by our trainer: a real
:class:`tokenizer_bench.core.training.trainer.Trainer` from a :class:`TrainConfig` (generator from
the ``dm_codec`` tokenizer factory, discriminators and losses from the registries, Adam from
``core/training/optim.py``) over a throw-away corpus of random 15 s utterances whose teacher
features come from per-utterance safetensors files (as the teacher cache stores them).

* ``--impl trainer`` times ``Trainer.train_step`` itself (the step a user runs), whole.
* ``--impl instrumented`` runs the same ``train_step`` with the trainer's ``phase`` hook set to a
  timer around each phase (teacher-feature loading, generator forward, discriminator forward /
  loss / backward / Adam, the generator's discriminator pass, losses, backward, Adam); the
  ``trainer`` total shows what the timer's synchronisation points cost.

Variants (``--variant``):

* ``parity`` — the peer's configuration: official mel loss (``dmcodec_mel``), LSGAN summed over
  sub-discriminators, absolute feature matching, one teacher distilled from RVQ-1, weights
  mel 45 / waveform 500 / commitment 10 / distillation 120 / feature matching 2 / adversarial 1.
* ``paper`` — the paper's losses: 7-scale 64-bin mel L1+L2 (``multiscale_mel``), hinge, relative
  feature matching, LM on RVQ-1 + SM on the RVQ-1:8 average (DM-Codec ♠).

Both use the paper generator (13 official keys), MPD + MSD + MS-STFT(32), Adam lr 1e-4 betas
(0.9, 0.99). Modes as on the peer side: ``first`` (k-means init, run in full: ours is fast) and
``steady`` (codebooks pre-initialised, one warm-up step, ``--steps`` timed steps).

Codec (``codec``): ``tokenizer.encode_with_side`` then ``tokenizer.decode`` for a registered tokenizer
(random init: no weights are downloaded), real-time factor = wall time / audio seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

import _measure as M

SAMPLE_RATE = 16000
HOP = 320
TEACHER_DIM = 768

#: The paper generator and discriminators, and for ``--dry-run`` a toy of the same layout (same
#: strides, hence the same hop; a few channels, small codebooks, short utterances): it checks in
#: seconds that the script runs end to end and measures nothing worth keeping.
SIZES: dict[str, dict[str, Any]] = {
    "paper": {"arch": {"n_filters": 64, "strides": [8, 5, 4, 2], "dimension": 1024, "dilation_base": 2,
                       "residual_kernel_size": 3, "n_residual_layers": 1, "lstm_layers": 2, "activation": "ELU"},
              "n_q": 8, "codebook_size": 1024, "utterance_seconds": 15.0,
              "discriminators": [{"name": "mpd"}, {"name": "msd"}, {"name": "mstft", "filters": 32}]},
    "toy": {"arch": {"n_filters": 2, "strides": [8, 5, 4, 2], "dimension": 16, "dilation_base": 2,
                     "residual_kernel_size": 3, "n_residual_layers": 1, "lstm_layers": 1, "activation": "ELU"},
            "n_q": 2, "codebook_size": 16, "utterance_seconds": 1.0,
            "discriminators": [{"name": "mpd", "channels": [4, 8, 8, 8, 8]}, {"name": "msd", "channels": [16] * 7},
                               {"name": "mstft", "filters": 4}]},
}


def model_section(size: str = "paper") -> dict:
    s = SIZES[size]
    return {
        "tokenizer": "dm_codec",
        "sample_rate": SAMPLE_RATE,
        "encoder": {"name": "seanet_encoder", **s["arch"], "bidirectional": True},
        "quantizer": {"name": "rvq", "dimension": s["arch"]["dimension"], "n_q": s["n_q"],
                      "codebook_size": s["codebook_size"]},
        "decoder": {"name": "seanet_decoder", **s["arch"], "bidirectional": False},
        "semantic_dimension": None,  # no official `transform` head: the projection W is the distillation term's
    }


VARIANTS: dict[str, dict] = {
    "parity": {
        "teachers": {"sm": {"name": "sm_hf"}},
        # weights left out: the recipe's defaults for these term names (mel 45, waveform 500, ...)
        "losses": {
            "mel": {"name": "dmcodec_mel"},
            "waveform": {"name": "waveform_l1"},
            "commitment": {"name": "commitment"},
            "distillation": {"name": "distillation", "lm": None, "sm": {"target": "rvq1"}},
            "adversarial": {"name": "adversarial", "kind": "lsgan", "reduction": "sum"},
            "feature_matching": {"name": "feature_matching", "kind": "absolute", "reduction": "sum"},
        },
    },
    "paper": {
        "teachers": {"lm": {"name": "lm_hf"}, "sm": {"name": "sm_hf"}},
        "losses": {
            "mel": {"name": "multiscale_mel"},
            "waveform": {"name": "waveform_l1"},
            "commitment": {"name": "commitment"},
            "distillation": {"name": "distillation", "lm": {"target": "rvq1"}, "sm": {"target": "rvq1:8"}},
            "adversarial": {"name": "adversarial", "kind": "hinge", "reduction": "mean"},
            "feature_matching": {"name": "feature_matching", "kind": "relative", "reduction": "mean"},
        },
    },
}


def train_config(variant: str, workdir: Path, batch: int, seconds: float, threads: int | None, seed: int,
                 trainer_options: list[str] = (), size: str = "paper"):
    """The benchmark's TrainConfig; ``trainer_options`` are ``KEY=YAML`` settings of its trainer section."""
    import yaml

    from tokenizer_bench.core.config import parse_key_values
    from tokenizer_bench.core.train_config import TrainConfig

    # the memory settings the shipped paper config uses, so the benchmark times what users run
    shipped = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "dm_codec_lm_sm.yaml").read_text())
    extra = {k: shipped["trainer"][k] for k in ("discriminator_passes", "activation_checkpointing")
             if k in shipped["trainer"]}
    extra.update(parse_key_values(trainer_options, "--trainer-option", "KEY", "discriminator_passes=together"))

    v = VARIANTS[variant]
    return TrainConfig.model_validate({
        "name": f"perf_{variant}",
        "seed": seed,
        "model": model_section(size),
        "teachers": {**v["teachers"], "cache_dir": str(workdir / "cache")},
        "discriminators": SIZES[size]["discriminators"],
        "losses": v["losses"],
        "data": {"train": [str(workdir / "corpus")], "format": "folder", "segment_seconds": seconds,
                 "batch_size": batch, "num_workers": 0},
        "trainer": {"output_dir": str(workdir / "run"), "cpu": True, "num_threads": threads, "tensorboard": False,
                    "progress": False, "export": False, "lr_generator": 1e-4, "lr_discriminator": 1e-4,
                    "betas": [0.9, 0.99], **extra},
    })


def make_corpus(workdir: Path, n: int, seed: int, keys: tuple[str, ...],
                utterance_seconds: float) -> dict[str, dict[str, Path]]:
    """``n`` random utterances (wav; 15 s at paper size) and one safetensors feature file per utterance and teacher."""
    import soundfile as sf
    from safetensors.torch import save_file

    corpus = workdir / "corpus"
    feats = workdir / "features"
    corpus.mkdir(parents=True)
    feats.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    n_samples = int(utterance_seconds * SAMPLE_RATE)
    frames = math.ceil(n_samples / HOP)
    files: dict[str, dict[str, Path]] = {}
    for i in range(n):
        uid = f"utt{i:03d}"
        sf.write(corpus / f"{uid}.wav", (0.1 * rng.standard_normal(n_samples)).astype(np.float32), SAMPLE_RATE)
        tensors = {k: torch.from_numpy(rng.standard_normal((frames, TEACHER_DIM), dtype=np.float32)) for k in keys}
        path = feats / f"{uid}.safetensors"
        save_file(tensors, str(path))
        files[uid] = {k: path for k in keys}
    return files


class FeatureFiles:
    """``utt_id -> {key: [T, D]}`` read from safetensors on every call (what the teacher cache does)."""

    def __init__(self, files: dict[str, dict[str, Path]]) -> None:
        self.files = files

    def __call__(self, uid: str) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        path = next(iter(self.files[uid].values()))
        return load_file(str(path))


def build_trainer(args: argparse.Namespace, workdir: Path):
    from tokenizer_bench.core.training.trainer import Trainer

    keys = ("lm", "sm") if args.variant == "paper" else ("sm",)
    size = "toy" if args.dry_run else "paper"
    files = make_corpus(workdir, max(args.batch, 2), args.seed, keys, SIZES[size]["utterance_seconds"])
    cfg = train_config(args.variant, workdir, args.batch, args.seconds, args.threads, args.seed,
                       args.trainer_option, size)
    loader = FeatureFiles(files)
    trainer = Trainer(cfg, features=loader)
    return trainer, loader, list(files)


def make_batch(trainer, loader: FeatureFiles, uids: list[str], batch: int, seconds: float, seed: int,
               timer: M.PhaseTimer | None) -> dict[str, Any]:
    """The batch dict ``train_step`` consumes; audio identical to the peer side's (same seed)."""
    from tokenizer_bench.core.data.dataset import crop_frames

    segment = int(seconds * SAMPLE_RATE)
    frames = math.ceil(segment / HOP)
    g = torch.Generator().manual_seed(seed)
    wav = (0.1 * torch.randn(batch, segment, generator=g)).unsqueeze(1)
    out: dict[str, Any] = {"wav": wav, "frame_mask": torch.ones(batch, frames, dtype=torch.bool), "skipped": []}
    ctx = timer("teacher_features") if timer is not None else contextlib.nullcontext()
    with ctx:
        per_key: dict[str, list] = {}
        for i in range(batch):
            feats = loader(uids[i % len(uids)])
            for key in trainer.recipe.feature_roles():
                value, mask = crop_frames(feats[key], feats.get(f"{key}_mask"), i * 7, frames)
                per_key.setdefault(key, []).append((value, mask))
        for key, items in per_key.items():
            out[key] = torch.stack([v for v, _ in items])
            out[f"{key}_mask"] = torch.stack([m for _, m in items])
    return out


def train(args: argparse.Namespace) -> dict:
    rss0 = M.rss_bytes()
    workdir = Path(tempfile.mkdtemp(prefix="ours_perf_"))
    trainer, loader, uids = build_trainer(args, workdir)
    generator = trainer.tokenizer.generator
    if args.mode == "steady":
        M.mark_codebooks_initialised(generator, args.seed)
    modules = trainer.recipe.modules()  # generator, the distillation term (its projections W), discriminators
    params = {"generator": sum(p.numel() for p in generator.parameters()),
              "distillation": sum(p.numel() for p in modules["distillation"].parameters()),
              **{k: sum(p.numel() for p in d.parameters())
                 for k, d in modules["discriminators"].discriminators.items()}}
    rss_model = M.rss_bytes()
    steps = []
    with M.RssSampler() as sampler:
        n_total = 1 if args.mode == "first" else args.steps + 1
        for i in range(n_total):
            timer = M.PhaseTimer(sampler=sampler)
            sampler.reset()
            t0, c0, k0 = time.perf_counter(), time.process_time(), M.kernel_counters()
            batch = make_batch(trainer, loader, uids, args.batch, args.seconds, args.seed, timer)
            if args.impl == "instrumented":
                trainer.phase = timer
                scalars = trainer.train_step(batch)
            else:
                with timer("train_step"):
                    scalars = trainer.train_step(batch)
            losses = {"loss_g": scalars["loss/generator_total"], "loss_d": scalars.get("loss/discriminator")}
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            steps.append({"wall": wall, "cpu": cpu, **M.counters_delta(k0),
                          "phases": timer.times, "grouped": M.group_phases(timer.times),
                          "cpu_phases": timer.cpu_times, "cpu_grouped": M.group_phases(timer.cpu_times),
                          "peak_rss": sampler.peak, "phase_peak_rss": dict(sampler.phase_peaks),
                          "warmup": args.mode == "steady" and i == 0, **losses})
            sampler.phase_peaks.clear()
    kmeans = [cb.last_kmeans for cb in generator.quantizer.codebooks] if args.mode == "first" else None
    return {"side": "ours", "impl": f"tokenizer-bench ({args.impl})", "kind": "train", "mode": args.mode,
            "variant": args.variant, "batch": args.batch, "seconds": args.seconds, "params": params,
            "config": trainer.cfg.model_dump(mode="json"), "rss_start": rss0, "rss_after_build": rss_model,
            "ru_maxrss": M.peak_rss_bytes(), "steps": steps, "kmeans": kmeans}


# ------------------------------------------------------------------------------------ codec


def build_tokenizer(name: str, seed: int, size: str = "paper"):
    """A random-init tokenizer by registered name (no downloads); ``size="toy"``: the dry run's DM-Codec."""
    torch.manual_seed(seed)
    if name == "dm_codec":
        from tokenizer_bench.core.plugins import get_registry

        parts = {k: v for k, v in model_section(size).items() if k in ("encoder", "quantizer", "decoder")}
        return get_registry("tokenizers").get("dm_codec").factory(checkpoint=None, seed=seed,
                                                                  **(parts if size == "toy" else {}))
    if name == "encodec":
        from transformers import EncodecConfig, EncodecModel

        from tokenizer_bench.plugins.tokenizers.encodec import EncodecTokenizer

        return EncodecTokenizer(EncodecModel(EncodecConfig()).eval(), bandwidth=6.0)
    if name == "facodec":
        from tokenizer_bench.plugins.tokenizers.facodec import FACodecTokenizer

        return FACodecTokenizer.build()
    raise SystemExit(f"unknown tokenizer {name!r}; choose dm_codec, encodec or facodec")


def codec(args: argparse.Namespace) -> dict:
    if args.dry_run and args.tokenizer != "dm_codec":
        raise SystemExit("--dry-run builds a toy dm_codec; it has no toy of other tokenizers")
    tok = build_tokenizer(args.tokenizer, args.seed, "toy" if args.dry_run else "paper")
    gen = getattr(tok, "generator", None)
    if gen is not None:
        M.mark_codebooks_initialised(gen, args.seed)
    g = torch.Generator().manual_seed(args.seed)
    x = 0.1 * torch.randn(args.batch, 1, int(args.seconds * SAMPLE_RATE), generator=g)
    # encode_with_side: FACodec decodes with the utterance's timbre embedding (side information)
    warm_codes, warm_side = tok.encode_with_side(0.1 * torch.randn(1, 1, SAMPLE_RATE, generator=g))
    tok.decode(warm_codes, side=warm_side or None)  # warm-up
    rss_before = M.rss_bytes()
    holder: dict[str, Any] = {}

    from tokenizer_bench.core.host_memory import reuse_freed_memory_on

    # the heap policy an application applies around each tokenizer call (as the codec CLI and the
    # harness do); TOKENIZER_BENCH_REUSE_FREED_MEMORY=0 turns it off (benchmarks/perf/host_memory.py)
    def enc():
        with reuse_freed_memory_on("cpu"):
            holder["codes"], holder["side"] = tok.encode_with_side(x)

    def dec():
        with reuse_freed_memory_on("cpu"):
            holder["wav"] = tok.decode(holder["codes"], side=holder["side"] or None)

    timing = M.time_codec(enc, dec, args.seconds, args.batch, args.min_repeats, args.min_seconds, args.max_repeats)
    return {"side": "ours", "impl": "tokenizer-bench", "tokenizer": args.tokenizer, "kind": "codec", **timing,
            "codes_shape": list(holder["codes"].shape), "wav_shape": list(holder["wav"].shape),
            "rss_before": rss_before, "ru_maxrss": M.peak_rss_bytes()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    t = sub.add_parser("train")
    t.add_argument("--mode", choices=["first", "steady"], default="steady")
    t.add_argument("--impl", choices=["instrumented", "trainer"], default="instrumented")
    t.add_argument("--variant", choices=sorted(VARIANTS), default="parity")
    t.add_argument("--batch", type=int, default=2)
    t.add_argument("--seconds", type=float, default=3.0)
    t.add_argument("--steps", type=int, default=3)
    t.add_argument("--trainer-option", action="append", default=[], metavar="KEY=YAML",
                   help="a trainer setting, e.g. activation_checkpointing=[encoder,decoder] (repeatable)")
    c = sub.add_parser("codec")
    c.add_argument("--tokenizer", default="dm_codec")
    c.add_argument("--batch", type=int, default=1)
    c.add_argument("--seconds", type=float, default=10.0)
    c.add_argument("--min-repeats", type=int, default=2)
    c.add_argument("--min-seconds", type=float, default=3.0)
    c.add_argument("--max-repeats", type=int, default=20)
    for s in (t, c):
        s.add_argument("--dry-run", action="store_true",
                       help="a toy DM-Codec of the same layout (1 s utterances): checks the script runs, in seconds")
        s.add_argument("--threads", type=int, default=None)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--out", required=True)
    args = p.parse_args(argv)
    M.configure_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    result = train(args) if args.kind == "train" else codec(args)
    import tokenizer_bench

    result["env"] = M.environment("cpu")
    result["env"]["tokenizer_bench"] = getattr(tokenizer_bench, "__version__", "editable")
    result["argv"] = sys.argv[1:]
    M.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
