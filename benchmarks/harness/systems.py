"""Which tokenizers are compared, and loading all of them before any work.

Syntax (decided here, documented in docs/benchmark.md):

- ``--tokenizers dm_codec:runs/dmcodec/best,identity`` and ``--baselines encodec,facodec``: a
  comma-separated list of ``name[:checkpoint]``. The text after the first ``:`` is the
  checkpoint (a local folder or a hub id), passed to
  ``tokenizer_bench.core.api.load_tokenizer(name, checkpoint)``.
- ``--baseline-checkpoint name=CHECKPOINT`` (repeatable) is the same thing for a baseline whose
  checkpoint path is long or contains commas; giving a checkpoint both ways is an error.

Baselines are ordinary registered tokenizers; the flag only orders the table (baselines first,
like the paper). The same tokenizer may appear twice with different checkpoints. Row labels are
unique without renaming folders (two trained runs' ``runs/a/tokenizer`` and ``runs/b/tokenizer``
become ``dm_codec (a)`` and ``dm_codec (b)``), and ``name[:checkpoint]@label`` sets one explicitly;
the rules are in :mod:`.labels`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tokenizer_bench.core.errors import ConfigError

from tokenizer_bench.benchmarks.harness.labels import row_labels, split_label

#: Rows that are sanity checks, not competitors: shown but never ranked (bold/underline).
SANITY_TOKENIZERS = frozenset({"identity"})
GROUND_TRUTH_LABEL = "Ground truth"


@dataclass(frozen=True)
class SystemSpec:
    name: str
    checkpoint: str | None = None
    baseline: bool = False
    label: str | None = None  # explicit row label: name[:checkpoint]@label


@dataclass
class LoadedSystem:
    """A tokenizer ready to run, with what identifies its results."""

    spec: SystemSpec
    label: str
    tokenizer: Any
    info: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    depth: int | None = None  # the requested --n-q of this row (None: all codebooks)

    @property
    def ranked(self) -> bool:
        return self.spec.name not in SANITY_TOKENIZERS


def _split(item: str) -> SystemSpec:
    text, label = split_label(item.strip())
    name, sep, ckpt = text.partition(":")
    name = name.strip()
    if not name:
        raise ConfigError(f"empty tokenizer name in {item!r} (expected name[:checkpoint][@label])")
    if sep and not ckpt.strip():  # `name:$CKPT` with CKPT unset: never a silent random init
        raise ConfigError(f"{item!r}: the checkpoint after ':' is empty (an unset variable?); give a checkpoint, "
                          f"or just {name!r} for a randomly initialised model")
    return SystemSpec(name=name, checkpoint=ckpt.strip() or None if sep else None, label=label)


def parse_systems(tokenizers: str | None, baselines: str | None,
                  baseline_checkpoints: Sequence[str] = ()) -> list[SystemSpec]:
    """Specs in table order: baselines first, then the tokenizers under test."""
    base = [_split(s) for s in (baselines or "").split(",") if s.strip()]
    toks = [_split(s) for s in (tokenizers or "").split(",") if s.strip()]
    extra: dict[str, str] = {}
    for item in baseline_checkpoints:
        name, sep, ckpt = item.partition("=")
        if not sep or not name.strip() or not ckpt.strip():
            raise ConfigError(f"--baseline-checkpoint {item!r}: expected NAME=CHECKPOINT")
        extra[name.strip()] = ckpt.strip()
    base_names = {s.name for s in base}
    for name in extra:
        if name not in base_names:
            raise ConfigError(
                f"--baseline-checkpoint {name}=...: {name!r} is not among --baselines "
                f"({', '.join(sorted(base_names)) or 'none'})"
            )
    resolved = []
    for s in base:
        if s.name in extra:
            if s.checkpoint is not None:
                raise ConfigError(f"baseline {s.name!r} has a checkpoint both inline and in --baseline-checkpoint")
            s = SystemSpec(s.name, extra[s.name], label=s.label)
        resolved.append(SystemSpec(s.name, s.checkpoint, baseline=True, label=s.label))
    specs = resolved + toks
    if not specs:
        raise ConfigError("nothing to compare: pass --tokenizers and/or --baselines")
    seen = set()
    for s in specs:
        k = (s.name, s.checkpoint)
        if k in seen:
            raise ConfigError(f"tokenizer {s.name!r} with checkpoint {s.checkpoint!r} is listed twice")
        seen.add(k)
    return specs


def labels_for(specs: Sequence[SystemSpec]) -> list[str]:
    """Unique row labels (explicit ``@label`` or derived from the checkpoint paths; see :mod:`.labels`)."""
    return row_labels(specs, reserved=(GROUND_TRUTH_LABEL,))


def checkpoint_fingerprint(checkpoint: str | None) -> Any:
    """What identifies a checkpoint's content cheaply: file names, sizes and mtimes of a local
    folder/file (a retrained model in the same folder gets new records), or the hub id itself."""
    if checkpoint is None:
        return None
    p = Path(checkpoint).expanduser()
    if p.is_file():
        st = p.stat()
        return {"path": str(p.resolve()), "files": [[p.name, st.st_size, st.st_mtime_ns]]}
    if p.is_dir():
        files = []
        for f in sorted(p.rglob("*")):
            if f.is_file():
                st = f.stat()
                files.append([f.relative_to(p).as_posix(), st.st_size, st.st_mtime_ns])
        return {"path": str(p.resolve()), "files": files}
    return {"id": checkpoint}


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def tokenizer_info(tokenizer: Any, n_q: int | None) -> dict[str, Any]:
    """Description used for bitrate and written into results (frame rate, codebooks, bitrate)."""
    nq = tokenizer.check_n_q(n_q) if hasattr(tokenizer, "check_n_q") else (n_q or tokenizer.num_codebooks)
    info = {
        "sample_rate": int(tokenizer.sample_rate),
        "frame_rate": float(tokenizer.frame_rate),
        "num_codebooks": int(tokenizer.num_codebooks),
        "codebook_size": int(tokenizer.codebook_size),
        "n_q": int(nq),
    }
    # the tokenizer's own count when it has one (SNAC's streams run at different rates; FACodec's
    # codebooks differ in size): frame_rate x n_q x log2(size) is only the uniform case
    info["bitrate"] = (float(tokenizer.bitrate_at(nq)) if hasattr(tokenizer, "bitrate_at")
                       else info["frame_rate"] * nq * math.log2(info["codebook_size"]))
    return info


def load_systems(specs: Sequence[SystemSpec], *, n_q: int | None = None, device: str = "cpu",
                 extra_key: Any = None) -> list[LoadedSystem]:
    """Load every tokenizer; the first failure stops with the tokenizer's own message.

    ``n_q`` above a tokenizer's number of codebooks is an error naming it (no silent clamp).
    ``extra_key`` (e.g. the ASR settings) is mixed into each system's record key.
    """
    from tokenizer_bench.core.api import load_tokenizer

    labels = labels_for(specs)
    loaded = []
    for spec, label in zip(specs, labels):
        tok = load_tokenizer(spec.name, spec.checkpoint)
        if hasattr(tok, "to"):
            moved = tok.to(device)
            tok = moved if moved is not None else tok
        if hasattr(tok, "eval"):
            tok.eval()
        try:
            info = tokenizer_info(tok, n_q)
        except ValueError as exc:
            raise ConfigError(f"--n-q {n_q}: tokenizer {label!r}: {exc}") from None
        loaded.append(LoadedSystem(spec=spec, label=label, tokenizer=tok, info=info))
    assign_keys(loaded, extra_key)
    return loaded


def assign_keys(systems: Sequence[LoadedSystem], extra_key: Any = None) -> None:
    """Set each system's record key: tokenizer name, checkpoint fingerprint, n_q and ``extra_key``."""
    for s in systems:
        s.key = stable_hash({"name": s.spec.name, "checkpoint": checkpoint_fingerprint(s.spec.checkpoint),
                             "n_q": s.info["n_q"], "extra": extra_key})


def parse_depths(value: str | int | Sequence[int] | None) -> list[int | None]:
    """``--n-q``: nothing (all codebooks), one depth, or a comma-separated list (rate-quality)."""
    if value is None:
        return [None]
    if isinstance(value, int):
        items: list[Any] = [value]
    elif isinstance(value, str):
        items = [x.strip() for x in value.split(",") if x.strip()]
    else:
        items = list(value)
    depths = []
    for x in items:
        try:
            d = int(x)
        except (TypeError, ValueError):
            raise ConfigError(f"--n-q {value!r}: {x!r} is not an integer (expected e.g. 8 or 1,2,4,8)") from None
        if d < 1:
            raise ConfigError(f"--n-q {value!r}: depths must be at least 1, got {d}")
        depths.append(d)
    if not depths:
        raise ConfigError(f"--n-q {value!r}: no depth given")
    if len(set(depths)) != len(depths):
        raise ConfigError(f"--n-q {value!r}: a depth is listed twice")
    return sorted(depths)


def depth_label(label: str, depth: int | None) -> str:
    return f"{label} @ n_q={depth}"


def expand_depths(systems: Sequence[LoadedSystem],
                  depths: Sequence[int | None]) -> tuple[list[LoadedSystem], list[dict]]:
    """One row per (system, depth) for a depth list; depths a tokenizer lacks are skipped and returned.

    A single depth keeps the plain labels (and ``load_systems`` already rejected a depth beyond a
    tokenizer's codebooks). Rows are ordered by depth, then in table order, so each depth's table
    reads like a one-depth run.
    """
    if len(depths) == 1:
        for s in systems:
            s.depth = depths[0]
        return list(systems), []
    rows, skipped = [], []
    for d in depths:
        for s in systems:
            if d > s.tokenizer.num_codebooks:
                skipped.append({"label": s.label, "n_q": d,
                                "reason": f"{s.label} has {s.tokenizer.num_codebooks} codebook(s)"})
                continue
            rows.append(LoadedSystem(spec=s.spec, label=depth_label(s.label, d), tokenizer=s.tokenizer,
                                     info=tokenizer_info(s.tokenizer, d), depth=d))
    if not rows:
        raise ConfigError(f"--n-q {','.join(map(str, depths))}: no tokenizer has any of these depths")
    return rows, skipped
