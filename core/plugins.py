"""The pluggy plugin manager and the registries it fills.

Built-ins and third-party packages are loaded the same way: through the ``tokenizer_bench``
entry-point group. The environment variable ``TOKENIZER_BENCH_PLUGINS`` restricts which
*external* distributions load (comma-separated distribution names; an empty value loads none);
the built-ins of this distribution always load.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import os
import threading
from collections.abc import Mapping
from typing import Any, Callable

import pluggy

from tokenizer_bench.core import hookspecs
from tokenizer_bench.core.errors import TokenizerBenchError
from tokenizer_bench.core.registry import KINDS, Entry, Registry

ENTRY_POINT_GROUP = "tokenizer_bench"
PLUGINS_ENV = "TOKENIZER_BENCH_PLUGINS"
BUILTIN_DISTRIBUTION = "tokenizer-bench"

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_registries: dict[str, Registry] | None = None
_sources: dict[int, str] = {}


def _normalise(dist_name: str) -> str:
    return dist_name.lower().replace("_", "-")


def _allowed_external() -> set[str] | None:
    raw = os.environ.get(PLUGINS_ENV)
    if raw is None:
        return None
    return {_normalise(x.strip()) for x in raw.split(",") if x.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed_external()
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = _normalise(ep.dist.name) if ep.dist is not None else "unknown"
        if dist != BUILTIN_DISTRIBUTION and allowed is not None and dist not in allowed:
            continue
        if pm.get_plugin(f"{dist}:{ep.name}") is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must say which one it is
            raise TokenizerBenchError(
                f"plugin {ep.name!r} of distribution {dist!r} failed to import: {exc}. "
                f"Fix or uninstall it, or exclude it with {PLUGINS_ENV}=<allowed,distributions>."
            ) from exc
        pm.register(plugin, name=f"{dist}:{ep.name}")
        _sources[id(plugin)] = dist


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with built-in and allowed external plugins loaded."""
    global _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            pm.add_hookspecs(hookspecs)
            _load_entry_points(pm)
            _pm = pm
        return _pm


def _source_of(plugin: Any, pm: pluggy.PluginManager) -> str:
    return _sources.get(id(plugin)) or pm.get_name(plugin) or repr(plugin)


def _collect() -> dict[str, Registry]:
    pm = get_plugin_manager()
    registries = {kind: Registry(kind) for kind in KINDS}
    for kind in KINDS:
        caller = getattr(pm.hook, f"register_{kind}")
        # Call each implementation separately so every entry knows which plugin added it.
        for impl in reversed(caller.get_hookimpls()):
            source = _source_of(impl.plugin, pm)

            def register(name: str, factory: Callable[..., Any], description: str | None = None,
                         _src: str = source, _reg: Registry = registries[kind], **meta: Any) -> None:
                _reg.add(name, factory, source=_src, description=description, **meta)

            impl.function(register=register)
    return registries


def registries() -> dict[str, Registry]:
    """All registries, filled on first use."""
    global _registries
    with _lock:
        if _registries is None:
            _registries = _collect()
        return _registries


def get_registry(kind: str) -> Registry:
    if kind not in KINDS:
        raise KeyError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    return registries()[kind]


_command_sources: dict[str, str] = {}


def install_commands(app: Any) -> dict[str, str]:
    """Call every ``register_commands`` implementation on the typer ``app``; returns (and keeps, for
    :func:`command_sources`) ``{command name: plugin}``, the plugin being ``<distribution>:<entry point>``
    for entry-point plugins (e.g. ``tokenizer-bench:harness`` for ``compare``)."""
    pm = get_plugin_manager()
    with _lock:
        for impl in reversed(pm.hook.register_commands.get_hookimpls()):
            before = _command_names(app)
            impl.function(cli=app)
            source = pm.get_name(impl.plugin) or _source_of(impl.plugin, pm)
            for name in _command_names(app) - before:
                _command_sources[name] = source
        return dict(_command_sources)


def command_sources() -> dict[str, str]:
    """``{command name: plugin}`` of the commands :func:`install_commands` added."""
    with _lock:
        return dict(_command_sources)


def _command_names(app: Any) -> set[str]:
    names = set()
    for info in [*getattr(app, "registered_commands", []), *getattr(app, "registered_groups", [])]:
        callback = getattr(info, "callback", None)
        name = info.name or (callback.__name__.replace("_", "-") if callback is not None else None)
        if name:
            names.add(name)
    return names


def distribution_of(entry: Entry) -> dict[str, str] | None:
    """``{"distribution": name, "version": version}`` of the installed package that registered ``entry``.

    Saved next to a checkpoint's component specs, so that loading it where the package is missing
    can say what to install. ``entry.source`` is the distribution name for entry-point plugins;
    for a plugin registered at run time (:func:`register_plugin`) the distribution owning the
    factory's top-level module is looked up. ``None`` when neither is an installed distribution.
    """
    found = _installed(entry.source)
    if found is None:
        top = (getattr(entry.factory, "__module__", None) or "").split(".")[0]
        for name in _top_level_owners().get(top, []) if top else []:
            found = _installed(name)
            if found is not None:
                break
    return found


def _installed(name: str) -> dict[str, str] | None:
    try:
        dist = md.distribution(name)
    except (md.PackageNotFoundError, ValueError):
        return None
    return {"distribution": _normalise(dist.metadata["Name"]), "version": dist.version}


@functools.lru_cache(maxsize=1)
def _top_level_owners() -> Mapping[str, list[str]]:
    """Import name -> distributions (reads every installed distribution's file list: slow, so once)."""
    return md.packages_distributions()


def register_plugin(plugin: Any, name: str | None = None) -> None:
    """Register a plugin object at run time (tests, notebooks); registries are rebuilt."""
    global _registries
    with _lock:
        pm = get_plugin_manager()
        pm.register(plugin, name=name)
        _sources[id(plugin)] = name or pm.get_name(plugin) or repr(plugin)
        _registries = None


def unregister_plugin(plugin: Any) -> None:
    global _registries
    with _lock:
        get_plugin_manager().unregister(plugin)
        _sources.pop(id(plugin), None)
        _registries = None


def reset() -> None:
    """Forget everything; the next call reloads entry points (used by tests)."""
    global _pm, _registries
    with _lock:
        _pm = None
        _registries = None
        _sources.clear()


def forward_to_submodules(package: str, *hook_names: str) -> tuple[Callable[..., None], ...]:
    """Hook implementations for a built-in plugin package that delegate to its submodules.

    Each public submodule of ``package`` may define plain functions named like the hooks
    (``register_encoders(register)``); the package's ``__init__`` exposes the returned
    functions under the same names. Adding a component is then adding one file.
    """
    import importlib
    import pkgutil

    def submodules() -> list[Any]:
        pkg = importlib.import_module(package)
        found = []
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                found.append(importlib.import_module(f"{package}.{info.name}"))
        return found

    def make(hook_name: str) -> Callable[..., None]:
        def impl(register: Callable[..., None]) -> None:
            for module in submodules():
                fn = getattr(module, hook_name, None)
                if callable(fn):
                    fn(register)

        impl.__name__ = hook_name
        return hookspecs.hookimpl(impl)

    return tuple(make(h) for h in hook_names)
