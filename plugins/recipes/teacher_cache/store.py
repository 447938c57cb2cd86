"""Reading the teacher cache: per-utterance files of each store, found by the plan's keys.

:class:`TeacherCache` never imports or loads a teacher model, so the trainer reads features with
nothing but safetensors; the builder (:mod:`.build`) writes through the same :class:`_Store` paths.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import torch

from tokenizer_bench.core.errors import TokenizerBenchError
from tokenizer_bench.core.interfaces_teachers import Transcript
from tokenizer_bench.plugins.recipes.teacher_cache.plan import CachePlan, plan_cache

if TYPE_CHECKING:
    from tokenizer_bench.core.data import Utterance
    from tokenizer_bench.plugins.recipes.gan_distillation_config import GanDistillationConfig

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")
#: file suffix of each store's per-utterance files
SUFFIXES = {"transcripts": ".json", "lm": ".safetensors", "sm": ".safetensors"}


class TeacherCacheMiss(TokenizerBenchError, KeyError):
    """An utterance's teacher features are not in the cache."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


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
        from tokenizer_bench.core.io import write_json_atomic

        target = self.dir / "settings.json"
        if not target.exists():
            write_json_atomic(target, {"store": self.name, "key": self.key, "settings": self.settings})


class TeacherCache:
    """Read-only access to cached teacher features; never imports or loads a teacher model."""

    def __init__(self, root: Path, plan: CachePlan, sample_rate: int, hop_length: int) -> None:
        self.root = Path(root)
        self.plan = plan
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self.stores: dict[str, _Store] = {}
        for name, key in plan.keys.items():
            self.stores[name] = _Store(self.root, name, key, plan.settings[name], SUFFIXES[name])

    @classmethod
    def open(cls, cfg: "GanDistillationConfig", hop_length: int) -> "TeacherCache":
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

    def _cached_path(self, name: str, utt_id: str) -> Path:
        """The cache file of teacher ``name`` for ``utt_id``; a TeacherCacheMiss saying how to build it."""
        path = self.stores[name].path(utt_id)
        if not path.is_file():
            raise TeacherCacheMiss(
                f"no cached {name.upper()} teacher features for utterance {utt_id!r} ({path}); "
                "run `tokenizer-bench cache-teachers CONFIG` first"
            )
        return path

    def load(self, utt_id: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """``{"lm": [T, D_lm], "lm_mask": [T] bool, "sm": [T, D_sm]}`` (enabled teachers only)."""
        from safetensors.torch import load_file

        out: dict[str, torch.Tensor] = {}
        for name in self.enabled:
            path = self._cached_path(name, utt_id)
            try:
                tensors = load_file(str(path))
            except Exception as exc:  # a damaged file: say which and how to fix it
                raise TeacherCacheMiss(
                    f"{path}: unreadable cache file ({exc}); delete it and rerun cache-teachers"
                ) from exc
            for k, v in tensors.items():
                out[k] = v if v.dtype == torch.bool else v.to(dtype)
        return out

    def load_frames(self, utt_id: str, start: int, length: int) -> dict[str, torch.Tensor]:
        """Frames ``[start, start + length)`` of every tensor :meth:`load` returns, in the stored
        dtype (fewer rows at the end of an utterance).

        Reads only those rows (a safetensors slice): a training crop of 3 s is a small part of an
        utterance's features, and reading all of them and casting to fp32 before cropping cost
        20x the time per item (11.1 against 0.54 ms, issue 27) on the data path of the step.
        """
        from safetensors import safe_open

        out: dict[str, torch.Tensor] = {}
        for name in self.enabled:
            path = self._cached_path(name, utt_id)
            try:
                with safe_open(str(path), framework="pt") as fh:
                    for k in fh.keys():
                        sl = fh.get_slice(k)
                        rows = int(sl.get_shape()[0])
                        out[k] = sl[min(start, rows) : min(start + length, rows)]
            except Exception as exc:  # a damaged file: say which and how to fix it
                raise TeacherCacheMiss(
                    f"{path}: unreadable cache file ({exc}); delete it and rerun cache-teachers"
                ) from exc
        return out

    def file_metadata(self, name: str, utt_id: str) -> dict[str, str]:
        """The raw (string) safetensors metadata of store ``name``'s file for ``utt_id``."""
        from safetensors import safe_open

        with safe_open(str(self.stores[name].path(utt_id)), framework="pt") as fh:
            return dict(fh.metadata() or {})

    def metadata(self, utt_id: str) -> dict[str, Any]:
        """Per-store metadata (frames, samples, token counts...) plus the transcript, when cached."""
        meta: dict[str, Any] = {}
        for name in self.enabled:
            if self.stores[name].has(utt_id):
                meta[name] = {k: _decode_meta(v) for k, v in self.file_metadata(name, utt_id).items()}
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
