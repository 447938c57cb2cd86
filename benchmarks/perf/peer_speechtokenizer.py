"""Peer side of the comparison: PyPI ``speechtokenizer`` 1.0.1, timed the way its trainer runs.

Runs inside the isolated peer venv (``bash benchmarks/perf/peer_env.sh`` builds it); this project
is *not* importable there, only ``_measure.py`` beside this file. ``compare_peer.py`` starts one
fresh process per measurement and reads the JSON written to ``--out``.

Training step (``train``), composed as ``SpeechTokenizerTrainer.train`` does with the repo's
``config/spt_base_cfg.json`` values (the DM-Codec trainer is a fork of it with the same losses):

1. teacher features: ``np.load`` of one ``[T, 768]`` file per item, cropped (its ``audioDataset``)
   and padded into a batch (its ``collate_fn``);
2. ``x_hat, loss_q, feature = generator(x)`` (RVQ-1 output through ``transform``);
3. discriminator update: MPD, MSD and MS-STFT(32) on ``(x, x_hat.detach())``, LSGAN
   ``discriminator_loss``, backward, Adam step;
4. generator update: the discriminators again on ``(x, x_hat)``; ``recon_loss`` x 500, ``mel_loss``
   at n_fft 1024/512/256/128 (hop 240/120/60/30, 80 mels) weighted 45/1/1/1, ``feature_loss``,
   ``adversarial_loss``, ``loss_q`` x 10, ``d_axis_distill_loss`` x 120; backward, Adam step.

Adam: lr 1e-4, betas (0.9, 0.99), eps 1e-8 (``wd`` 0 selects Adam in its ``get_optimizer``).

Modes: ``first`` is the very first step, whose RVQ forward runs k-means on every codebook. The
peer's k-means is 50 iterations of an ``[N, K, D]`` broadcast; ``--kmeans-iters`` (default 3)
runs fewer and the result reports the measured per-iteration cost and the 50-iteration estimate
(pass ``--kmeans-iters 50`` for the real thing). ``steady`` marks the codebooks initialised with
random vectors, runs one warm-up step, then ``--steps`` timed steps.

Codec (``codec``): ``model.encode`` then ``model.decode`` under ``torch.no_grad`` in eval mode,
real-time factor = wall time / audio seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import _measure as M


#: The 13 architecture keys (paper / DM-Codec / spt_base_cfg).
ARCH = {
    "n_filters": 64, "strides": [8, 5, 4, 2], "dimension": 1024, "semantic_dimension": 768,
    "bidirectional": True, "dilation_base": 2, "residual_kernel_size": 3, "n_residual_layers": 1,
    "lstm_layers": 2, "activation": "ELU", "codebook_size": 1024, "n_q": 8, "sample_rate": 16000,
}
#: Training keys of spt_base_cfg.json that the step uses.
TRAIN = {
    "num_mels": 80, "n_fft": 1024, "hop_size": 240, "win_size": 1024, "fmin": 0, "fmax_for_loss": None,
    "mel_loss_lambdas": [45, 1, 1, 1], "recon_loss_lambda": 500, "commitment_loss_lambda": 10,
    "distill_loss_lambda": 120, "learning_rate": 1e-4, "betas": [0.9, 0.99],
}
UTTERANCE_SECONDS = 15.0  # length of the utterance a teacher-feature file covers (crop source)


def build_generator(seed: int):
    from speechtokenizer import SpeechTokenizer

    torch.manual_seed(seed)
    return SpeechTokenizer(dict(ARCH))


def mel_kwargs_list() -> list[dict]:
    """As ``SpeechTokenizerTrainer.__init__`` builds them (n_fft, hop and win halved per scale)."""
    out, mult = [], 1
    for _ in TRAIN["mel_loss_lambdas"]:
        out.append({"n_fft": TRAIN["n_fft"] // mult, "num_mels": TRAIN["num_mels"], "sample_rate": ARCH["sample_rate"],
                    "hop_size": TRAIN["hop_size"] // mult, "win_size": TRAIN["win_size"] // mult,
                    "fmin": TRAIN["fmin"], "fmax": TRAIN["fmax_for_loss"]})
        mult *= 2
    return out


class KMeansProbe:
    """Wraps the peer's module-level ``kmeans`` to time it and (optionally) cap its iterations."""

    def __init__(self, iters: int) -> None:
        from speechtokenizer.quantization import core_vq

        self.core_vq = core_vq
        self.original = core_vq.kmeans
        self.iters = iters
        self.calls: list[dict] = []
        core_vq.kmeans = self

    def __call__(self, samples, num_clusters, num_iters=10):
        used = min(num_iters, self.iters)
        t0 = time.perf_counter()
        out = self.original(samples, num_clusters, used)
        self.calls.append({"seconds": time.perf_counter() - t0, "iters": used, "configured_iters": num_iters,
                           "samples": int(samples.shape[0])})
        return out

    def report(self) -> dict:
        if not self.calls:
            return {"calls": 0}
        measured = sum(c["seconds"] for c in self.calls)
        per_iter = measured / sum(c["iters"] for c in self.calls)
        full = per_iter * sum(c["configured_iters"] for c in self.calls)
        return {"calls": len(self.calls), "iters_run": self.calls[0]["iters"],
                "configured_iters": self.calls[0]["configured_iters"], "samples": self.calls[0]["samples"],
                "measured_seconds": measured, "seconds_per_iteration": per_iter,
                "estimated_full_seconds": full, "extra_seconds_for_full": full - measured}


def train(args: argparse.Namespace) -> dict:
    from speechtokenizer.discriminators import (
        MultiPeriodDiscriminator, MultiScaleDiscriminator, MultiScaleSTFTDiscriminator)
    from speechtokenizer.trainer import loss as L
    from torch.nn.utils.rnn import pad_sequence

    probe = KMeansProbe(args.kmeans_iters) if args.mode == "first" else None
    rss0 = M.rss_bytes()
    generator = build_generator(args.seed)
    discriminators = {"mpd": MultiPeriodDiscriminator(), "msd": MultiScaleDiscriminator(),
                      "mstftd": MultiScaleSTFTDiscriminator(32)}
    generator.train()
    for d in discriminators.values():
        d.train()
    optim_g = torch.optim.Adam(generator.parameters(), lr=TRAIN["learning_rate"], betas=tuple(TRAIN["betas"]), eps=1e-8)
    optim_d = torch.optim.Adam([p for d in discriminators.values() for p in d.parameters()],
                               lr=TRAIN["learning_rate"], betas=tuple(TRAIN["betas"]), eps=1e-8)
    mel_kw = mel_kwargs_list()
    lambdas = TRAIN["mel_loss_lambdas"]

    sr, hop = ARCH["sample_rate"], int(np.prod(ARCH["strides"]))
    segment = int(args.seconds * sr)
    frames = segment // hop
    g = torch.Generator().manual_seed(args.seed)
    x_batch = 0.1 * torch.randn(args.batch, segment, generator=g)
    tmp = Path(tempfile.mkdtemp(prefix="peer_feats_"))
    feat_files = M.teacher_feature_files(tmp, args.batch, int(UTTERANCE_SECONDS * sr) // hop, 768, "npy", args.seed)
    if args.mode == "steady":
        M.mark_codebooks_initialised(generator, args.seed)
    params = {"generator": sum(p.numel() for p in generator.parameters()),
              **{k: sum(p.numel() for p in d.parameters()) for k, d in discriminators.items()}}
    rss_model = M.rss_bytes()

    def step(timer: M.PhaseTimer) -> dict:
        with timer("teacher_features"):
            feats = []
            for i, f in enumerate(feat_files):
                feature = torch.from_numpy(np.load(f))
                start = min(i * 7, feature.size(0) - frames)  # the dataset's crop arithmetic
                feats.append(feature[start:start + frames, :])
            semantic_feature = pad_sequence(feats, batch_first=True)
        x = x_batch.unsqueeze(1)
        with timer("generator_forward"):
            x_hat, loss_q, feature = generator(x)
        optim_d.zero_grad()
        with timer("d_forward"):
            outs = [disc(x, x_hat.detach()) for disc in discriminators.values()]
        with timer("d_loss"):
            loss_disc_all = sum(L.discriminator_loss(*o[:2]) for o in outs)
        with timer("d_backward"):
            loss_disc_all.backward()
        with timer("d_optimizer"):
            optim_d.step()
        del outs
        optim_g.zero_grad()
        with timer("g_disc_forward"):
            outs = [disc(x, x_hat) for disc in discriminators.values()]
        with timer("g_losses"):
            loss_recon = L.recon_loss(x, x_hat)
            loss_mel = sum(lam * L.mel_loss(x, x_hat, **kw) for lam, kw in zip(lambdas, mel_kw))
            loss_feature = sum(L.feature_loss(*o[2:]) for o in outs)
            loss_adversarial = sum(L.adversarial_loss(o[1]) for o in outs)
            loss_distill = L.d_axis_distill_loss(feature, semantic_feature)
            total = (loss_feature + loss_adversarial + loss_mel + loss_q * TRAIN["commitment_loss_lambda"]
                     + loss_recon * TRAIN["recon_loss_lambda"] + TRAIN["distill_loss_lambda"] * loss_distill)
        with timer("g_backward"):
            total.backward()
        with timer("g_optimizer"):
            optim_g.step()
        return {"loss_g": float(total.detach()), "loss_d": float(loss_disc_all.detach())}

    steps = []
    with M.RssSampler() as sampler:
        n_total = 1 if args.mode == "first" else args.steps + 1
        for i in range(n_total):
            timer = M.PhaseTimer(sampler=sampler)
            sampler.reset()
            t0, c0 = time.perf_counter(), time.process_time()
            losses = step(timer)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            steps.append({"wall": wall, "cpu": cpu, "phases": timer.times, "grouped": M.group_phases(timer.times),
                          "cpu_phases": timer.cpu_times, "cpu_grouped": M.group_phases(timer.cpu_times),
                          "peak_rss": sampler.peak, "phase_peak_rss": dict(sampler.phase_peaks),
                          "warmup": args.mode == "steady" and i == 0, **losses})
            sampler.phase_peaks.clear()
    out = {"side": "peer", "impl": "speechtokenizer==1.0.1", "kind": "train", "mode": args.mode,
           "batch": args.batch, "seconds": args.seconds, "params": params, "arch": ARCH, "train_cfg": TRAIN,
           "rss_start": rss0, "rss_after_build": rss_model, "ru_maxrss": M.peak_rss_bytes(), "steps": steps}
    if probe is not None:
        km = probe.report()
        out["kmeans"] = km
        if km.get("calls"):
            out["first_step_estimated_full_kmeans"] = steps[0]["wall"] + km["extra_seconds_for_full"]
    return out


def codec(args: argparse.Namespace) -> dict:
    generator = build_generator(args.seed).eval()
    M.mark_codebooks_initialised(generator, args.seed)
    sr = ARCH["sample_rate"]
    g = torch.Generator().manual_seed(args.seed)
    x = 0.1 * torch.randn(args.batch, 1, int(args.seconds * sr), generator=g)
    with torch.no_grad():  # warm-up on a short input (allocator, kernels)
        generator.decode(generator.encode(0.1 * torch.randn(1, 1, sr, generator=g)))
    rss_before = M.rss_bytes()
    holder = {}

    def enc():
        with torch.no_grad():
            holder["codes"] = generator.encode(x)

    def dec():
        with torch.no_grad():
            holder["wav"] = generator.decode(holder["codes"])

    timing = M.time_codec(enc, dec, args.seconds, args.batch, args.min_repeats, args.min_seconds, args.max_repeats)
    return {"side": "peer", "impl": "speechtokenizer==1.0.1", "kind": "codec", **timing,
            "codes_shape": list(holder["codes"].shape), "wav_shape": list(holder["wav"].shape),
            "rss_before": rss_before, "ru_maxrss": M.peak_rss_bytes()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    t = sub.add_parser("train")
    t.add_argument("--mode", choices=["first", "steady"], default="steady")
    t.add_argument("--batch", type=int, default=2)
    t.add_argument("--seconds", type=float, default=3.0)
    t.add_argument("--steps", type=int, default=3)
    t.add_argument("--kmeans-iters", type=int, default=3)
    c = sub.add_parser("codec")
    c.add_argument("--batch", type=int, default=1)
    c.add_argument("--seconds", type=float, default=10.0)
    c.add_argument("--min-repeats", type=int, default=2)
    c.add_argument("--min-seconds", type=float, default=3.0)
    c.add_argument("--max-repeats", type=int, default=20)
    for s in (t, c):
        s.add_argument("--threads", type=int, default=None)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--out", required=True)
    args = p.parse_args(argv)
    M.configure_threads(args.threads)
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # old-style weight_norm
    warnings.filterwarnings("ignore", category=UserWarning)
    result = train(args) if args.kind == "train" else codec(args)
    import speechtokenizer
    import torchaudio

    result["env"] = M.environment("cpu")
    result["env"].update({"speechtokenizer": speechtokenizer.__version__, "torchaudio": torchaudio.__version__})
    result["argv"] = sys.argv[1:]
    M.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
