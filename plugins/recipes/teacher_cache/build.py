"""Building the teacher cache: every enabled teacher runs once per utterance; the results are stored.

A rerun skips what is stored already (files are written atomically, so an interrupted run leaves
only complete files) and loads a teacher only when some utterance still needs it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from tokenizer_bench.core.errors import AudioError, ConfigError, TokenizerBenchError
from tokenizer_bench.core.interfaces_teachers import Transcript
from tokenizer_bench.plugins.recipes.teacher_cache.plan import registry_entry
from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache

if TYPE_CHECKING:
    from tokenizer_bench.core.data import Utterance
    from tokenizer_bench.plugins.recipes.gan_distillation_config import GanDistillationConfig

log = logging.getLogger(__name__)


def num_codec_frames(num_samples: int, hop_length: int) -> int:
    """Frames a codec with stride ``hop_length`` emits for ``num_samples`` samples (``ceil``: a partial
    last frame counts, as in a convolutional encoder that pads its input)."""
    return math.ceil(num_samples / hop_length)


@dataclass
class CacheSummary:
    """What a cache run did. ``skipped`` holds ``(utterance id, reason)``."""

    cache_dir: str
    keys: dict[str, str]
    total: int = 0
    computed: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    empty_transcripts: list[str] = field(default_factory=list)
    unk_tokens: dict[str, int] = field(default_factory=dict)
    words_without_tokens: dict[str, int] = field(default_factory=dict)
    seconds_of_audio: float = 0.0
    bytes_on_disk: int = 0
    elapsed_s: float = 0.0

    @property
    def hours(self) -> float:
        return self.seconds_of_audio / 3600.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hours"] = self.hours
        d["gigabytes"] = self.bytes_on_disk / 1e9
        return d


class _SkipUtterance(Exception):
    """This utterance cannot be cached (its reason goes into ``CacheSummary.skipped``)."""


class _Teachers:
    """Teachers built on first use (a rerun with nothing to do loads no model)."""

    def __init__(self, cfg: "GanDistillationConfig") -> None:
        self.cfg = cfg
        self._built: dict[str, Any] = {}

    def get(self, role: str) -> Any:
        if role not in self._built:
            comp = getattr(self.cfg.teachers, role)
            own_device = "device" in comp.kwargs or not _accepts(comp, "device")
            extra = {} if own_device else {"device": self.cfg.teachers.device}
            log.info("loading %s teacher %s", role.upper(), comp.name)
            obj = comp.build("teachers", **extra)
            if getattr(obj, "role", None) != role:
                raise ConfigError(
                    f"teachers.{role}: {comp.name!r} is a {getattr(obj, 'role', 'non-teacher')!r} component, "
                    f"not a {role!r} teacher"
                )
            self._built[role] = obj
        return self._built[role]

    def aligner(self) -> Any:
        if "aligner" not in self._built:
            self._built["aligner"] = self.cfg.teachers.aligner.build("aligners")
        return self._built["aligner"]


def _accepts(component: Any, arg: str) -> bool:
    entry = registry_entry("teachers", component.name)
    return entry.accepts_any_kwargs() or arg in entry.parameters()


def _to_store_dtype(x: torch.Tensor, dtype_name: str, what: str) -> torch.Tensor:
    out = x.to(torch.float16 if dtype_name == "float16" else torch.float32)
    if not torch.isfinite(out).all():
        if torch.isfinite(x).all():
            raise ConfigError(f"{what}: teacher features overflow float16; set teachers.cache_dtype: float32")
        raise RuntimeError(f"{what}: the teacher produced NaN/inf features")
    return out


@dataclass
class _Audio:
    """One utterance's audio: as read (for the teachers, each at its own rate) and on the codec's grid."""

    native: torch.Tensor
    native_sr: int
    num_samples: int
    num_frames: int

    def at(self, sample_rate: int) -> torch.Tensor:
        """Mono ``[N]`` audio at ``sample_rate``."""
        from tokenizer_bench.core.audio import resample

        return resample(self.native, self.native_sr, sample_rate)[0]


@dataclass
class _Build:
    """The state one :func:`build_teacher_cache` call shares between its steps."""

    cache: TeacherCache
    teachers: _Teachers
    summary: CacheSummary
    dtype_name: str


def _read_audio(build: _Build, utt: "Utterance") -> _Audio:
    """The utterance's audio, or :class:`_SkipUtterance` when unreadable or shorter than one frame."""
    from tokenizer_bench.core.audio import load_audio, resample

    sr, hop = build.cache.sample_rate, build.cache.hop_length
    try:
        native, native_sr = load_audio(utt.path)
    except AudioError as exc:
        raise _SkipUtterance(f"unreadable audio: {exc}") from None
    wav = resample(native, native_sr, sr) if native_sr != sr else native
    n = int(wav.shape[-1])
    if n < hop:
        raise _SkipUtterance(f"too short: {n} samples at {sr} Hz, less than one codec frame ({hop} samples)")
    return _Audio(native, native_sr, n, num_codec_frames(n, hop))


def _transcript(build: _Build, utt: "Utterance", audio: _Audio) -> Transcript:
    """The stored transcript, or a new one (STT, or the dataset's text timed by the STT), stored."""
    from tokenizer_bench.core.io import write_json_atomic

    cached = build.cache.transcript(utt.id)
    if cached is not None:
        return cached
    plan = build.cache.plan
    if plan.transcripts == "dataset":
        if utt.text is None:
            raise _SkipUtterance("no transcript in the dataset (teachers.transcripts: dataset)")
        if plan.needs_timings:
            stt = build.teachers.get("stt")
            tr = stt.align(audio.at(stt.sample_rate), utt.text)
        else:
            tr = Transcript.from_text(utt.text, source="dataset")
    else:
        stt = build.teachers.get("stt")
        tr = stt.transcribe(audio.at(stt.sample_rate))
    write_json_atomic(build.cache.stores["transcripts"].path(utt.id),
                      {"id": utt.id, "path": str(utt.path), "transcript": tr.to_json()})
    return tr


def _store_lm(build: _Build, utt: "Utterance", audio: _Audio, base_meta: dict[str, str]) -> None:
    """Transcript -> LM token features -> aligned onto the codec frames -> ``lm`` store."""
    from tokenizer_bench.core.io import save_safetensors_atomic

    frames, frame_seconds = audio.num_frames, build.cache.frame_seconds
    tr = _transcript(build, utt, audio)
    tokens = build.teachers.get("lm").encode(tr.text)
    aligned = build.teachers.aligner()(tokens, tr, frames, frame_seconds)
    if aligned.features.shape[0] != frames or aligned.mask.shape != (frames,):
        raise RuntimeError(f"{utt.id}: aligner returned {tuple(aligned.features.shape)} for {frames} frames")
    meta = dict(base_meta)
    meta.update(
        num_tokens=str(len(tokens.tokens)),
        unk_tokens=str(tokens.unk_count),
        num_words=str(len(tr.words)),
        empty_transcript=json.dumps(not tr.words),
        aligner=json.dumps(aligned.info),
        text=tr.text,
    )
    save_safetensors_atomic(
        {"lm": _to_store_dtype(aligned.features, build.dtype_name, f"{utt.id} lm"), "lm_mask": aligned.mask.bool()},
        build.cache.stores["lm"].path(utt.id),
        metadata=meta,
    )


def _store_sm(build: _Build, utt: "Utterance", audio: _Audio, base_meta: dict[str, str]) -> None:
    """SM features on the codec frames -> ``sm`` store."""
    from tokenizer_bench.core.io import save_safetensors_atomic

    frames = audio.num_frames
    sm = build.teachers.get("sm")
    feats = sm.encode(audio.at(sm.sample_rate), frames, build.cache.frame_seconds)
    if tuple(feats.shape[:1]) != (frames,):
        raise RuntimeError(f"{utt.id}: SM teacher returned {tuple(feats.shape)} for {frames} frames")
    save_safetensors_atomic(
        {"sm": _to_store_dtype(feats, build.dtype_name, f"{utt.id} sm")},
        build.cache.stores["sm"].path(utt.id),
        metadata=base_meta,
    )


def _process(build: _Build, utt: "Utterance") -> None:
    """Compute what is missing for ``utt`` (nothing, if all is stored) and account for it."""
    cache, summary = build.cache, build.summary
    todo = [n for n in cache.enabled if not cache.stores[n].has(utt.id)]
    if not todo:
        summary.reused += 1
        _account_existing(cache, utt.id, summary)
        return
    audio = _read_audio(build, utt)
    base_meta = {"id": utt.id, "num_samples": str(audio.num_samples), "num_frames": str(audio.num_frames),
                 "sample_rate": str(cache.sample_rate)}
    if "lm" in todo:
        _store_lm(build, utt, audio, base_meta)
    if "sm" in todo:
        _store_sm(build, utt, audio, base_meta)
    summary.computed += 1
    _account_existing(cache, utt.id, summary)


def _process_all(build: _Build, utterances: list["Utterance"], progress: bool, console: Any) -> None:
    """Every utterance in order; bad inputs are recorded as skipped, other errors name the utterance."""
    bar = _progress(progress, console)
    with bar:
        task = bar.add_task("teachers", total=len(utterances))
        for utt in utterances:
            bar.update(task, description=f"teachers [dim]{utt.id}[/]")
            try:
                _process(build, utt)
            except _SkipUtterance as exc:
                build.summary.skipped.append((utt.id, str(exc)))
                log.warning("skipped %s (%s): %s", utt.id, utt.path, exc)
            except TokenizerBenchError:
                raise
            except Exception as exc:
                if hasattr(exc, "add_note"):  # Python >= 3.11
                    exc.add_note(f"while caching teacher features of utterance {utt.id!r} ({utt.path})")
                raise
            bar.advance(task)


def _write_report(cache: TeacherCache, summary: CacheSummary) -> None:
    from tokenizer_bench.core.io import write_json_atomic

    report = cache.root / "reports" / f"{'_'.join(f'{k}-{v}' for k, v in sorted(cache.plan.keys.items()))}.json"
    write_json_atomic(report, summary.as_dict())


def build_teacher_cache(
    cfg: "GanDistillationConfig",
    utterances: list["Utterance"],
    hop_length: int,
    progress: bool = True,
    console: Any = None,
) -> CacheSummary:
    """Compute and store every enabled teacher's features for ``utterances`` (resumable).

    Bad inputs never stop the run; each has a recorded outcome:

    * unreadable/corrupt/empty audio (:class:`AudioError`) and audio shorter than one codec frame
      -> skipped, reason in ``summary.skipped``;
    * ``transcripts: dataset`` and an utterance without text -> skipped, reason recorded;
    * an empty transcript -> LM features are all zeros with ``lm_mask`` all False (listed in
      ``summary.empty_transcripts``; the SM features are still stored);
    * characters the LM vocabulary cannot encode -> unknown tokens, placed on their word's frames
      like any token (counted per utterance in ``summary.unk_tokens``).
    """
    start_time = time.monotonic()
    cache = TeacherCache.open(cfg, hop_length)
    summary = CacheSummary(str(cache.root), dict(cache.plan.keys), total=len(utterances))
    if not cache.enabled:
        log.warning("no LM or SM teacher is enabled (teachers.lm and teachers.sm are null): nothing to cache")
        return summary
    for store in cache.stores.values():
        store.write_settings()
    _process_all(_Build(cache, _Teachers(cfg), summary, cfg.teachers.cache_dtype), utterances, progress, console)
    summary.elapsed_s = time.monotonic() - start_time
    _write_report(cache, summary)
    return summary


def _account_existing(cache: TeacherCache, utt_id: str, summary: CacheSummary) -> None:
    """Add a cached utterance's audio length, disk size and transcript outcomes to the summary."""
    meta: dict[str, str] = {}
    for name in cache.enabled:
        summary.bytes_on_disk += cache.stores[name].path(utt_id).stat().st_size
        if not meta:
            meta = cache.file_metadata(name, utt_id)
    if "transcripts" in cache.stores and cache.stores["transcripts"].has(utt_id):
        summary.bytes_on_disk += cache.stores["transcripts"].path(utt_id).stat().st_size
    summary.seconds_of_audio += int(meta.get("num_samples", 0)) / cache.sample_rate
    if "lm" in cache.enabled:
        lm_meta = cache.file_metadata("lm", utt_id)
        if lm_meta.get("empty_transcript") == "true":
            summary.empty_transcripts.append(utt_id)
        if int(lm_meta.get("unk_tokens", 0)):
            summary.unk_tokens[utt_id] = int(lm_meta["unk_tokens"])
        missing_words = json.loads(lm_meta.get("aligner", "{}")).get("words_without_tokens", 0)
        if missing_words:
            summary.words_without_tokens[utt_id] = int(missing_words)


def _progress(enabled: bool, console: Any = None):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
