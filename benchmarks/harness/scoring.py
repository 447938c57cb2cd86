"""Evaluating metrics for one (system, utterance): resampling, length matching, error capture.

Audio handed to a metric (documented contract):

- the reference is the *original file* resampled from its own rate to the metric's rate
  (``needs.sample_rate``; the reconstruction's rate when None), the reconstruction likewise from
  the tokenizer's rate, both with soxr (HQ);
- lengths are matched by trimming both to the shorter one (never padding: padding with zeros
  would reward or punish the silence, not the codec); the harness already cut a reconstruction
  that came out longer than its input to the input length;
- arrays are 1-D float64 CPU torch tensors (numpy-convertible), mono.

Any exception a metric raises becomes that metric's error for the utterance (type and message);
a NaN/Inf result is an error too, never a number in an aggregate.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch

from tokenizer_bench.core.audio import resample
from tokenizer_bench.core.interfaces import MetricNeeds

from tokenizer_bench.benchmarks.harness.selection import metric_kind


def _resampled(cache: dict, wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    key = (id(wav), sr_out)
    if key not in cache:
        if sr_in == sr_out:
            cache[key] = np.asarray(wav, dtype=np.float64)
        else:
            resampled = resample(torch.from_numpy(np.asarray(wav, dtype=np.float32)), sr_in, sr_out)
            cache[key] = resampled.numpy().astype(np.float64)
    return cache[key]


def matched_pair(reference: np.ndarray, ref_sr: int, estimate: np.ndarray, est_sr: int, target_sr: int,
                 cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Both signals at ``target_sr``, trimmed to the shorter length."""
    cache = {} if cache is None else cache
    ref = _resampled(cache, reference, ref_sr, target_sr)
    est = _resampled(cache, estimate, est_sr, target_sr)
    n = min(ref.shape[-1], est.shape[-1])
    return ref[..., :n], est[..., :n]


def _describe_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _store(values: dict, errors: dict, name: str, fn) -> None:
    try:
        value = float(fn())
    except Exception as exc:  # recorded per utterance, never a crashed run
        errors[name] = _describe_error(exc)
        return
    if not math.isfinite(value):
        errors[name] = f"metric returned {value}"
    else:
        values[name] = value


def score_audio_metrics(metrics: Mapping[str, Any], reference: np.ndarray, ref_sr: int,
                        estimate: np.ndarray, est_sr: int) -> tuple[dict[str, float], dict[str, str]]:
    """Every ``audio`` metric of ``metrics`` on one pair."""
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    cache: dict = {}
    for name, metric in metrics.items():
        if metric_kind(metric) != "audio":
            continue
        rate = getattr(metric, "needs", MetricNeeds()).sample_rate or est_sr

        def call(metric=metric, rate=rate):
            ref, est = matched_pair(reference, ref_sr, estimate, est_sr, rate, cache)
            if ref.shape[-1] == 0:
                raise ValueError("empty signal after length matching")
            return metric(reference=torch.from_numpy(ref), estimate=torch.from_numpy(est), sample_rate=rate)

        _store(values, errors, name, call)
    return values, errors


def score_text_metrics(metrics: Mapping[str, Any], reference_text: str | None,
                       transcript: str | None) -> tuple[dict[str, float], dict[str, str]]:
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name, metric in metrics.items():
        if metric_kind(metric) != "text":
            continue
        _store(values, errors, name, lambda m=metric: m(reference_text=reference_text, transcript=transcript))
    return values, errors


def score_system_metrics(metrics: Mapping[str, Any], tokenizer: dict[str, Any], timings: dict[str, float],
                         duration_s: float) -> tuple[dict[str, float], dict[str, str]]:
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name, metric in metrics.items():
        if metric_kind(metric) != "system":
            continue
        _store(values, errors, name,
               lambda m=metric: m(tokenizer=tokenizer, timings=timings, duration_s=duration_s))
    return values, errors


# ----------------------------------------------------------------------------- worker processes
_WORKER_METRICS: dict[str, Any] | None = None
_WORKER_ASR: Any = None


def _init_worker(metrics: dict[str, Any], asr_spec: tuple[str, dict[str, Any]] | None = None) -> None:
    """One thread per worker process: the pool already fills the cores, and a multi-threaded
    library inside each of several processes spins for cores that are busy (measured on 2 cores:
    the codec's 2 torch threads took 2-20x the CPU of one). numba's ``prange`` loops in ViSQOL
    write independent outputs, so their thread count cannot change a value."""
    global _WORKER_METRICS, _WORKER_ASR
    torch.set_num_threads(1)
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:  # visqol-python then runs its pure-Python loops
        pass
    _WORKER_METRICS = metrics
    if asr_spec is not None:
        from tokenizer_bench.benchmarks.harness.selection import build_asr

        _WORKER_ASR = build_asr(*asr_spec)


def _worker_score(reference: np.ndarray, ref_sr: int, estimate: np.ndarray, est_sr: int):
    assert _WORKER_METRICS is not None
    return score_audio_metrics(_WORKER_METRICS, reference, ref_sr, estimate, est_sr)


def transcribe_one(asr: Any, wav: np.ndarray) -> tuple[str | None, str | None]:
    """``(transcript, None)`` or ``(None, reason)``: one failed utterance must not end the run."""
    try:
        texts = list(asr.transcribe([wav]))
        if len(texts) != 1:
            raise RuntimeError(f"ASR returned {len(texts)} transcripts for 1 input")
        return texts[0], None
    except Exception as exc:
        return None, f"ASR failed: {type(exc).__name__}: {exc}"


def _worker_job(reference: np.ndarray | None, ref_sr: int, estimate: np.ndarray | None, est_sr: int,
                asr_audio: np.ndarray | None):
    """Audio metrics of one pair (when ``estimate`` is given) and the transcript of ``asr_audio``."""
    scored = ({}, {}) if estimate is None else _worker_score(reference, ref_sr, estimate, est_sr)
    text = None if asr_audio is None else transcribe_one(_WORKER_ASR, asr_audio)
    return scored, text


class AudioScorer:
    """Runs audio metrics inline, or in ``workers`` processes (``submit`` returns a future-like).

    With ``asr_spec`` (registry name, options) each worker builds its own ASR backend once and
    transcribes there too (``submit_job``), so the main process only encodes/decodes. The runner
    passes it only for backends marked ``batch_invariant`` (an utterance's transcript does not
    depend on what it is batched with), so moving the ASR cannot change a transcript.
    """

    def __init__(self, metrics: Mapping[str, Any], workers: int = 1,
                 asr_spec: tuple[str, dict[str, Any]] | None = None) -> None:
        self.metrics = {n: m for n, m in metrics.items() if metric_kind(m) == "audio"}
        self.workers = int(workers)
        self._pool = None
        self.transcribes = False
        if self.workers > 1 and (self.metrics or asr_spec is not None):
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.metrics, asr_spec))
            self.transcribes = asr_spec is not None

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def submit(self, reference: np.ndarray, ref_sr: int, estimate: np.ndarray, est_sr: int):
        if self._pool is not None:
            return self._pool.submit(_worker_score, reference, ref_sr, estimate, est_sr)
        return _Done(score_audio_metrics(self.metrics, reference, ref_sr, estimate, est_sr))

    def submit_job(self, reference: np.ndarray | None, ref_sr: int, estimate: np.ndarray | None, est_sr: int,
                   asr_audio: np.ndarray):
        """Audio metrics (when ``estimate`` is given) and the worker's transcript of ``asr_audio``;
        the future's result is ``((values, errors), (transcript, asr_error))``."""
        if not self.transcribes:
            raise RuntimeError("submit_job needs a scorer built with asr_spec and workers > 1")
        return self._pool.submit(_worker_job, reference, ref_sr, estimate, est_sr, asr_audio)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _Done:
    def __init__(self, value) -> None:
        self._value = value

    def result(self):
        return self._value
