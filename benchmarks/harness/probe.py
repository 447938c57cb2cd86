"""Token-content probe: do the frozen tokens carry the words?

Every other metric judges decoded audio. This one trains a small CTC character recogniser on
the *frozen* embeddings of a tokenizer's codes (:meth:`Tokenizer.code_embeddings`) on one split
and scores its character error rate (CER, jiwer) on a held-out split with no shared speaker
(SpeechTokenizer's SLMTokBench and DASB measure text content with such a probe). Feature sets:

* ``rvq1``: the first codebook's vectors alone (what DM-Codec distils the teachers into);
* ``sum``: all codebooks' vectors summed (the quantized latent the decoder sees; their plain mean
  is the same feature after the probe's standardisation);
* ``weighted``: a learned average over codebooks: softmax weights, one per codebook, trained with
  the probe (SUPERB's weighted layer sum), so the probe picks the codebooks that carry the text;
* ``concat``: every codebook's vectors stacked ``[Q·D, T]``;
* ``mel``: the original audio's log-mel frames, the reference row (what a probe of this size
  reaches from the signal itself).

The probe is the same for every feature set: per-dimension standardisation (train statistics),
``conv_layers`` Conv1d+GELU layers of width ``hidden`` (optional dropout), ``lstm_layers`` BiLSTM
layers, a linear layer onto blank + 28 characters (A-Z, apostrophe, space), Adam (constant or
warm-up + cosine learning rate), ``steps`` updates of ``batch_size`` utterances drawn with a seeded
generator, optional SpecAugment-style masks on the training features, greedy CTC decoding. Same
seed, same data -> the same CER (checked by a test). CIs: bootstrap over test utterances of corpus
CER, and paired bootstrap of a difference between two rows (same utterances, same resamples).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from tokenizer_bench.core.errors import ConfigError, NotApplicableError

#: blank is index 0; characters follow.
ALPHABET = " 'ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: the default rows of a tokenizer; every feature set token_features knows: ALL_FEATURE_SETS
FEATURE_SETS = ("rvq1", "sum")
ALL_FEATURE_SETS = ("rvq1", "sum", "weighted", "concat")


def normalise_text(text: str) -> str:
    """Upper case, only A-Z, apostrophe and single spaces (LibriSpeech's official alphabet).

    Applied to STT transcripts (Whisper punctuates and capitalises) and official ones alike."""
    text = re.sub(r"[^A-Z' ]+", " ", text.upper().replace("-", " "))
    return re.sub(r"\s+", " ", text).strip()


def text_to_ids(text: str) -> list[int]:
    return [ALPHABET.index(c) + 1 for c in normalise_text(text)]


def ids_to_text(ids: Iterable[int]) -> str:
    return "".join(ALPHABET[i - 1] for i in ids if i > 0)


def greedy_ctc(logits: torch.Tensor, length: int) -> str:
    """Best path of ``logits [T, V]`` up to ``length``: collapse repeats, drop blanks."""
    best = logits[:length].argmax(dim=-1).tolist()
    out, prev = [], 0
    for i in best:
        if i != prev and i != 0:
            out.append(i)
        prev = i
    return ids_to_text(out)


class ProbeConfig(BaseModel):
    """Size and schedule of the probe. The defaults are what benchmarks/results/token_probe.md used: about
    100 s of training per row on one CPU thread on librispeech-mini's 251 train utterances."""

    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(128, ge=1)
    conv_layers: int = Field(3, ge=0)
    kernel_size: int = Field(5, ge=1)
    #: 0 by default: a BiLSTM makes the probe ~20x slower on CPU (lstm_layers=2, hidden=256 for real runs)
    lstm_layers: int = Field(0, ge=0)
    steps: int = Field(400, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(3e-3, gt=0)
    seed: int = 0
    #: after every Conv1d+GELU and between BiLSTM layers
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    #: "constant" (the defaults' setting) or a linear warm-up over warmup_steps then a cosine to 0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    #: SpecAugment-style masks on each training item (standardised features set to 0, the train mean):
    #: time_masks spans of up to time_mask_frames frames, feature_masks bands of up to feature_mask_dims dims
    time_masks: int = Field(0, ge=0)
    time_mask_frames: int = Field(10, ge=1)
    feature_masks: int = Field(0, ge=0)
    feature_mask_dims: int = Field(8, ge=1)


class CTCProbe(nn.Module):
    """Conv1d+GELU stack, optional BiLSTM, linear onto ``len(ALPHABET) + 1`` CTC classes."""

    def __init__(self, dim: int, cfg: ProbeConfig, groups: int = 1) -> None:
        """``groups`` > 1: the input is ``groups`` stacked feature sets of ``dim // groups`` dims each
        (one per codebook), averaged with learned softmax weights before the first layer."""
        super().__init__()
        if dim % groups:
            raise ValueError(f"probe: {dim} input dims do not split into {groups} equal groups")
        self.groups = groups
        self.group_logits = nn.Parameter(torch.zeros(groups)) if groups > 1 else None
        layers: list[nn.Module] = []
        width = dim // groups
        for _ in range(cfg.conv_layers):
            layers += [nn.Conv1d(width, cfg.hidden, cfg.kernel_size, padding=cfg.kernel_size // 2), nn.GELU()]
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
            width = cfg.hidden
        self.conv = nn.Sequential(*layers)
        self.lstm = (nn.LSTM(width, cfg.hidden, num_layers=cfg.lstm_layers, batch_first=True, bidirectional=True,
                             dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0)
                     if cfg.lstm_layers else None)
        self.out = nn.Linear(2 * cfg.hidden if self.lstm is not None else width, len(ALPHABET) + 1)

    def group_weights(self) -> torch.Tensor | None:
        """The learned weight of each input group (codebook), summing to 1; None without groups."""
        return None if self.group_logits is None else self.group_logits.softmax(dim=0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x [B, D, T]`` -> log-probabilities ``[B, T, V]``."""
        weights = self.group_weights()
        if weights is not None:
            b, d, t = x.shape
            x = torch.einsum("g,bgdt->bdt", weights, x.reshape(b, self.groups, d // self.groups, t))
        h = self.conv(x).transpose(1, 2)
        if self.lstm is not None:
            packed = nn.utils.rnn.pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[-1])
        return self.out(h).log_softmax(dim=-1)


@dataclass
class ProbeItem:
    """One utterance's frozen features ``[D, T]`` and its transcript."""

    id: str
    speaker: str
    features: torch.Tensor
    text: str
    #: > 1: ``features`` stacks this many per-codebook feature sets, averaged by learned weights (``weighted``)
    groups: int = 1


def _pad(batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([f.shape[-1] for f in batch])
    x = torch.zeros(len(batch), batch[0].shape[0], int(lengths.max()))
    for i, f in enumerate(batch):
        x[i, :, : f.shape[-1]] = f
    return x, lengths


@dataclass
class ProbeResult:
    cer: float
    per_utterance: list[dict[str, Any]]
    train_seconds: float
    final_loss: float
    ci95: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"cer": self.cer, "ci95": list(self.ci95) if self.ci95 else None, "train_seconds": self.train_seconds,
                "final_loss": self.final_loss, "num_test": len(self.per_utterance), **self.extra,
                "per_utterance": self.per_utterance}


def check_disjoint_speakers(train: Sequence[ProbeItem], test: Sequence[ProbeItem]) -> None:
    shared = sorted({i.speaker for i in train} & {i.speaker for i in test})
    if shared:
        raise ConfigError(f"probe: train and test splits share speaker(s) {', '.join(shared[:5])}; the probe must be "
                          "scored on unseen speakers")


def spec_augment(x: torch.Tensor, cfg: ProbeConfig, gen: torch.Generator) -> torch.Tensor:
    """``x [D, T]`` with ``cfg.time_masks`` time spans and ``cfg.feature_masks`` feature bands set to 0
    (each of a width drawn uniformly from 0 to its maximum, at a uniform position); a copy."""
    x = x.clone()
    d, t = x.shape
    for n, limit, axis in ((cfg.time_masks, cfg.time_mask_frames, 1), (cfg.feature_masks, cfg.feature_mask_dims, 0)):
        size = t if axis == 1 else d
        for _ in range(n):
            width = int(torch.randint(0, min(limit, size) + 1, (1,), generator=gen))
            start = int(torch.randint(0, size - width + 1, (1,), generator=gen))
            if axis == 1:
                x[:, start:start + width] = 0.0
            else:
                x[start:start + width, :] = 0.0
    return x


def learning_rate(cfg: ProbeConfig, step: int) -> float:
    """The learning rate of update ``step`` (0-based): constant, or linear warm-up then cosine to 0."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * (step - cfg.warmup_steps) / span))


def train_and_score(train: Sequence[ProbeItem], test: Sequence[ProbeItem], cfg: ProbeConfig,
                    log_every: int = 0) -> ProbeResult:
    """Train a fresh probe on ``train`` and return its corpus CER on ``test`` (deterministic under ``cfg.seed``)."""
    import jiwer

    if not train or not test:
        raise ConfigError(f"probe: need train and test utterances (got {len(train)} and {len(test)})")
    check_disjoint_speakers(train, test)
    train = [t for t in train if text_to_ids(t.text)]
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    feats = torch.cat([t.features for t in train], dim=-1)
    mean, std = feats.mean(dim=1, keepdim=True), feats.std(dim=1, keepdim=True).clamp_min(1e-5)
    norm = lambda f: (f - mean) / std  # noqa: E731
    targets = [torch.tensor(text_to_ids(t.text)) for t in train]
    model = CTCProbe(feats.shape[0], cfg, groups=train[0].groups)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    augment = cfg.time_masks > 0 or cfg.feature_masks > 0
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    t0, loss_value = time.perf_counter(), float("nan")
    model.train()
    for step in range(cfg.steps):
        idx = torch.randint(len(train), (cfg.batch_size,), generator=gen).tolist()
        feats_b = [norm(train[i].features) for i in idx]
        if augment:
            feats_b = [spec_augment(f, cfg, gen) for f in feats_b]
        x, lengths = _pad(feats_b)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        tgt = [targets[i] for i in idx]
        logp = model(x, lengths).transpose(0, 1)  # [T, B, V]
        loss = ctc(logp, torch.cat(tgt), lengths, torch.tensor([len(t) for t in tgt]))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        loss_value = float(loss.detach())
        if log_every and (step + 1) % log_every == 0:
            print(f"probe step {step + 1}: ctc {loss_value:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    train_seconds = time.perf_counter() - t0
    model.eval()
    per = []
    with torch.no_grad():
        for item in test:
            f = norm(item.features)
            logp = model(f[None], torch.tensor([f.shape[-1]]))[0]
            hyp, ref = greedy_ctc(logp, f.shape[-1]), normalise_text(item.text)
            if hyp and ref:
                out = jiwer.process_characters(ref, hyp)
                errors = out.substitutions + out.deletions + out.insertions
            else:  # jiwer refuses empty strings: every character of the other side is an error
                errors = len(ref) or len(hyp)
            per.append({"id": item.id, "errors": int(errors), "ref_chars": len(ref), "hyp": hyp})
    cer = sum(p["errors"] for p in per) / max(1, sum(p["ref_chars"] for p in per))
    weights = model.group_weights()
    extra = {"codebook_weights": [round(float(w), 4) for w in weights.detach()]} if weights is not None else {}
    return ProbeResult(cer, per, train_seconds, loss_value, ci95=bootstrap_ci(per, seed=cfg.seed), extra=extra)


def bootstrap_ci(per: Sequence[dict[str, Any]], n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of corpus CER over test utterances resampled with replacement."""
    e = np.array([p["errors"] for p in per], float)
    r = np.array([p["ref_chars"] for p in per], float)
    idx = np.random.default_rng(seed).integers(0, len(per), size=(n, len(per)))
    stats = e[idx].sum(1) / np.maximum(r[idx].sum(1), 1)
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def paired_difference(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], n: int = 1000,
                      seed: int = 0) -> dict[str, float]:
    """CER(a) - CER(b) on the same test utterances, its 95 % paired-bootstrap interval and the
    fraction of resamples where a is not better (a one-sided p-value for "a < b")."""
    ids = [p["id"] for p in a]
    if ids != [p["id"] for p in b]:
        raise ValueError("paired_difference needs both rows scored on the same utterances in the same order")
    ea, eb = (np.array([p["errors"] for p in x], float) for x in (a, b))
    r = np.array([p["ref_chars"] for p in a], float)
    idx = np.random.default_rng(seed).integers(0, len(ids), size=(n, len(ids)))
    d = (ea[idx].sum(1) - eb[idx].sum(1)) / np.maximum(r[idx].sum(1), 1)
    return {"diff": float((ea.sum() - eb.sum()) / max(r.sum(), 1)), "ci95_low": float(np.percentile(d, 2.5)),
            "ci95_high": float(np.percentile(d, 97.5)), "p_not_lower": float((d >= 0).mean())}


# ---------------------------------------------------------------------------- features
def log_mel(wav: torch.Tensor, sample_rate: int, frame_rate: float = 50.0, n_mels: int = 80) -> torch.Tensor:
    """Log-mel frames ``[n_mels, T]`` of a mono ``wav [N]`` at ``frame_rate`` (hop = sr / frame_rate)."""
    from transformers.audio_utils import mel_filter_bank

    hop = int(round(sample_rate / frame_rate))
    n_fft = 1 << max(8, math.ceil(math.log2(2 * hop)))
    fb = torch.from_numpy(mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=0.0,
                                          max_frequency=sample_rate / 2, sampling_rate=sample_rate, norm="slaney",
                                          mel_scale="slaney")).float()
    spec = torch.stft(wav.reshape(-1).float(), n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    return torch.log(fb.T @ spec.pow(2) + 1e-6)


def token_features(tokenizer: Any, wav: torch.Tensor, which: str, n_q: int | None = None) -> torch.Tensor:
    """Frozen code embeddings of ``wav [N]``: ``rvq1`` (first codebook) ``[D, T]``; of the first ``n_q``
    (all when None): ``sum`` ``[D, T]``, ``concat`` ``[n_q·D, T]``, or ``weighted`` ``[n_q, D, T]`` (the
    probe learns their average, see :func:`build_items`).

    Raises :class:`NotApplicableError` when the tokenizer's codes have no embedding."""
    if which not in ALL_FEATURE_SETS:
        raise ConfigError(f"probe: feature set must be one of {', '.join(ALL_FEATURE_SETS)}, got {which!r}")
    sr = int(getattr(tokenizer, "sample_rate", 16000))
    if sr != 16000:  # probe splits are loaded at 16 kHz
        from tokenizer_bench.core.audio import resample

        wav = resample(wav.reshape(1, -1), 16000, sr)
    with torch.no_grad():
        codes = tokenizer.encode(wav.reshape(1, 1, -1).float(), n_q=1 if which == "rvq1" else n_q)
        emb = tokenizer.code_embeddings(codes)  # [1, Q, D, T]
    emb = emb[0].float().cpu()
    if which == "rvq1":
        return emb[0]
    if which == "weighted":
        return emb
    return emb.sum(dim=0) if which == "sum" else emb.reshape(-1, emb.shape[-1])


FeatureFn = Callable[[torch.Tensor], torch.Tensor]


def build_items(utts: Sequence[tuple[str, str, torch.Tensor, str]], feature: FeatureFn) -> list[ProbeItem]:
    """``(id, speaker, wav [N], text)`` tuples -> :class:`ProbeItem` s with ``feature(wav)``: ``[D, T]``,
    or ``[G, D, T]`` per-codebook sets, stacked to ``[G·D, T]`` for a learned weighted average."""
    items = []
    for uid, spk, wav, text in utts:
        f = feature(wav)
        groups = f.shape[0] if f.dim() == 3 else 1
        items.append(ProbeItem(uid, spk, f.reshape(-1, f.shape[-1]), text, groups))
    return items


# ---------------------------------------------------------------------------- data
def speaker_of(utterance_id: str) -> str:
    """LibriSpeech ids are ``speaker-chapter-utterance``; anything else is its own speaker."""
    return utterance_id.split("-")[0] if utterance_id.count("-") >= 2 else utterance_id


def cached_transcripts(cache_dir: str | Path) -> dict[str, str]:
    """Utterance id -> text from a teacher cache's ``transcripts/<key>/<id>.json``
    (plugins/recipes/teacher_cache/store.py)."""
    out: dict[str, str] = {}
    root = Path(cache_dir).expanduser() / "transcripts"
    if not root.is_dir():
        raise ConfigError(f"{cache_dir}: no transcripts/ folder (not a teacher cache; see docs/teachers.md)")
    for path in sorted(root.glob("*/*.json")):
        if path.name == "settings.json":
            continue
        try:
            obj = json.loads(path.read_text())
            out[obj.get("id", path.stem)] = obj["transcript"]["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a teacher-cache transcript ({exc})") from exc
    return out


def check_split(source: str | Path, transcripts_cache: str | Path | None = None) -> int:
    """Before any work: ``source`` lists utterances and each has a transcript (its ``.trans.txt``
    or the teacher cache's STT text); returns how many. Reads no audio, so a bad ``--probe-train``
    fails in a second instead of after every system has been scored."""
    from tokenizer_bench.core.data.corpus import list_utterances

    folder = Path(source).expanduser()
    if not folder.exists():
        raise ConfigError(f"--probe-train {source}: no such folder or manifest")
    try:
        utts = list_utterances([str(folder)])
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--probe-train {source}: {exc}") from exc
    if not utts:
        raise ConfigError(f"--probe-train {source}: no utterances found (a LibriSpeech-style folder or manifest)")
    cached = cached_transcripts(transcripts_cache) if transcripts_cache is not None else {}
    missing = [u for u in utts if not u.text and not cached.get(u.id)]
    if missing:
        hint = ("they are not in the teacher cache --probe-transcripts names" if transcripts_cache is not None
                else "pass --probe-transcripts TEACHER_CACHE (or run `tokenizer-bench cache-teachers`)")
        raise ConfigError(f"--probe-train {source}: {len(missing)} of {len(utts)} utterances have no transcript "
                          f"(first: {missing[0].path}); {hint}")
    return len(utts)


def load_split(source: str | Path, transcripts: dict[str, str] | None = None, sample_rate: int = 16000,
               limit: int | None = None) -> list[tuple[str, str, torch.Tensor, str]]:
    """``(id, speaker, wav [N], text)`` for every utterance of ``source`` with a transcript.

    Official transcripts (``.trans.txt``) come first; ``transcripts`` (e.g. a teacher cache's STT
    output) fills the rest. An utterance with neither is an error naming it."""
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.core.data.corpus import list_utterances

    out = []
    for u in list_utterances([str(source)]):
        text = u.text if u.text else (transcripts or {}).get(u.id)
        if not text:
            raise ConfigError(f"{u.path}: no transcript (no .trans.txt entry and not in the given transcripts; "
                              "pass --probe-transcripts TEACHER_CACHE or run `tokenizer-bench cache-teachers`)")
        wav, _ = load_audio(u.path, sample_rate)
        out.append((u.id, speaker_of(u.id), wav[0], text))
        if limit and len(out) >= limit:
            break
    return out


def run_probe_rows(tokenizers: dict[str, Any | tuple[Any, int | None]],
                   train_utts: Sequence[tuple[str, str, torch.Tensor, str]],
                   test_utts: Sequence[tuple[str, str, torch.Tensor, str]], cfg: ProbeConfig,
                   reference: bool = True, log: Callable[[str], None] | None = None,
                   feature_sets: Sequence[str] = FEATURE_SETS) -> dict[str, Any]:
    """Probe rows: ``mel`` (reference) and, per tokenizer, ``rvq1`` and ``sum``; a tokenizer without
    code embeddings gets its reason instead of a number. A value may be ``(tokenizer, n_q)``."""
    rows: dict[str, Any] = {}
    if reference:
        sr = 16000
        fn = lambda w: log_mel(w, sr)  # noqa: E731
        rows["original (log-mel)"] = train_and_score(build_items(train_utts, fn), build_items(test_utts, fn), cfg)
        if log:
            log(f"probe original (log-mel): CER {rows['original (log-mel)'].cer:.3f}")
    for label, tok in tokenizers.items():
        tok, n_q = tok if isinstance(tok, tuple) else (tok, None)
        for which in feature_sets:
            key = f"{label} [{which}]"
            try:
                fn = lambda w, t=tok, k=which, n=n_q: token_features(t, w, k, n)  # noqa: E731
                rows[key] = train_and_score(build_items(train_utts, fn), build_items(test_utts, fn), cfg)
            except NotApplicableError as exc:
                rows[key] = f"not applicable: {exc}"
            if log:
                log(f"probe {key}: {rows[key] if isinstance(rows[key], str) else f'CER {rows[key].cer:.3f}'}")
    return rows
