"""The one road from a Hugging Face hub id to local files: download on first use, cache, offline.

Why one module: every hub-id default (teachers, ASR backends, baseline codecs, published
tokenizers) must behave like the rest of the ecosystem — download into the standard Hugging Face
cache on first use, reuse the cache afterwards, honour ``HF_HUB_OFFLINE`` — and must fail the same
clear way when the files cannot be had. Scattered ``local_files_only=True`` calls did neither.

Policy, decided per call (:func:`access`):

* **offline** — ``HF_HUB_OFFLINE=1`` (huggingface_hub's own switch, read from the environment and
  from ``huggingface_hub.constants``) or the project's switch ``TOKENIZER_BENCH_OFFLINE=1`` (what
  ``tokenizer-bench --offline ...`` sets): the cache only, nothing is fetched.
* **online** — one short probe of the endpoint (``HF_ENDPOINT``; :data:`PROBE_TIMEOUT_S`, no
  retries) first. huggingface_hub alone would, on a dead network, retry with back-off and a 60 s
  timeout before giving up; the probe turns that into a failure within seconds. If the hub
  answers, files are downloaded (or revalidated) as usual; if it does not, cached files are used
  and anything else is a :class:`HubUnavailableError`.

Every failure is a :class:`HubUnavailableError` (a :class:`MissingDependencyError`) naming the
repo, the revision, why nothing could be fetched, and the ``hf download`` command that fixes it.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tokenizer_bench.core.errors import MissingDependencyError

#: The project's own offline switch (set by ``tokenizer-bench --offline``), besides ``HF_HUB_OFFLINE``.
OFFLINE_ENV = "TOKENIZER_BENCH_OFFLINE"
#: Seconds the reachability probe may take (connect + first byte). Keeps "hub unreachable" well under 10 s.
PROBE_TIMEOUT_S = 4.0
#: How long a probe result is trusted, so loading four models probes once, not four times.
PROBE_TTL_S = 60.0

_probe_cache: dict[str, tuple[float, str | None]] = {}
_warned: set[str] = set()


class HubUnavailableError(MissingDependencyError):
    """Files of a hub repo are neither in the local cache nor downloadable now."""


@dataclass(frozen=True)
class Access:
    """How a load may reach the hub: ``local_only`` and, when so, why (for messages)."""

    local_only: bool
    reason: str = ""


def _true(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def is_offline() -> bool:
    """True when downloads are off: ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` or ``TOKENIZER_BENCH_OFFLINE``."""
    if any(_true(os.environ.get(k)) for k in (OFFLINE_ENV, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def set_offline(offline: bool = True) -> None:
    """Switch downloads off for this process and its children (the CLI's ``--offline``)."""
    if offline:
        os.environ[OFFLINE_ENV] = "1"
        os.environ["HF_HUB_OFFLINE"] = "1"  # child processes import huggingface_hub with it set
    else:
        os.environ.pop(OFFLINE_ENV, None)


def endpoint() -> str:
    """The hub endpoint huggingface_hub will use (``HF_ENDPOINT``, default https://huggingface.co)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def cache_dir() -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE``, default ``$HF_HOME/hub`` = ~/.cache/huggingface/hub)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def looks_like_repo_id(text: str | Path) -> bool:
    """``owner/name`` (or a bare legacy ``name`` without an owner) that is not a filesystem path."""
    raw = str(text)
    if not raw or raw.startswith((".", "/", "~")) or "\\" in raw or raw.endswith("/"):
        return False
    if Path(raw).expanduser().exists():
        return False
    parts = raw.split("/")
    return len(parts) <= 2 and all(parts)


def download_command(repo_id: str, filenames: Sequence[str] = (), revision: str | None = None) -> str:
    """The shell command that puts ``repo_id``'s files into the cache (huggingface_hub's ``hf`` CLI)."""
    cmd = ["hf", "download", repo_id, *filenames]
    if revision and revision != "main":
        cmd += ["--revision", revision]
    return " ".join(cmd)


def _probe(url: str, timeout: float) -> str | None:
    """None if an HTTP server answers at ``url`` (any status), else a short reason."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "tokenizer-bench"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered: reachable (auth and missing repos are reported by the real call)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason


def hub_unreachable_reason(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the endpoint answers; otherwise why not (cached for :data:`PROBE_TTL_S`)."""
    url = endpoint()
    now = time.monotonic()
    hit = _probe_cache.get(url)
    if hit is not None and now - hit[0] < PROBE_TTL_S:
        return hit[1]
    reason = _probe(url + "/api/models?limit=1", timeout)
    _probe_cache[url] = (now, reason)
    return reason


def access() -> Access:
    """Whether this load must stay in the cache, and why (offline switch or unreachable hub)."""
    if is_offline():
        return Access(True, f"downloads are off (HF_HUB_OFFLINE=1 or {OFFLINE_ENV}=1 / --offline)")
    reason = hub_unreachable_reason()
    if reason is not None:
        return Access(True, f"the hub {endpoint()} is unreachable ({reason})")
    return Access(False)


def _warn_cached(repo_id: str, why: Access) -> None:
    if why.local_only and not is_offline() and repo_id not in _warned:
        _warned.add(repo_id)
        print(f"note: {why.reason}; using the cached copy of {repo_id}", file=sys.stderr)


def _unavailable(what: str, repo_id: str, revision: str | None, why: str, files: Sequence[str] = (),
                 hint: str = "", cache: str | Path | None = None) -> HubUnavailableError:
    rev = f" (revision {revision})" if revision and revision != "main" else ""
    names = f"{', '.join(files)} of " if files else ""
    verb = "are" if len(files) > 1 else "is"
    return HubUnavailableError(
        f"{what}: {names}{repo_id!r}{rev} {verb} not in the Hugging Face cache ({cache or cache_dir()}) and {why}. "
        f"Download it where the hub is reachable: `{download_command(repo_id, files, revision)}` "
        "(then use that cache here: the same HF_HOME, or copy it)" + (f", {hint}" if hint else "") + "."
    )


def _remote_error(what: str, repo_id: str, revision: str | None, exc: Exception) -> HubUnavailableError:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = " ".join(lines[:2]) if lines else type(exc).__name__  # e.g. "404 Client Error. Repository Not Found ..."
    rev = f" at revision {revision!r}" if revision else ""
    return HubUnavailableError(f"{what}: cannot load {repo_id!r}{rev} from the hub {endpoint()}: {first}")


def _cached_file(repo_id: str, filename: str, revision: str | None, cache: str | Path | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision or "main",
                                   cache_dir=str(cache) if cache is not None else None)
    return Path(found) if isinstance(found, str) else None


def fetch_files(repo_id: str, filenames: Iterable[str], *, revision: str | None = None, what: str,
                hint: str = "", cache: str | Path | None = None) -> list[Path]:
    """Local paths of ``filenames`` in ``repo_id`` (downloaded on first use, cached afterwards).

    ``cache``: another hub cache folder than :func:`cache_dir` (huggingface_hub's ``cache_dir``).
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    names = list(filenames)
    how = access()
    if how.local_only:
        found = [_cached_file(repo_id, n, revision, cache) for n in names]
        absent = [n for n, p in zip(names, found) if p is None]
        if absent:
            raise _unavailable(what, repo_id, revision, how.reason, absent, hint, cache)
        _warn_cached(repo_id, how)
        return [p for p in found if p is not None]
    paths = []
    for name in names:
        try:
            paths.append(Path(hf_hub_download(repo_id, name, revision=revision,
                                              cache_dir=str(cache) if cache is not None else None)))
        except (HfHubHTTPError, OSError, ValueError) as exc:
            raise _remote_error(what, repo_id, revision, exc) from exc
    return paths


def fetch_snapshot(repo_id: str, *, revision: str | None = None, allow_patterns: Sequence[str] | None = None,
                   what: str, hint: str = "") -> Path:
    """The local snapshot folder of ``repo_id`` (every file, or those matching ``allow_patterns``)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    how = access()
    try:
        patterns = None if allow_patterns is None else list(allow_patterns)
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=patterns,
                                   local_files_only=how.local_only)
    except (HfHubHTTPError, OSError, ValueError) as exc:
        if how.local_only:
            raise _unavailable(what, repo_id, revision, how.reason, hint=hint) from None
        raise _remote_error(what, repo_id, revision, exc) from exc
    _warn_cached(repo_id, how)
    return Path(folder)


def from_pretrained(loader: Callable[..., Any], repo_id: str, *, revision: str | None = None, what: str,
                    hint: str = "", **kwargs: Any) -> Any:
    """``loader(repo_id, revision=..., local_files_only=<policy>, **kwargs)`` with the module's errors.

    ``loader`` is a ``from_pretrained``-style callable of transformers (or any library built on
    huggingface_hub's cache). Files the loader finds missing become a :class:`HubUnavailableError`.
    """
    how = access()
    try:
        model = loader(repo_id, revision=revision, local_files_only=how.local_only, **kwargs)
    except (OSError, ValueError) as exc:  # transformers: OSError (EnvironmentError) for missing repos/files
        if how.local_only:
            raise _unavailable(what, repo_id, revision, how.reason, hint=hint) from exc
        raise _remote_error(what, repo_id, revision, exc) from exc
    _warn_cached(repo_id, how)
    return model


def push_folder(folder: str | Path, repo_id: str, *, card: str | None = None, private: bool = False,
                branch: str | None = None, commit_message: str | None = None, token: str | None = None) -> str:
    """Upload every file of ``folder`` (plus ``card`` as README.md) to the model repo ``repo_id`` in one commit.

    Creates the repo (``private`` only applies then) and the ``branch`` when missing. Returns the
    commit URL. Offline mode or an unreachable hub stop before anything is sent.
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    what = f"push to {repo_id!r}"
    if is_offline():
        raise HubUnavailableError(f"{what}: uploads are off (HF_HUB_OFFLINE=1 or {OFFLINE_ENV}=1 / --offline); "
                                  "unset it to publish")
    reason = hub_unreachable_reason()
    if reason is not None:
        raise HubUnavailableError(f"{what}: the hub {endpoint()} is unreachable ({reason}); nothing was uploaded")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not (card is not None and p.name == "README.md"
                                                                         and p.parent == folder))
    if not files:
        raise HubUnavailableError(f"{what}: {folder} holds no files")
    operations = [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
                  for p in files]
    if card is not None:
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode()))
    api = HfApi(endpoint=endpoint(), token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch and branch != "main":
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        info = api.create_commit(repo_id, operations, commit_message=commit_message or f"Upload {folder.name}",
                                 revision=branch)
    except HfHubHTTPError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubUnavailableError(f"{what}: the hub {endpoint()} refused: {first} (log in with `hf auth login` "
                                  "or pass a token)") from exc
    return str(info.commit_url)


__all__ = [
    "Access", "HubUnavailableError", "OFFLINE_ENV", "PROBE_TIMEOUT_S", "access", "cache_dir", "download_command",
    "endpoint", "fetch_files", "fetch_snapshot", "from_pretrained", "hub_unreachable_reason", "is_offline",
    "looks_like_repo_id", "push_folder", "set_offline",
]
