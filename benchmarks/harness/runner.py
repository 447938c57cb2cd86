"""The ``compare`` pipeline: load everything, reconstruct, score, record, render.

Order of work, so that mistakes surface before anything expensive runs:

1. read the evaluation set and draw the sample (:mod:`.dataset`), keep this shard's part of it
   (``--shard I/N``, :mod:`.shards`);
2. choose the metrics (:mod:`.selection`; a requested metric that cannot run stops here);
3. load every tokenizer (a missing checkpoint stops here, with the tokenizer's message) and
   expand it into one row per ``--n-q`` depth it has, then
   build the ASR backend when a metric needs transcripts (a missing model stops here);
4. write ``run.json`` and ``utterances.jsonl``;
5. for the ground-truth row (ASR on the original audio) and each tokenizer, process the
   utterances without a complete record in batches: encode/decode (timed), check the
   reconstruction, score audio metrics (optionally in worker processes), transcribe the batch,
   score text and system metrics, append one record per utterance;
6. with ``--consistency``, the batched/chunked encoding checks per row (:mod:`.consistency`);
7. aggregate and render every output (:mod:`.report`).

A tokenizer that raises on one utterance, a silent or non-finite reconstruction, an unreadable
reference file: each becomes a ``failed`` record with its reason (counted and listed for that
system; with comparable rows the utterance leaves every row's aggregate of the metric, see
:mod:`.aggregate`). A metric that raises is an error of that metric only.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from tokenizer_bench.core.audio import load_audio, resample, save_audio
from tokenizer_bench.core.errors import TokenizerBenchError
from tokenizer_bench.core.host_memory import reuse_freed_memory_on
from tokenizer_bench.core.io import write_json_atomic

from tokenizer_bench.benchmarks.harness.dataset import (
    EvalUtterance,
    load_eval_set,
    pick_examples,
    sample_utterances,
    write_utterance_list,
)
from tokenizer_bench.benchmarks.harness.records import RECORDS_NAME, RUN_NAME, UTTERANCES_NAME, RecordStore
from tokenizer_bench.benchmarks.harness.scoring import AudioScorer, score_system_metrics, score_text_metrics
from tokenizer_bench.benchmarks.harness.selection import MetricSelection, build_asr, metric_kind, select_metrics
from tokenizer_bench.benchmarks.harness.shards import parse_shard, shard_manifest, shard_utterances
from tokenizer_bench.benchmarks.harness.systems import (
    GROUND_TRUTH_LABEL,
    LoadedSystem,
    SystemSpec,
    assign_keys,
    expand_depths,
    load_systems,
    parse_depths,
    stable_hash,
)

#: Peak below this (about -80 dBFS) counts as a silent reconstruction.
SILENCE_PEAK = 1e-4

ProgressFn = Callable[[str, int, int], None]


@dataclass
class CompareConfig:
    """Everything ``tokenizer-bench compare`` needs (the CLI fills it from its options)."""

    systems: list[SystemSpec]
    data: list[str]
    out: Path
    num_samples: int | None = None
    seed: int = 42
    metrics: list[str] | None = None
    #: constructor options per metric (name -> {option: value}); presets use it for model ids / stand-ins
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    asr: str = "hf_whisper"
    asr_options: dict[str, Any] = field(default_factory=dict)
    save_audio: bool = False
    #: one depth, or a list of depths (rate-quality: one row per tokenizer and depth)
    n_q: int | list[int] | None = None
    device: str = "cpu"
    workers: int = 1
    batch_size: int = 8
    report_examples: int = 3
    aso_iterations: int = 1000
    confidence: float = 0.95
    plots: bool = True
    #: "common" (comparable rows: every row over the utterances all rows scored) or "per-row"
    aggregation: str = "common"
    #: multiple-comparison correction of the ASO tables: "none" (the paper), "bonferroni", "holm"
    correction: str = "none"
    #: "i/N": evaluate only the i-th (0-based) of N disjoint utterance subsets (merge with compare --merge)
    shard: str | None = None
    #: batched-vs-single and chunked-vs-whole encoding checks per row (consistency.py)
    consistency: bool = False
    consistency_chunk_s: float = 1.0
    #: per-codebook token statistics per row (token_report.py)
    token_stats: bool = False
    #: token-content probe: {"train": DIR, "transcripts": CACHE or None, **ProbeConfig fields}, or None (off)
    probe: dict[str, Any] | None = None
    #: what a --preset set and which offline stand-ins it used (recorded in run.json, shown in the report)
    preset: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d["systems"] = [asdict(s) for s in self.systems]
        return d


@dataclass
class Prepared:
    config: CompareConfig
    utterances: list[EvalUtterance]
    selection: MetricSelection
    asr: Any
    systems: list[LoadedSystem]
    gt_key: str | None
    examples: list[str]
    depths: list[int | None] = field(default_factory=lambda: [None])
    skipped_depths: list[dict] = field(default_factory=list)
    shard: dict[str, Any] | None = None
    all_utterances: list[EvalUtterance] = field(default_factory=list)  # the whole sample (= utterances unsharded)


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "system"


def on_device(kind: str, names: Sequence[str], options: dict[str, dict[str, Any]] | None,
              device: str) -> dict[str, dict[str, Any]]:
    """``options`` with ``device=<device>`` added for every component of ``kind`` (``metrics``,
    ``asr_backends``) in ``names`` whose factory takes a ``device`` argument and was not given one.

    Why: ``compare --device cuda`` should run the model-based metrics (speaker similarity,
    UTMOS) and the ASR on the GPU too, not only the tokenizers. Only for a non-CPU device (CPU is
    every factory's default), and an explicit ``--metric-option NAME.device=...`` wins. The added
    option is not part of a row's key: the device does not change what a metric measures.
    """
    from tokenizer_bench.core.plugins import get_registry

    out = {n: dict(o) for n, o in (options or {}).items()}
    if device.startswith("cpu"):
        return out
    registry = get_registry(kind)
    for name in names:
        if name in registry and "device" in registry.get(name).parameters():
            out.setdefault(name, {}).setdefault("device", device)
    return out


def prepare(cfg: CompareConfig) -> Prepared:
    """Steps 1-3: everything that can fail for a user reason fails here, before any work."""
    from tokenizer_bench.benchmarks.harness.aggregate import AGGREGATION_MODES
    from tokenizer_bench.benchmarks.harness.significance import CORRECTIONS

    from tokenizer_bench.core.errors import ConfigError

    if cfg.aggregation not in AGGREGATION_MODES:
        raise ConfigError(f"--aggregate {cfg.aggregation!r}: choose one of {', '.join(AGGREGATION_MODES)}")
    if cfg.correction not in CORRECTIONS:
        raise ConfigError(f"--correction {cfg.correction!r}: choose one of {', '.join(CORRECTIONS)}")
    shard = parse_shard(cfg.shard)
    depths = parse_depths(cfg.n_q)
    all_utts = sample_utterances(load_eval_set(cfg.data), cfg.num_samples, cfg.seed)
    utts = shard_utterances(all_utts, shard)
    from tokenizer_bench.core.plugins import get_registry

    metric_names = cfg.metrics if cfg.metrics is not None else get_registry("metrics").names()
    selection = select_metrics(cfg.metrics, options=on_device("metrics", metric_names, cfg.metric_options,
                                                              cfg.device) or None)
    systems = load_systems(cfg.systems, n_q=depths[0] if len(depths) == 1 else None, device=cfg.device)
    systems, skipped = expand_depths(systems, depths)
    asr = None
    asr_desc = None
    if selection.needs_transcripts:
        asr = build_asr(cfg.asr, on_device("asr_backends", [cfg.asr], {cfg.asr: dict(cfg.asr_options or {})},
                                           cfg.device)[cfg.asr])
        asr_desc = asr.describe()
    # The ASR settings are part of a system's key (records made with another ASR are not reused);
    # the metric set is not: a record lacking a newly requested metric is simply recomputed.
    # Metric options (a model, a backend) change what a metric measures, so they are part of it too
    # (only those given, so runs without options keep their keys).
    extra: dict[str, Any] = {"asr": asr_desc}
    options = {n: dict(o) for n, o in sorted((cfg.metric_options or {}).items()) if o and n in selection.active}
    if options:
        extra["metric_options"] = options
    assign_keys(systems, extra)
    gt_key = stable_hash({"ground_truth": asr_desc}) if asr is not None else None
    # examples are drawn from the whole sample, so a shard saves exactly the audio a single run would
    in_shard = {u.id for u in utts}
    examples = [e for e in pick_examples(all_utts, cfg.report_examples) if e in in_shard]
    return Prepared(cfg, utts, selection, asr, systems, gt_key, examples, depths, skipped,
                    shard_manifest(shard, all_utts) if shard is not None else None, all_utts)


def _run_manifest(p: Prepared) -> dict[str, Any]:
    return {
        "version": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": p.config.to_json(),
        "systems": [
            {"label": s.label, "name": s.spec.name, "checkpoint": s.spec.checkpoint, "baseline": s.spec.baseline,
             "ranked": s.ranked, "key": s.key, "info": s.info, "slug": slug(s.label), "depth": s.depth}
            for s in p.systems
        ],
        "ground_truth": None if p.gt_key is None else {"label": GROUND_TRUTH_LABEL, "key": p.gt_key},
        "asr": None if p.asr is None else p.asr.describe(),
        "metrics": {n: i.to_json() for n, i in p.selection.info().items()},
        "disabled_metrics": dict(p.selection.disabled),
        "num_utterances": len(p.utterances),
        "examples": p.examples,
        "significance": {"method": "aso", "iterations": p.config.aso_iterations,
                         "confidence": p.config.confidence, "seed": p.config.seed,
                         "correction": p.config.correction},
        "aggregation": p.config.aggregation,
        "depths": p.depths,
        "skipped_depths": p.skipped_depths,
        "shard": p.shard,
        "consistency": {"enabled": p.config.consistency, "chunk_s": p.config.consistency_chunk_s},
        "preset": p.config.preset,
    }


def _expected(names: Sequence[str], rec: dict | None) -> bool:
    if rec is None:
        return False
    if rec.get("status") == "failed":
        return True
    have = set(rec.get("metrics", {})) | set(rec.get("metric_errors", {}))
    return all(n in have for n in names)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _sync(device: str) -> None:
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize()


class Runner:
    """Executes a :class:`Prepared` comparison, appending records to ``out/records.jsonl``."""

    def __init__(self, prepared: Prepared, progress: ProgressFn | None = None) -> None:
        self.p = prepared
        self.cfg = prepared.config
        self.out = Path(self.cfg.out)
        self.store = RecordStore(self.out / RECORDS_NAME)
        self.progress = progress or (lambda label, done, total: None)
        self.metrics = prepared.selection.active
        self.text_metrics = {n: m for n, m in self.metrics.items() if metric_kind(m) == "text"}
        self.counts = {"computed": 0, "reused": 0}

    # ------------------------------------------------------------------ helpers
    def _pending(self, key: str, names: Sequence[str], existing: dict) -> list[EvalUtterance]:
        return [u for u in self.p.utterances if not _expected(names, existing.get((key, u.id)))]

    def _base_record(self, label: str, key: str, u: EvalUtterance) -> dict[str, Any]:
        return {"system": label, "system_key": key, "utt_id": u.id, "status": "ok", "error": None,
                "duration_s": None, "reference_text": u.text, "transcript": None,
                "metrics": {}, "metric_errors": {}, "timings": {}, "audio": None}

    def _transcribe(self, wavs: list[np.ndarray]) -> tuple[list[str | None], str | None]:
        try:
            texts = list(self.p.asr.transcribe(wavs))
            if len(texts) != len(wavs):
                raise RuntimeError(f"ASR returned {len(texts)} transcripts for {len(wavs)} inputs")
            return texts, None
        except Exception as exc:  # one bad batch must not end the run
            return [None] * len(wavs), f"ASR failed: {type(exc).__name__}: {exc}"

    def _finish_text(self, rec: dict, transcript: str | None, asr_error: str | None) -> None:
        if asr_error is not None:
            for n in self.text_metrics:
                rec["metric_errors"][n] = asr_error
            return
        rec["transcript"] = transcript
        values, errors = score_text_metrics(self.text_metrics, rec["reference_text"], transcript)
        rec["metrics"].update(values)
        rec["metric_errors"].update(errors)

    # ------------------------------------------------------------------ ground truth
    def run_ground_truth(self, existing: dict, scorer: AudioScorer | None = None) -> None:
        if self.p.asr is None:
            return
        key = self.p.gt_key
        names = list(self.text_metrics)
        pending = self._pending(key, names, existing)
        total = len(self.p.utterances)
        done = total - len(pending)
        self.counts["reused"] += done
        self.progress(GROUND_TRUTH_LABEL, done, total)
        sr = int(self.p.asr.sample_rate)
        for start in range(0, len(pending), self.cfg.batch_size):
            batch = pending[start : start + self.cfg.batch_size]
            recs, wavs, idx = [], [], []
            for u in batch:
                rec = self._base_record(GROUND_TRUTH_LABEL, key, u)
                rec["system"] = GROUND_TRUTH_LABEL
                try:
                    wav, _ = load_audio(u.path, sr)
                    rec["duration_s"] = wav.shape[-1] / sr
                    idx.append(len(recs))
                    wavs.append(wav[0].numpy())
                except TokenizerBenchError as exc:
                    rec.update(status="failed", error=f"reference audio: {exc}")
                recs.append(rec)
            if scorer is not None and scorer.transcribes:  # both workers transcribe, one utterance each
                futures = [scorer.submit_job(None, sr, None, sr, w) for w in wavs]
                for i, fut in zip(idx, futures):
                    self._finish_job(recs[i], fut, scorer)
            else:
                texts, err = self._transcribe(wavs) if wavs else ([], None)
                for i, t in zip(idx, texts):
                    self._finish_text(recs[i], t, err)
            for rec in recs:
                self.store.append(rec)
                self.counts["computed"] += 1
                done += 1
                self.progress(GROUND_TRUTH_LABEL, done, total)

    # ------------------------------------------------------------------ tokenizers
    def _warm_up(self, system: LoadedSystem) -> None:
        tok = system.tokenizer
        sr = int(tok.sample_rate)
        g = torch.Generator().manual_seed(0)
        wav = 0.01 * torch.randn(1, 1, sr // 2, generator=g)
        try:
            with torch.inference_mode():
                codes, side = tok.encode_with_side(wav.to(self.cfg.device), n_q=system.info["n_q"])
                tok.decode(codes, side=side or None)
        except Exception:  # the real utterances will report any problem, with their ids
            pass

    def _reconstruct(self, system: LoadedSystem, wav: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        tok = system.tokenizer
        dev = self.cfg.device
        x = wav.reshape(1, 1, -1).to(dev)
        # every tokenizer gets the same host-allocator treatment (heap reuse inside the timed calls,
        # the trim after them), so RTFs compare models, not allocation patterns
        with torch.inference_mode(), reuse_freed_memory_on(dev):
            _sync(dev)
            t0 = time.perf_counter()
            codes, side = tok.encode_with_side(x, n_q=system.info["n_q"])
            _sync(dev)
            t1 = time.perf_counter()
            out = tok.decode(codes, side=side or None)
            _sync(dev)
            t2 = time.perf_counter()
        out = out.detach().float().cpu()
        if out.dim() != 3 or out.shape[0] != 1 or out.shape[1] != 1:
            raise ValueError(f"decode returned shape {tuple(out.shape)}, expected [1, 1, N]")
        out = out[0, 0, : x.shape[-1]]  # a longer output is cut to the input length
        return out, {"encode_s": t1 - t0, "decode_s": t2 - t1}

    def run_system(self, system: LoadedSystem, existing: dict, scorer: AudioScorer) -> None:
        names = list(self.metrics)
        pending = self._pending(system.key, names, existing)
        total = len(self.p.utterances)
        done = total - len(pending)
        self.counts["reused"] += done
        self.progress(system.label, done, total)
        if not pending:
            return
        self._warm_up(system)
        tok_sr = int(system.info["sample_rate"])
        asr_sr = int(self.p.asr.sample_rate) if self.p.asr is not None else None
        examples = set(self.p.examples)
        for start in range(0, len(pending), self.cfg.batch_size):
            batch = pending[start : start + self.cfg.batch_size]
            recs, futures, asr_wavs, asr_idx = [], {}, [], []
            for u in batch:
                rec = self._base_record(system.label, system.key, u)
                recs.append(rec)
                try:
                    ref, ref_sr = load_audio(u.path)
                except TokenizerBenchError as exc:
                    rec.update(status="failed", error=f"reference audio: {exc}")
                    continue
                ref_np = ref[0].numpy()
                rec["duration_s"] = ref_np.shape[-1] / ref_sr
                try:
                    x = resample(ref, ref_sr, tok_sr)
                    recon, timings = self._reconstruct(system, x)
                except Exception as exc:  # the tokenizer failed on this utterance
                    rec.update(status="failed", error=f"tokenizer failed: {type(exc).__name__}: {exc}")
                    continue
                rec["timings"] = timings
                if not torch.isfinite(recon).all():
                    rec.update(status="failed", error="reconstruction contains NaN or Inf samples")
                    continue
                peak = float(recon.abs().max()) if recon.numel() else 0.0
                if peak < SILENCE_PEAK:
                    rec.update(status="failed", error=f"silent reconstruction (peak {peak:.2e} < {SILENCE_PEAK:.0e})")
                    continue
                if self.cfg.save_audio or u.id in examples:
                    rel = Path("audio") / slug(system.label) / f"{slug(u.id)}.wav"
                    save_audio(self.out / rel, recon.unsqueeze(0), tok_sr)
                    rec["audio"] = rel.as_posix()
                recon_np = recon.numpy()
                if asr_sr is not None and scorer.transcribes:  # metrics and transcript in one worker job
                    futures[len(recs) - 1] = scorer.submit_job(ref_np, ref_sr, recon_np, tok_sr,
                                                               resample(recon, tok_sr, asr_sr).numpy())
                else:
                    futures[len(recs) - 1] = scorer.submit(ref_np, ref_sr, recon_np, tok_sr)
                values, errors = score_system_metrics(self.metrics, system.info, timings, rec["duration_s"])
                rec["metrics"].update(values)
                rec["metric_errors"].update(errors)
                if asr_sr is not None and not scorer.transcribes:
                    asr_idx.append(len(recs) - 1)
                    asr_wavs.append(resample(recon, tok_sr, asr_sr).numpy())
            if asr_wavs:
                texts, err = self._transcribe(asr_wavs)
                for i, t in zip(asr_idx, texts):
                    self._finish_text(recs[i], t, err)
            for i, rec in enumerate(recs):
                if i in futures and scorer.transcribes and asr_sr is not None:
                    self._finish_job(rec, futures[i], scorer)
                elif i in futures:
                    try:
                        values, errors = futures[i].result()
                    except Exception as exc:  # a crashed worker process
                        values, errors = {}, {n: f"metric worker failed: {exc}" for n in scorer.metrics}
                    rec["metrics"].update(values)
                    rec["metric_errors"].update(errors)
                self.store.append(rec)
                self.counts["computed"] += 1
                done += 1
                self.progress(system.label, done, total)

    def _worker_asr_spec(self) -> tuple[str, dict[str, Any]] | None:
        """The ASR moves into the worker processes (each builds it once) when there are workers, the
        run is on CPU (one model copy per GPU process is not wanted) and the backend says an
        utterance's transcript does not depend on its batch (``batch_invariant``)."""
        asr = self.p.asr
        if asr is None or self.cfg.workers < 2 or not self.cfg.device.startswith("cpu"):
            return None
        if not getattr(asr, "batch_invariant", False):
            return None
        return self.cfg.asr, dict(self.cfg.asr_options or {})

    def _finish_job(self, rec: dict, future: Any, scorer: AudioScorer) -> None:
        try:
            (values, errors), (transcript, asr_error) = future.result()
        except Exception as exc:  # a crashed worker process
            reason = f"metric worker failed: {exc}"
            values, errors = {}, {n: reason for n in scorer.metrics}
            transcript, asr_error = None, reason
        rec["metrics"].update(values)
        rec["metric_errors"].update(errors)
        self._finish_text(rec, transcript, asr_error)

    def run(self) -> dict[str, int]:
        self.out.mkdir(parents=True, exist_ok=True)
        existing = self.store.load()
        scorer = AudioScorer(self.metrics, self.cfg.workers, asr_spec=self._worker_asr_spec())
        threads = torch.get_num_threads()
        try:
            if scorer.parallel and self.cfg.device.startswith("cpu"):
                # the workers fill the cores: more torch threads here than the cores they leave
                # spin for busy cores (2 cores, 2 workers: the codec's 2 threads cost 2-20x the CPU of 1)
                torch.set_num_threads(max(1, _usable_cores() - self.cfg.workers))
            self.run_ground_truth(existing, scorer)
            for system in self.p.systems:
                self.run_system(system, existing, scorer)
        finally:
            scorer.close()
            torch.set_num_threads(threads)
        first_shard = self.p.shard is None or self.p.shard["index"] == 0
        # the checks after the rows encode and decode too: the same heap reuse as _reconstruct's
        with reuse_freed_memory_on(self.cfg.device):
            if self.cfg.consistency and first_shard:
                from tokenizer_bench.benchmarks.harness.consistency import run_consistency

                run_consistency(self.p.systems, self.p.all_utterances, self.out, device=self.cfg.device,
                                chunk_s=self.cfg.consistency_chunk_s, progress=self.progress)
            if (self.cfg.token_stats or self.cfg.probe) and first_shard:
                from tokenizer_bench.benchmarks.harness.token_report import run_extras

                run_extras(self.p.systems, self.p.all_utterances, self.out, self.cfg.token_stats, self.cfg.probe,
                           progress=self.progress)
        return dict(self.counts)


def unscored_rows(out: str | Path) -> dict[str, str]:
    """Rows of the comparison in ``out`` that scored none of their utterances: label -> the first
    reason recorded (a tokenizer that fails on every input, a diverged model decoding NaN)."""
    import json

    run = json.loads((Path(out) / RUN_NAME).read_text(encoding="utf-8"))
    records = RecordStore(Path(out) / RECORDS_NAME).load()
    empty: dict[str, str] = {}
    for system in run.get("systems", []):
        mine = [r for (key, _), r in records.items() if key == system["key"]]
        if mine and not any(r.get("status") == "ok" for r in mine):
            empty[system["label"]] = str(mine[0].get("error") or "no record is ok")
    return empty


def run_compare(cfg: CompareConfig, progress: ProgressFn | None = None, render: bool = True,
                console: Any = None) -> dict[str, Any]:
    """Prepare, run (resuming from existing records) and render. Returns counts and output paths."""
    prepared = prepare(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_utterance_list(out / UTTERANCES_NAME, prepared.utterances)
    write_json_atomic(out / RUN_NAME, _run_manifest(prepared))
    counts = Runner(prepared, progress).run()
    result: dict[str, Any] = {"counts": counts, "out": str(out)}
    if render:
        from tokenizer_bench.benchmarks.harness.report import render_outputs

        result["outputs"] = render_outputs(out, console=console, plots=cfg.plots)
    return result
