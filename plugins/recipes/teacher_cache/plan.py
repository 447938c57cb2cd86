"""Cache-key planning: the config's teacher settings -> one key per store, without building a teacher.

Each store has its own key: the SHA-256 of every setting that can change its content (component
specs minus ``device``, the aligner, the transcript mode, sample rate, hop length, dtype, the
versions of the packages the teacher declares as ``cache_packages``). So changing the LM layer
reuses the transcripts and the SM features, and a changed setting can never reuse stale features.
The key of a store is part of its folder name, so these hashes must stay stable: an existing cache
is found again only if the same settings hash to the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from tokenizer_bench.core.errors import ConfigError

if TYPE_CHECKING:
    from tokenizer_bench.core.registry import Entry
    from tokenizer_bench.plugins.recipes.gan_distillation_config import GanDistillationConfig

#: Version of the stored layout; part of every key, so a layout change never reads old files.
FORMAT_VERSION = 1


def registry_entry(kind: str, name: str) -> "Entry":
    """The registered component ``name`` of ``kind`` (unknown names list the known ones)."""
    from tokenizer_bench.core.plugins import get_registry

    return get_registry(kind).get(name)


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


def _packages_of(component: Any) -> dict[str, str]:
    if component is None:
        return {}
    return _versions(registry_entry("teachers", component.name).meta.get("cache_packages", ()))


def settings_key(settings: dict[str, Any]) -> str:
    """The key of a store: the first 16 hex digits of the SHA-256 of its settings as sorted JSON."""
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


def _check_transcript_source(cfg: "GanDistillationConfig", stt_used: bool) -> None:
    """An LM needs a transcript source, and timing-based aligners need an STT."""
    t = cfg.teachers
    if not stt_used or t.stt is not None:
        return
    if t.transcripts == "stt":
        raise ConfigError(
            "teachers.stt is not set but teachers.transcripts is 'stt' and the LM teacher is enabled: "
            "configure an STT teacher (`tokenizer-bench plugins --kind teachers` lists them) or use "
            "teachers.transcripts: dataset"
        )
    raise ConfigError(
        f"teachers.aligner {t.aligner.name!r} needs word timings, which come from the STT teacher, but "
        "teachers.stt is not set: configure an STT (it then only times the dataset's words) or choose "
        "an aligner that needs no timings (`tokenizer-bench plugins --kind aligners` lists them)"
    )


def plan_cache(cfg: "GanDistillationConfig", hop_length: int) -> CachePlan:
    """Resolve the teacher settings into store keys without building any teacher.

    Raises :class:`ConfigError` for combinations that cannot work (LM without a transcript
    source, timings without an STT).
    """
    if int(hop_length) < 1:
        raise ConfigError(f"hop_length must be a positive integer, got {hop_length!r}")
    t = cfg.teachers
    lm_on, sm_on = t.lm is not None, t.sm is not None
    aligner_factory = registry_entry("aligners", t.aligner.name).factory
    needs_timings = bool(getattr(aligner_factory, "needs_timings", True)) and lm_on
    stt_used = lm_on and (t.transcripts == "stt" or needs_timings)
    _check_transcript_source(cfg, stt_used)
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
            "transcripts": settings_key(settings["transcripts"]),
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
    keys = {store: settings_key(s) for store, s in settings.items()}
    return CachePlan(lm_on, sm_on, stt_used, needs_timings, t.transcripts, settings, keys)
