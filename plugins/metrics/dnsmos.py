"""DNSMOS (Reddy et al., 2021/2022): no-reference MOS predictors, via PyPI ``speechmos``.

``speechmos`` ships Microsoft's ONNX models and runs them on onnxruntime, fully offline:

- P.835 (``sig_bak_ovr.onnx``): speech signal quality (SIG), background noise (BAK) and overall
  quality (OVRL), each mapped to 1..5 with the DNS challenge's polynomials;
- P.808 (``model_v8.onnx``): one overall MOS on a log-mel input.

Each column is its own registered metric (``dnsmos_ovrl``, ``dnsmos_sig``, ``dnsmos_bak``,
``dnsmos_p808``) because the harness's metric contract is one float per metric and utterance;
the three P.835 columns read one cached pass over the reconstruction (:mod:`._shared`), and the
P.808 model runs only when ``dnsmos_p808`` is asked for. speechmos' ``DNSMOS.__call__`` runs both
models on every window; its loop is repeated here (same windows, same calls, same polynomials;
tests/plugins/metrics/test_dnsmos.py checks equality with speechmos on the same audio) so that
OVRL alone does not pay for P.808's log-mel (librosa) and model.

Cost: speechmos (like Microsoft's dnsmos_local.py) tiles a clip shorter than 9.01 s by doubling it
and then scores every 9.01 s window hopped by 1 s, so a 4.5 s utterance becomes 18 s and up to 9
windows (speechmos' float arithmetic drops a last window now and then); test-other utterances
average about 4 windows. Each P.835 window took about 0.5 CPU-s
(one thread, a loaded 2-core machine), P.808 about 0.05 s: DNSMOS is the dearest metric of a
WER+STOI+PESQ+SIM+DNSMOS compare on CPU, by its protocol.

DNSMOS judges the reconstruction alone (the reference is not used), so the identity tokenizer
scores exactly what the original scores.

Input handling, as speechmos' own ``dnsmos.run`` on a file: 16 kHz mono float32 (the harness
resamples with soxr before the call); clips shorter than 9.01 s are tiled to that length by
speechmos; scores are the mean over 9.01 s windows hopped by 1 s. Samples outside [-1, 1], which
speechmos refuses, are clipped to [-1, 1] first — what any 16-bit file of the reconstruction
would hold, and what a listener would hear.

Threads: speechmos builds its ONNX sessions with onnxruntime's default (one intra-op thread per
core). In ``compare --workers N`` every worker runs one thread (benchmarks/harness/scoring.py), and
N processes each spinning a thread per core fight for the same cores; so the sessions here are built
with as many intra-op threads as torch has in this process (1 in a metric worker, all cores
inline), once per process and model type.
"""

from __future__ import annotations

import numpy as np

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._shared import ResultCache, require_modules, signal_key

SAMPLE_RATE = 16000
PIP = "speechmos onnxruntime librosa requests"  # speechmos declares none of its imports
_CACHE = ResultCache(size=8)
_SCORERS: dict[tuple[bool, int], object] = {}


def _scorer(personalized: bool):
    """speechmos' DNSMOS object with ONNX sessions at this process's thread count (built once)."""
    import os

    import onnxruntime as ort
    import torch
    from speechmos import dnsmos

    threads = max(1, torch.get_num_threads())
    key = (bool(personalized), threads)
    if key not in _SCORERS:
        root = os.path.dirname(os.path.abspath(dnsmos.__file__))
        primary = os.path.join(root, "pdnsmos_models" if personalized else "dnsmos_models", "sig_bak_ovr.onnx")
        p808 = os.path.join(root, "dnsmos_models", "model_v8.onnx")
        scorer = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)  # its __init__ would build default-threaded sessions
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        scorer.primary_model_path = primary
        scorer.onnx_sess = ort.InferenceSession(primary, options, providers=["CPUExecutionProvider"])
        scorer.p808_onnx_sess = ort.InferenceSession(p808, options, providers=["CPUExecutionProvider"])
        _SCORERS[key] = scorer
    return _SCORERS[key]


def _windows(audio: np.ndarray) -> list[np.ndarray]:
    """speechmos' windows of ``audio``: tiled by doubling to >= 9.01 s, 9.01 s long, hopped by 1 s."""
    from speechmos.dnsmos import INPUT_LENGTH

    length = int(INPUT_LENGTH * SAMPLE_RATE)
    while len(audio) < length:
        audio = np.append(audio, audio)
    hops = int(np.floor(len(audio) / SAMPLE_RATE) - INPUT_LENGTH) + 1
    segments = [audio[int(i * SAMPLE_RATE): int((i + INPUT_LENGTH) * SAMPLE_RATE)] for i in range(hops)]
    return [seg for seg in segments if len(seg) >= length]


def _p835(audio: np.ndarray, personalized: bool) -> dict[str, float]:
    """Mean over the windows of the P.835 model's SIG/BAK/OVRL, mapped by speechmos' polynomials."""
    scorer = _scorer(personalized)
    per_window = []
    for seg in _windows(audio):
        raw = scorer.onnx_sess.run(None, {"input_1": np.asarray(seg).astype("float32")[np.newaxis, :]})[0][0]
        per_window.append(scorer.get_polyfit_val(raw[0], raw[1], raw[2], bool(personalized)))
    sig, bak, ovr = zip(*per_window)
    return {"ovrl": float(np.mean(ovr)), "sig": float(np.mean(sig)), "bak": float(np.mean(bak))}


def _p808(audio: np.ndarray) -> float:
    """Mean over the windows of the P.808 model on speechmos' log-mel of each window."""
    scorer = _scorer(False)
    values = []
    for seg in _windows(audio):
        mel = np.array(scorer.audio_melspec(audio=seg[:-160])).astype("float32")[np.newaxis, :, :]
        values.append(scorer.p808_onnx_sess.run(None, {"input_1": mel})[0][0][0])
    return float(np.mean(values))


def dnsmos_scores(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, personalized: bool = False,
                  p808: bool = True) -> dict[str, float]:
    """``{"ovrl", "sig", "bak"}`` (and ``"p808"`` when asked) for one mono 16 kHz signal (cached by content)."""
    if int(sample_rate) != SAMPLE_RATE:
        raise ValueError(f"DNSMOS needs {SAMPLE_RATE} Hz input, got {sample_rate} Hz")
    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        raise ValueError("empty signal")
    if not np.isfinite(audio).all():
        raise ValueError("non-finite samples (NaN/Inf)")
    audio = np.clip(audio, -1.0, 1.0)
    key = signal_key(audio, SAMPLE_RATE)
    out = dict(_CACHE.get_or_compute((*key, "p835", bool(personalized)), lambda: _p835(audio, personalized)))
    if p808:  # P.808 has no personalised model: speechmos uses model_v8 for both
        out["p808"] = _CACHE.get_or_compute((*key, "p808"), lambda: _p808(audio))
    return out


class _DNSMOSColumn:
    """One DNSMOS column (1..5, higher is better) of the reconstruction alone."""

    _key = ""

    def __init__(self, personalized: bool = False) -> None:
        require_modules(self.name, PIP, "speechmos", "onnxruntime", "librosa", "requests")
        self.personalized = bool(personalized)
        self.needs = MetricNeeds(reference_audio=True, packages=("speechmos", "onnxruntime", "librosa"),
                                 sample_rate=SAMPLE_RATE)

    def __call__(self, *, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        return dnsmos_scores(np.asarray(estimate), int(sample_rate), self.personalized,
                             p808=self._key == "p808")[self._key]


class DNSMOSOverall(_DNSMOSColumn):
    """DNSMOS P.835 overall quality (OVRL)."""

    name = "dnsmos_ovrl"
    meta = MetricMeta(higher_is_better=True, display="DNSMOS OVRL", decimals=3, kind="audio")
    _key = "ovrl"


class DNSMOSSignal(_DNSMOSColumn):
    """DNSMOS P.835 speech signal quality (SIG)."""

    name = "dnsmos_sig"
    meta = MetricMeta(higher_is_better=True, display="DNSMOS SIG", decimals=3, kind="audio")
    _key = "sig"


class DNSMOSBackground(_DNSMOSColumn):
    """DNSMOS P.835 background-noise quality (BAK)."""

    name = "dnsmos_bak"
    meta = MetricMeta(higher_is_better=True, display="DNSMOS BAK", decimals=3, kind="audio")
    _key = "bak"


class DNSMOSP808(_DNSMOSColumn):
    """DNSMOS P.808 overall MOS."""

    name = "dnsmos_p808"
    meta = MetricMeta(higher_is_better=True, display="DNSMOS P.808", decimals=3, kind="audio")
    _key = "p808"


def register_metrics(register) -> None:
    register("dnsmos_ovrl", DNSMOSOverall)
    register("dnsmos_sig", DNSMOSSignal)
    register("dnsmos_bak", DNSMOSBackground)
    register("dnsmos_p808", DNSMOSP808)
