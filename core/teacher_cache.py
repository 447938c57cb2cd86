"""Teacher features computed once per utterance, stored on disk, read by the trainer.

Teachers are frozen, so running a speech-to-text model, a text LM and a speech model at every
training step would only repeat the same computation. :func:`build_teacher_cache` runs every
enabled teacher once per utterance and writes the results; :class:`TeacherCache` reads them back
without importing or loading any teacher model.

Layout (``teachers.cache_dir``)::

    transcripts/<key>/<file>.json          text + word timings (STT output, or dataset text + timings)
    lm/<key>/<file>.safetensors            lm [T, D_lm] + lm_mask [T] (bool), on codec frames
    sm/<key>/<file>.safetensors            sm [T, D_sm], on codec frames
    <store>/<key>/settings.json            the settings the key hashes (human-readable)
    reports/<lm-key>_<sm-key>.json         the summary of the last run (skipped files with reasons)

Each store has its own key: the SHA-256 of every setting that can change its content (component
specs minus ``device``, the aligner, the transcript mode, sample rate, hop length, dtype, the
versions of the packages the teacher declares). So changing the LM layer reuses the transcripts
and the SM features, and a changed setting can never reuse stale features. ``T = ceil(N / hop)``
where ``N`` is the utterance's length at the codec's sample rate.

Per-utterance files are written atomically (temp file + rename), so an interrupted run leaves only
complete files and a rerun skips what is done.

The interface types teachers and aligners exchange (:class:`Transcript`, :class:`TokenFeatures`,
:class:`AlignedFeatures` and the protocols) live here too, because the cache is their only core
consumer.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Protocol, runtime_checkable

import torch

from .errors import AudioError, ConfigError, TokenizerBenchError

if TYPE_CHECKING:
    from .data import Utterance
    from .train_config import TrainConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


# =========================================================================== interface types
@dataclass
class WordTiming:
    """One word of a transcript: its text, its time span in seconds and its character span in the text."""

    word: str
    start: float
    end: float
    char_start: int
    char_end: int


@dataclass
class Transcript:
    """Text plus word timings. ``words[i]`` covers ``text[char_start:char_end]``.

    ``source`` says where text and timings came from (e.g. ``stt_hf_ctc``,
    ``dataset+ctc_forced_alignment``); ``notes`` records anything a user should know (dropped
    characters, words whose timing was interpolated).
    """

    text: str
    words: list[WordTiming]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_words(
        cls,
        words: Iterable[tuple[str, float, float]],
        joiners: Iterable[str] | None = None,
        source: str = "",
        notes: list[str] | None = None,
    ) -> "Transcript":
        """Build the text from words; ``joiners[i]`` goes before word i (default: one space).

        Whisper-style pieces (``" Hello"``, ``"-fattened"``) pass their own leading whitespace
        as joiners so that ``flower-fattened`` stays one piece of text with two timed words.
        """
        words = [(str(w).strip(), float(s), float(e)) for w, s, e in words]
        joins = list(joiners) if joiners is not None else [" "] * len(words)
        if len(joins) != len(words):
            raise ValueError("joiners and words differ in length")
        text, timed = "", []
        for (w, s, e), j in zip(words, joins):
            if not w:
                continue
            text += j if text else ""
            timed.append(WordTiming(w, s, max(s, e), len(text), len(text) + len(w)))
            text += w
        return cls(text, timed, source, list(notes or []))

    @classmethod
    def from_text(cls, text: str, source: str = "dataset") -> "Transcript":
        """Whitespace-separated words of ``text`` with unknown (zero) timings."""
        words = [WordTiming(m.group(), 0.0, 0.0, m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        return cls(text, words, source)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "words": [asdict(w) for w in self.words], "source": self.source, "notes": self.notes}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Transcript":
        return cls(obj["text"], [WordTiming(**w) for w in obj["words"]], obj.get("source", ""), list(obj.get("notes", [])))

    def word_of_char(self, index: int) -> int:
        """Index of the word whose character span contains ``index``, or -1."""
        starts = [w.char_start for w in self.words]
        i = bisect.bisect_right(starts, index) - 1
        if i >= 0 and index < self.words[i].char_end:
            return i
        return -1


@dataclass
class TokenFeatures:
    """An LM's per-token features for one text, special tokens included.

    ``offsets[i]`` is token i's character span in the text (``(0, 0)`` for special tokens);
    ``special[i]`` marks special tokens (``[CLS]``, ``[SEP]``...), which belong to no word.
    """

    features: torch.Tensor  # [n, D] float32
    offsets: torch.Tensor  # [n, 2] int64
    special: torch.Tensor  # [n] bool
    tokens: list[str]
    unk_token: str | None = None

    @property
    def unk_count(self) -> int:
        return sum(t == self.unk_token for t in self.tokens) if self.unk_token else 0

    def word_index(self, transcript: Transcript) -> torch.Tensor:
        """Word of each token (by its first character), -1 for special tokens and tokens outside words."""
        out = []
        for (a, b), sp in zip(self.offsets.tolist(), self.special.tolist()):
            out.append(-1 if sp or b <= a else transcript.word_of_char(a))
        return torch.tensor(out, dtype=torch.long)


@dataclass
class AlignedFeatures:
    """Teacher features on codec frames: ``features [T, D]``; ``mask [T]`` marks frames that carry a token."""

    features: torch.Tensor
    mask: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SpeechToText(Protocol):
    """``role = "stt"``. Mono float audio ``[N]`` at ``sample_rate`` in, :class:`Transcript` out."""

    role: str
    sample_rate: int

    def transcribe(self, wav: torch.Tensor) -> Transcript: ...

    def align(self, wav: torch.Tensor, text: str) -> Transcript:
        """Word timings for a *given* text (forced alignment, or transcription + word matching)."""
        ...


@runtime_checkable
class TextEncoder(Protocol):
    """``role = "lm"``: text -> :class:`TokenFeatures`."""

    role: str
    dimension: int

    def encode(self, text: str) -> TokenFeatures: ...


@runtime_checkable
class SpeechEncoder(Protocol):
    """``role = "sm"``: audio ``[N]`` at ``sample_rate`` -> features ``[num_frames, D]`` on codec frames."""

    role: str
    sample_rate: int
    dimension: int

    def encode(self, wav: torch.Tensor, num_frames: int, frame_seconds: float) -> torch.Tensor: ...


@runtime_checkable
class Aligner(Protocol):
    """Token features -> codec frames. ``needs_timings`` says whether word timings are used."""

    needs_timings: bool

    def __call__(
        self, tokens: TokenFeatures, transcript: Transcript, num_frames: int, frame_seconds: float
    ) -> AlignedFeatures: ...


def num_codec_frames(num_samples: int, hop_length: int) -> int:
    """Frames a codec with stride ``hop_length`` emits for ``num_samples`` samples (SEANet: ceil)."""
    return math.ceil(num_samples / hop_length)


# =========================================================================== settings & keys
ROLES = ("stt", "lm", "sm")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


class TeacherCacheMiss(TokenizerBenchError, KeyError):
    """An utterance's teacher features are not in the cache."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _spec(component: Any) -> dict[str, Any] | None:
    """A component's identity for hashing: name + arguments, minus those that cannot change outputs."""
    if component is None:
        return None
    spec = component.to_dict()
    spec.pop("device", None)
    return spec


def _versions(names: Iterable[str]) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in sorted(set(names)):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _entry(kind: str, name: str):
    from .plugins import get_registry

    return get_registry(kind).get(name)


def _packages_of(component: Any) -> dict[str, str]:
    if component is None:
        return {}
    return _versions(_entry("teachers", component.name).meta.get("cache_packages", ()))


def _hash(settings: dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class CachePlan:
    """What the config asks of the teachers, and the key of each store."""

    lm_enabled: bool
    sm_enabled: bool
    stt_used: bool  # the STT runs (transcription, or timings for the dataset's text)
    needs_timings: bool
    transcripts: str
    settings: dict[str, dict[str, Any]]  # store -> settings
    keys: dict[str, str]  # store -> key


def plan_cache(cfg: "TrainConfig", hop_length: int) -> CachePlan:
    """Resolve the teacher settings into store keys without building any teacher.

    Raises :class:`ConfigError` for combinations that cannot work (LM without a transcript
    source, timings without an STT).
    """
    if int(hop_length) < 1:
        raise ConfigError(f"hop_length must be a positive integer, got {hop_length!r}")
    t = cfg.teachers
    lm_on, sm_on = t.lm is not None, t.sm is not None
    aligner_factory = _entry("aligners", t.aligner.name).factory
    needs_timings = bool(getattr(aligner_factory, "needs_timings", True)) and lm_on
    stt_used = lm_on and (t.transcripts == "stt" or needs_timings)
    if stt_used and t.stt is None:
        if t.transcripts == "stt":
            raise ConfigError(
                "teachers.stt is not set but teachers.transcripts is 'stt' and the LM teacher is enabled: "
                "configure an STT teacher (e.g. {name: stt_hf_ctc}) or use teachers.transcripts: dataset"
            )
        raise ConfigError(
            f"teachers.aligner {t.aligner.name!r} needs word timings, which come from the STT teacher, but "
            "teachers.stt is not set: configure an STT (it then only times the dataset's words) or choose "
            "teachers.aligner: {name: interpolate} explicitly"
        )
    sr = int(cfg.model.sample_rate)
    settings: dict[str, dict[str, Any]] = {}
    if lm_on:
        settings["transcripts"] = {
            "format": FORMAT_VERSION,
            "mode": t.transcripts,
            "stt": _spec(t.stt) if stt_used else None,
            "timings": needs_timings,
            "packages": _packages_of(t.stt) if stt_used else {},
        }
        settings["lm"] = {
            "format": FORMAT_VERSION,
            "transcripts": _hash(settings["transcripts"]),
            "lm": _spec(t.lm),
            "aligner": _spec(t.aligner),
            "sample_rate": sr,
            "hop_length": int(hop_length),
            "dtype": t.cache_dtype,
            "packages": _packages_of(t.lm),
        }
    if sm_on:
        settings["sm"] = {
            "format": FORMAT_VERSION,
            "sm": _spec(t.sm),
            "sample_rate": sr,
            "hop_length": int(hop_length),
            "dtype": t.cache_dtype,
            "packages": _packages_of(t.sm),
        }
    keys = {store: _hash(s) for store, s in settings.items()}
    return CachePlan(lm_on, sm_on, stt_used, needs_timings, t.transcripts, settings, keys)


def file_stem(utt_id: str) -> str:
    """A file-system-safe name for an utterance id (unsafe ids get a hash suffix to stay unique)."""
    if _SAFE_ID.match(utt_id) and not utt_id.startswith("."):
        return utt_id
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", utt_id).strip("._")[:80] or "utt"
    return f"{cleaned}-{hashlib.sha1(utt_id.encode()).hexdigest()[:10]}"


class _Store:
    """One folder of per-utterance files for one settings key."""

    def __init__(self, root: Path, name: str, key: str, settings: dict[str, Any], suffix: str) -> None:
        self.name, self.key, self.settings, self.suffix = name, key, settings, suffix
        self.dir = root / name / key

    def path(self, utt_id: str) -> Path:
        return self.dir / f"{file_stem(utt_id)}{self.suffix}"

    def has(self, utt_id: str) -> bool:
        return self.path(utt_id).is_file()

    def write_settings(self) -> None:
        from .io import write_json_atomic

        target = self.dir / "settings.json"
        if not target.exists():
            write_json_atomic(target, {"store": self.name, "key": self.key, "settings": self.settings})


# =========================================================================== reading
class TeacherCache:
    """Read-only access to cached teacher features; never imports or loads a teacher model."""

    def __init__(self, root: Path, plan: CachePlan, sample_rate: int, hop_length: int) -> None:
        self.root = Path(root)
        self.plan = plan
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self.stores: dict[str, _Store] = {}
        suffixes = {"transcripts": ".json", "lm": ".safetensors", "sm": ".safetensors"}
        for name, key in plan.keys.items():
            self.stores[name] = _Store(self.root, name, key, plan.settings[name], suffixes[name])

    @classmethod
    def open(cls, cfg: "TrainConfig", hop_length: int) -> "TeacherCache":
        """The cache for ``cfg``'s teacher settings (``teachers.cache_dir``, relative to the CWD)."""
        plan = plan_cache(cfg, hop_length)
        return cls(Path(cfg.teachers.cache_dir).expanduser(), plan, cfg.model.sample_rate, hop_length)

    @property
    def enabled(self) -> tuple[str, ...]:
        """Feature stores the trainer reads: ``lm`` and/or ``sm``."""
        return tuple(n for n in ("lm", "sm") if n in self.stores)

    @property
    def frame_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    def has(self, utt_id: str) -> bool:
        return all(self.stores[n].has(utt_id) for n in self.enabled)

    def missing(self, utterances: Iterable["Utterance | str"]) -> list[str]:
        """Ids (in the given order) whose features are not all cached."""
        ids = [u if isinstance(u, str) else u.id for u in utterances]
        return [i for i in ids if not self.has(i)]

    def load(self, utt_id: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """``{"lm": [T, D_lm], "lm_mask": [T] bool, "sm": [T, D_sm]}`` (enabled teachers only)."""
        from safetensors.torch import load_file

        out: dict[str, torch.Tensor] = {}
        for name in self.enabled:
            path = self.stores[name].path(utt_id)
            if not path.is_file():
                raise TeacherCacheMiss(
                    f"no cached {name.upper()} teacher features for utterance {utt_id!r} ({path}); "
                    "run `tokenizer-bench cache-teachers CONFIG` first"
                )
            try:
                tensors = load_file(str(path))
            except Exception as exc:  # a damaged file: say which and how to fix it
                raise TeacherCacheMiss(f"{path}: unreadable cache file ({exc}); delete it and rerun cache-teachers") from exc
            for k, v in tensors.items():
                out[k] = v if v.dtype == torch.bool else v.to(dtype)
        return out

    def metadata(self, utt_id: str) -> dict[str, Any]:
        """Per-store metadata (frames, samples, token counts...) plus the transcript, when cached."""
        from safetensors import safe_open

        meta: dict[str, Any] = {}
        for name in self.enabled:
            path = self.stores[name].path(utt_id)
            if path.is_file():
                with safe_open(str(path), framework="pt") as fh:
                    meta[name] = {k: _decode_meta(v) for k, v in (fh.metadata() or {}).items()}
        tr = self.transcript(utt_id)
        if tr is not None:
            meta["transcript"] = tr.to_json()
        return meta

    def transcript(self, utt_id: str) -> Transcript | None:
        store = self.stores.get("transcripts")
        if store is None or not store.has(utt_id):
            return None
        return Transcript.from_json(json.loads(store.path(utt_id).read_text(encoding="utf-8"))["transcript"])


def _decode_meta(value: str) -> Any:
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


# =========================================================================== building
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

    @property
    def cached(self) -> int:
        return self.computed + self.reused

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hours"] = self.hours
        d["gigabytes"] = self.bytes_on_disk / 1e9
        return d

    def render(self, console: Any = None) -> None:
        """A rich table of the run (and the first skipped utterances with reasons)."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        table = Table(title="teacher cache", title_justify="left", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value")
        table.add_row("cache", f"{self.cache_dir}  ({', '.join(f'{k}={v}' for k, v in self.keys.items()) or 'no teachers'})")
        table.add_row("utterances", f"{self.total} listed, {self.computed} computed, {self.reused} already cached, {len(self.skipped)} skipped")
        table.add_row("audio", f"{self.hours:.3f} h cached")
        table.add_row("disk", f"{self.bytes_on_disk / 1e9:.3f} GB ({self.bytes_on_disk / 1e6:.1f} MB)")
        table.add_row("empty transcripts", f"{len(self.empty_transcripts)} (LM mask all false)")
        table.add_row("with unknown tokens", f"{len(self.unk_tokens)} utterances, {sum(self.unk_tokens.values())} tokens")
        table.add_row("time", f"{self.elapsed_s:.1f} s")
        console.print(table)
        for uid, reason in self.skipped[:20]:
            console.print(f"  skipped {uid}: {reason}")
        if len(self.skipped) > 20:
            console.print(f"  ... and {len(self.skipped) - 20} more (see the report JSON)")


class _SkipUtterance(Exception):
    pass


class _Teachers:
    """Teachers built on first use (a rerun with nothing to do loads no model)."""

    def __init__(self, cfg: "TrainConfig") -> None:
        self.cfg = cfg
        self._built: dict[str, Any] = {}

    def get(self, role: str) -> Any:
        if role not in self._built:
            comp = getattr(self.cfg.teachers, role)
            extra = {} if "device" in comp.kwargs or not _accepts(comp, "device") else {"device": self.cfg.teachers.device}
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
    entry = _entry("teachers", component.name)
    return entry.accepts_any_kwargs() or arg in entry.parameters()


def _to_store_dtype(x: torch.Tensor, dtype_name: str, what: str) -> torch.Tensor:
    out = x.to(torch.float16 if dtype_name == "float16" else torch.float32)
    if not torch.isfinite(out).all():
        if torch.isfinite(x).all():
            raise ConfigError(f"{what}: teacher features overflow float16; set teachers.cache_dtype: float32")
        raise RuntimeError(f"{what}: the teacher produced NaN/inf features")
    return out


def build_teacher_cache(
    cfg: "TrainConfig",
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
    from .audio import load_audio, resample
    from .io import save_safetensors_atomic, write_json_atomic

    start_time = time.monotonic()
    cache = TeacherCache.open(cfg, hop_length)
    plan = cache.plan
    summary = CacheSummary(str(cache.root), dict(plan.keys), total=len(utterances))
    teachers = _Teachers(cfg)
    dtype_name = cfg.teachers.cache_dtype
    sr = cache.sample_rate
    hop = cache.hop_length
    if not cache.enabled:
        log.warning("no LM or SM teacher is enabled (teachers.lm and teachers.sm are null): nothing to cache")
        return summary
    for store in cache.stores.values():
        store.write_settings()

    def transcript_for(utt: "Utterance", native: torch.Tensor, native_sr: int) -> Transcript:
        store = cache.stores["transcripts"]
        if store.has(utt.id):
            return Transcript.from_json(json.loads(store.path(utt.id).read_text(encoding="utf-8"))["transcript"])
        if plan.transcripts == "dataset":
            if utt.text is None:
                raise _SkipUtterance("no transcript in the dataset (teachers.transcripts: dataset)")
            if plan.needs_timings:
                stt = teachers.get("stt")
                tr = stt.align(resample(native, native_sr, stt.sample_rate)[0], utt.text)
            else:
                tr = Transcript.from_text(utt.text, source="dataset")
        else:
            stt = teachers.get("stt")
            tr = stt.transcribe(resample(native, native_sr, stt.sample_rate)[0])
        write_json_atomic(store.path(utt.id), {"id": utt.id, "path": str(utt.path), "transcript": tr.to_json()})
        return tr

    def process(utt: "Utterance") -> None:
        todo = [n for n in cache.enabled if not cache.stores[n].has(utt.id)]
        if not todo:
            summary.reused += 1
            _account_existing(cache, utt.id, summary)
            return
        try:
            native, native_sr = load_audio(utt.path)
        except AudioError as exc:
            raise _SkipUtterance(f"unreadable audio: {exc}") from None
        wav = resample(native, native_sr, sr) if native_sr != sr else native
        n = int(wav.shape[-1])
        if n < hop:
            raise _SkipUtterance(f"too short: {n} samples at {sr} Hz, less than one codec frame ({hop} samples)")
        frames = num_codec_frames(n, hop)
        base_meta = {"id": utt.id, "num_samples": str(n), "num_frames": str(frames), "sample_rate": str(sr)}
        if "lm" in todo:
            tr = transcript_for(utt, native, native_sr)
            tokens = teachers.get("lm").encode(tr.text)
            aligned = teachers.aligner()(tokens, tr, frames, hop / sr)
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
                {"lm": _to_store_dtype(aligned.features, dtype_name, f"{utt.id} lm"), "lm_mask": aligned.mask.bool()},
                cache.stores["lm"].path(utt.id),
                metadata=meta,
            )
        if "sm" in todo:
            sm = teachers.get("sm")
            feats = sm.encode(resample(native, native_sr, sm.sample_rate)[0], frames, hop / sr)
            if tuple(feats.shape[:1]) != (frames,):
                raise RuntimeError(f"{utt.id}: SM teacher returned {tuple(feats.shape)} for {frames} frames")
            save_safetensors_atomic(
                {"sm": _to_store_dtype(feats, dtype_name, f"{utt.id} sm")},
                cache.stores["sm"].path(utt.id),
                metadata=base_meta,
            )
        summary.computed += 1
        _account_existing(cache, utt.id, summary)

    bar = _progress(progress, console)
    with bar:
        task = bar.add_task("teachers", total=len(utterances))
        for utt in utterances:
            bar.update(task, description=f"teachers [dim]{utt.id}[/]")
            try:
                process(utt)
            except _SkipUtterance as exc:
                summary.skipped.append((utt.id, str(exc)))
                log.warning("skipped %s (%s): %s", utt.id, utt.path, exc)
            except TokenizerBenchError:
                raise
            except Exception as exc:
                if hasattr(exc, "add_note"):  # Python >= 3.11
                    exc.add_note(f"while caching teacher features of utterance {utt.id!r} ({utt.path})")
                raise
            bar.advance(task)
    summary.elapsed_s = time.monotonic() - start_time
    if cache.enabled:
        report = cache.root / "reports" / f"{'_'.join(f'{k}-{v}' for k, v in sorted(plan.keys.items()))}.json"
        write_json_atomic(report, summary.as_dict())
    return summary


def _account_existing(cache: TeacherCache, utt_id: str, summary: CacheSummary) -> None:
    """Add a cached utterance's audio length, disk size and transcript outcomes to the summary."""
    from safetensors import safe_open

    meta: dict[str, str] = {}
    for name in cache.enabled:
        path = cache.stores[name].path(utt_id)
        summary.bytes_on_disk += path.stat().st_size
        if not meta:
            with safe_open(str(path), framework="pt") as fh:
                meta = dict(fh.metadata() or {})
    if "transcripts" in cache.stores and cache.stores["transcripts"].has(utt_id):
        summary.bytes_on_disk += cache.stores["transcripts"].path(utt_id).stat().st_size
    summary.seconds_of_audio += int(meta.get("num_samples", 0)) / cache.sample_rate
    if "lm" in cache.enabled:
        with safe_open(str(cache.stores["lm"].path(utt_id)), framework="pt") as fh:
            lm_meta = dict(fh.metadata() or {})
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
