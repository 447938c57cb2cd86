"""Scale-invariant signal-to-distortion ratio (Le Roux et al., 2019), in dB."""

from __future__ import annotations

import math

import numpy as np

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._common import mono_pair

#: Cap for numerically identical signals (the ratio is infinite); keeps JSON finite.
MAX_DB = 100.0


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """SI-SDR with zero-mean signals: ``10 log10(|a s|^2 / |a s - s_hat|^2)``, ``a = <s_hat,s>/|s|^2``.

    Capped at :data:`MAX_DB` when the residual vanishes.
    """
    ref, est = mono_pair(reference, estimate)
    ref = ref - ref.mean()
    est = est - est.mean()
    energy = float(np.dot(ref, ref))
    if energy == 0.0:
        raise ValueError("reference is constant (zero energy); SI-SDR undefined")
    alpha = float(np.dot(est, ref)) / energy
    target = alpha * ref
    noise = est - target
    t = float(np.dot(target, target))
    n = float(np.dot(noise, noise))
    floor = t * 10 ** (-MAX_DB / 10)
    if t == 0.0:
        return -MAX_DB
    return 10.0 * math.log10(t / max(n, floor))


class SISDR:
    """Scale-invariant SDR in dB (higher is better; capped at 100 dB for identical signals)."""

    name = "si_sdr"
    meta = MetricMeta(higher_is_better=True, display="SI-SDR", unit="dB", decimals=2, kind="audio")

    def __init__(self, sample_rate: int = 16000) -> None:
        self.needs = MetricNeeds(reference_audio=True, sample_rate=int(sample_rate))

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, **_: object) -> float:
        return si_sdr(reference, estimate)


def register_metrics(register) -> None:
    register("si_sdr", SISDR)
