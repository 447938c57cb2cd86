"""YAML configs: composition (``extends``), CLI overrides (``--set a.b=c``) and validation.

A config names components by registry name; the other keys of a component mapping are its
constructor arguments (the descript-audio-codec convention)::

    quantizer: {name: <registered quantizer>, n_q: 8, codebook_size: 1024}

An ablation is a short file that ``extends`` a base config and overrides a few keys. Merging is
recursive for mappings; lists and scalars replace; a component mapping whose ``name`` changes is
replaced whole (the old arguments belong to the old component). Every leaf remembers the file
that set it, so a validation error names the file and the key path.
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from tokenizer_bench.core.errors import ConfigError, UnknownComponentError
from tokenizer_bench.core.registry import check_arguments

PACKAGED_CONFIGS = "tokenizer_bench.configs"
EXTENDS_KEY = "extends"

Provenance = dict[tuple[str, ...], str]
M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------- locating files
def packaged_config_names() -> list[str]:
    root = resources.files(PACKAGED_CONFIGS)
    names: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith((".yaml", ".yml")):
                names.append(prefix + child.name)

    walk(root, "")
    return sorted(names)


def resolve_config(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """A config path: an existing file (relative to ``relative_to`` or the CWD), else a packaged config."""
    raw = str(name_or_path)
    candidates = []
    if relative_to is not None:
        candidates.append(relative_to / raw)
    candidates.append(Path(raw))
    for c in candidates:
        if c.is_file():
            return c.resolve()
    root = resources.files(PACKAGED_CONFIGS)
    for cand in (raw, f"{raw}.yaml"):
        node = root.joinpath(*cand.split("/"))
        if node.is_file():
            return Path(str(node))
    available = ", ".join(packaged_config_names()) or "(none)"
    raise ConfigError(f"config {raw!r} not found as a file or a packaged config. Packaged configs: {available}")


# --------------------------------------------------------------------------- reading & merging
def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _record(prov: Provenance, data: Any, prefix: tuple[str, ...], source: str) -> None:
    prov[prefix] = source
    if isinstance(data, dict):
        for k, v in data.items():
            _record(prov, v, prefix + (str(k),), source)


def _drop(prov: Provenance, prefix: tuple[str, ...]) -> None:
    for key in [k for k in prov if k[: len(prefix)] == prefix and len(k) > len(prefix)]:
        del prov[key]


def merge(base: dict, override: dict, prov: Provenance, source: str, prefix: tuple[str, ...] = ()) -> dict:
    """Recursively merge ``override`` into a copy of ``base``, recording provenance."""
    out = dict(base)
    for key, value in override.items():
        path = prefix + (str(key),)
        old = out.get(key)
        same_component = not (
            isinstance(old, dict) and isinstance(value, dict) and "name" in value and old.get("name") != value["name"]
        )
        if isinstance(old, dict) and isinstance(value, dict) and same_component:
            out[key] = merge(old, value, prov, source, path)
            prov.setdefault(path, source)
        else:
            _drop(prov, path)
            out[key] = copy.deepcopy(value)
            _record(prov, value, path, source)
    return out


def compose(path: Path, _chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], Provenance]:
    """Read ``path`` and the configs it extends (depth first), returning merged data and provenance."""
    path = path.resolve()
    if path in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path))
        raise ConfigError(f"{path}: circular 'extends': {cycle}")
    data = read_yaml(path)
    parents = data.pop(EXTENDS_KEY, None)
    if parents is None:
        parents = []
    elif isinstance(parents, str):
        parents = [parents]
    elif not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ConfigError(f"{path}: '{EXTENDS_KEY}' must be a config name/path or a list of them")
    merged: dict[str, Any] = {}
    prov: Provenance = {}
    for parent in parents:
        try:
            parent_path = resolve_config(parent, relative_to=path.parent)
        except ConfigError as exc:  # name the file that holds the bad 'extends:'
            raise ConfigError(f"{path}: {EXTENDS_KEY}: {exc}") from None
        pdata, pprov = compose(parent_path, (*_chain, path))
        merged = merge(merged, pdata, prov, str(parent_path))
        prov.update(pprov)
    merged = merge(merged, data, prov, str(path))
    return merged, prov


# --------------------------------------------------------------------------- KEY=VALUE arguments
#: Exponent notation without a dot (``1e-3``): a float in YAML 1.2 and JSON, a string to PyYAML.
_EXPONENT_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


def parse_value(raw: str) -> Any:
    """A command-line VALUE read as YAML, as the same text in a config file would be.

    ``5`` -> 5, ``0.5`` -> float, ``true`` -> True, ``[1, 2]`` -> list, ``{a: 1}`` -> dict,
    ``some text`` -> str, empty or ``null`` -> None; quote a value to keep it a string (``'no'``,
    ``'5'``). One exception: exponent notation without a dot (``1e-3``) is a float, as in YAML 1.2
    and JSON (PyYAML reads it as text). One rule for every KEY=VALUE flag, so an option means the
    same everywhere. Raises ``yaml.YAMLError`` for text that is not YAML (``[1, 2``).
    """
    value = yaml.safe_load(raw) if raw.strip() else None
    if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(raw.strip()):
        return float(value)
    return value


def parse_key_value(text: str, flag: str, form: str = "KEY", example: str = "key=value") -> tuple[str, Any]:
    """``KEY=VALUE`` -> (stripped KEY, :func:`parse_value` of VALUE), split at the first ``=``.

    A missing ``=``, an empty KEY or a VALUE that is not YAML is a :class:`ConfigError` naming
    ``flag`` and the argument; ``form`` names what KEY stands for in that message.
    """
    key, sep, raw = text.partition("=")
    if not sep:
        raise ConfigError(f"{flag} {text!r}: expected {form}=VALUE (e.g. {example})")
    if not key.strip():
        raise ConfigError(f"{flag} {text!r}: empty key before '=' (expected {form}=VALUE, e.g. {example})")
    try:
        return key.strip(), parse_value(raw)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or exc).strip()
        raise ConfigError(f"{flag} {text!r}: the value is not valid YAML ({problem}); quote it to pass it as text, "
                          f"e.g. {key.strip()}='...'") from None


def parse_key_values(items: Iterable[str], flag: str, form: str = "KEY",
                     example: str = "key=value") -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` arguments as a dict (a later KEY replaces an earlier one)."""
    return dict(parse_key_value(text, flag, form, example) for text in items)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``--set a.b.c=VALUE`` -> (``["a", "b", "c"]``, value)."""
    key, value = parse_key_value(text, "--set", "KEY.PATH", "trainer.max_steps=50")
    keys = [k for k in key.split(".") if k]
    if not keys:
        raise ConfigError(f"--set {text!r}: empty key")
    return keys, value


def apply_overrides(data: dict, prov: Provenance, overrides: Iterable[str]) -> dict:
    for text in overrides:
        keys, value = parse_override(text)
        patch: Any = value
        for k in reversed(keys):
            patch = {k: patch}
        data = merge(data, patch, prov, f"--set {text}")
    return data


# --------------------------------------------------------------------------- validation
def _source_for(prov: Provenance, loc: tuple[str, ...], default: str) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in prov:
            return prov[loc[:n]]
    return default


def _allowed_keys(schema: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    model: Any = schema
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return None
        ann = fields[part].annotation
        model = _unwrap_model(ann)
        if model is None:
            return None
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else None


def _unwrap_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


class _ArgumentError(ValueError):
    """A component's arguments are wrong; ``keys`` names the offending ones, so the error is blamed
    on the file that set them (a child config) rather than the one that named the component."""

    def __init__(self, message: str, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


def format_validation_error(exc: ValidationError, schema: type[BaseModel], prov: Provenance, main: str) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        dotted = ".".join(loc) or "(top level)"
        cause = (err.get("ctx") or {}).get("error")
        keys = getattr(cause, "keys", None)
        if isinstance(cause, _ArgumentError) and keys:
            source = _source_for(prov, loc + (keys[0],), main)
        else:
            source = _source_for(prov, loc, main)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(schema, err["loc"][:-1])
            msg = "unknown key" + (f"; allowed keys here: {', '.join(allowed)}" if allowed else "")
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{source}: {dotted}: {msg}")
    return "invalid config:\n  " + "\n  ".join(lines)


def validate(data: dict, schema: type[M], prov: Provenance | None = None, main: str = "<config>") -> M:
    """``data`` as ``schema``, or as the subclass ``schema.schema_for(data)`` names when the schema
    has that hook (a training config takes its recipe's sections: core/train_config.py); the
    errors name the key path, the file that set it and the keys allowed there."""
    resolve = getattr(schema, "schema_for", None)
    if resolve is not None:
        schema = resolve(data)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, schema, prov or {}, main)) from None


def load_config(name_or_path: str | Path, schema: type[M], overrides: Iterable[str] = ()) -> M:
    """Resolve, compose, override and validate a config file into ``schema``."""
    path = resolve_config(name_or_path)
    data, prov = compose(path)
    data = apply_overrides(data, prov, overrides)
    return validate(data, schema, prov, str(path))


def dump_config(cfg: BaseModel) -> str:
    """The fully resolved config as YAML (written beside every run for reproducibility)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- components
class Component(BaseModel):
    """A registered component by ``name`` plus its constructor arguments as extra keys."""

    model_config = ConfigDict(extra="allow")

    name: str

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.kwargs}

    def build(self, kind: str, **extra: Any) -> Any:
        from tokenizer_bench.core.plugins import get_registry

        return get_registry(kind).build(self.name, **{**self.kwargs, **extra})


def _checker(kind: str, provided: tuple[str, ...] = ()):
    def check(value: Component) -> Component:
        from tokenizer_bench.core.plugins import get_registry

        registry = get_registry(kind)
        try:
            entry = registry.get(value.name)
        except UnknownComponentError as exc:
            raise ValueError(str(exc)) from None
        try:
            check_arguments(entry, value.kwargs, provided=provided)
        except ConfigError as exc:
            params = entry.parameters()
            unknown = sorted(set(value.kwargs) - set(params)) if params else []
            raise _ArgumentError(str(exc), unknown) from None
        return value

    return check


def registered(kind: str, provided: tuple[str, ...] = ()) -> AfterValidator:
    """Validator metadata: the component's name and arguments are checked against the ``kind`` registry.

    Use it as ``Annotated[Component, registered("encoders")]`` (a type checker reads that as ``Component``).
    ``provided``: arguments whoever builds the component passes itself (e.g. a codec's ``hop_length``,
    :data:`~tokenizer_bench.core.interfaces.CODEC_PART_CONTEXT`), so a config need not set them.
    """
    return AfterValidator(_checker(kind, provided))

