"""Name -> factory registries, one per component kind.

Registries are filled by the plugin manager (:mod:`tokenizer_bench.core.plugins`) from the
``register_<kind>`` hooks; nothing in core imports a concrete component.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from tokenizer_bench.core.errors import ConfigError, DuplicateComponentError, UnknownComponentError

KINDS: tuple[str, ...] = (
    "encoders",
    "decoders",
    "quantizers",
    "teachers",
    "aligners",
    "discriminators",
    "losses",
    "recipes",
    "tokenizers",
    "asr_backends",
    "metrics",
    "evaluators",
)


@dataclass(frozen=True)
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    source: str
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """Keyword arguments the factory accepts (what a config may set)."""
        try:
            sig = inspect.signature(self.factory)
        except (TypeError, ValueError):
            return {}
        return {
            n: p
            for n, p in sig.parameters.items()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL,) and n != "self"
        }

    def accepts_any_kwargs(self) -> bool:
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.parameters().values())


class Registry:
    """Components of one kind, by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        source: str,
        description: str | None = None,
        **meta: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{source}: a {self.kind} name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise TypeError(f"{source}: factory for {self.kind} {name!r} is not callable")
        if name in self._entries:
            other = self._entries[name].source
            raise DuplicateComponentError(
                f"{self.kind} name {name!r} is registered twice: by {other!r} and by {source!r}. "
                "Rename one of them, or restrict external plugins with TOKENIZER_BENCH_PLUGINS."
            )
        doc = description if description is not None else _first_doc_line(factory)
        self._entries[name] = Entry(self.kind, name, factory, source, doc, dict(meta))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(known) if known else "(none registered)"
        return f"unknown {singular(self.kind)} {name!r}.{hint} Available: {listing}"

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Instantiate ``name`` with ``kwargs``, rejecting arguments the factory does not take."""
        entry = self.get(name)
        check_arguments(entry, kwargs)
        return entry.factory(**kwargs)


def check_arguments(entry: Entry, kwargs: dict[str, Any], where: str = "", provided: tuple[str, ...] = ()) -> None:
    """Raise :class:`ConfigError` listing valid keys when ``kwargs`` has unknown ones, or lacks a
    required one that is not in ``provided`` (arguments the caller adds itself)."""
    params = entry.parameters()
    if entry.accepts_any_kwargs() or not params:
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        valid = ", ".join(sorted(params))
        loc = f"{where}: " if where else ""
        raise ConfigError(
            f"{loc}{singular(entry.kind)} {entry.name!r} got unknown argument(s) {', '.join(unknown)}. "
            f"Valid arguments: {valid}"
        )
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and n not in kwargs
        and n not in provided
    ]
    if missing:
        loc = f"{where}: " if where else ""
        raise ConfigError(f"{loc}{singular(entry.kind)} {entry.name!r} needs argument(s): {', '.join(missing)}")


def _first_doc_line(obj: Any) -> str:
    # Only the object's own docstring: an inherited one (e.g. nn.Module's) says nothing useful.
    own = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    doc = inspect.cleandoc(own) if isinstance(own, str) else ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def singular(kind: str) -> str:
    """A registry kind in messages: ``losses`` -> ``loss``, ``asr_backends`` -> ``asr backend``."""
    word = kind.replace("_", " ")
    if word.endswith("sses"):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word
