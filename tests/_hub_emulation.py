"""A local Hugging Face hub on 127.0.0.1 for tests: the endpoints huggingface_hub 2.4 calls.

Why: the real hub is out of reach here, and a fake client (mocking ``hf_hub_download``) would
test our wiring against our own idea of the library. This server speaks the HTTP protocol the
library actually uses, so the library's own code (cache layout, ETag checks, offline fallback,
commit payloads) runs unchanged:

* downloads: ``GET /api/models/<repo>[/revision/<rev>]`` (model info: ``sha``, ``siblings``),
  ``GET /api/models/<repo>/tree/<rev>[/<path>]`` (file listing), ``HEAD``/``GET
  /<repo>/resolve/<rev>/<file>`` with ``ETag``, ``X-Repo-Commit`` and ``Content-Length``; missing
  repos, revisions and files answer 404 with the ``X-Error-Code`` the library maps to its errors;
* uploads: ``POST /api/repos/create``, ``/api/validate-yaml``, ``/api/models/<repo>/preupload/<rev>``
  (every file "regular": sent inline, base64, in the commit), ``/api/models/<repo>/commit/<rev>``
  (ndjson) and ``/api/models/<repo>/branch/<branch>``.

Every request is recorded in :attr:`HubEmulation.requests` (method, path), so tests can count file
downloads. Repos are stored in memory: ``{repo: {"refs": {branch: sha}, "commits": {sha: {path:
bytes}}, "private": bool}}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


def _sha(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# ---------------------------------------------------------------- pointing huggingface_hub at it

def point_hub_at(monkeypatch, endpoint: str, home: Path) -> None:
    """What a fresh process with HF_ENDPOINT/HF_HOME set would see (huggingface_hub reads them at import)."""
    from huggingface_hub import constants

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZER_BENCH_OFFLINE", "HF_HUB_CACHE", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    from tokenizer_bench.core import hub

    try:  # transformers keeps one HfApi (bound to the endpoint of its first use) per process
        import transformers.utils.hub as transformers_hub

        monkeypatch.setattr(transformers_hub, "_hf_api", None, raising=False)
    except ImportError:
        pass
    monkeypatch.setattr(hub, "_probe_cache", {})
    monkeypatch.setattr(hub, "_warned", set())


def go_offline(monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def closed_port_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: connection refused


class HubEmulation:
    """In-memory model repos behind a ThreadingHTTPServer bound to 127.0.0.1 (ephemeral port)."""

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.commit_payloads: list[list[dict]] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "HubEmulation":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ store
    def add_files(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Commit ``files`` (path -> bytes) on top of ``branch``; returns the new commit sha."""
        with self._lock:
            repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}, "private": False})
            parent = repo["refs"].get(branch)
            tree = dict(repo["commits"][parent]) if parent else {}
            tree.update(files)
            sha = _sha(json.dumps([parent, sorted((p, _sha(b)) for p, b in tree.items())]).encode())
            repo["commits"][sha] = tree
            repo["refs"][branch] = sha
            return sha

    def add_folder(self, repo_id: str, folder: str | Path, prefix: str = "") -> str:
        """Commit every file under ``folder`` (paths relative to it, below ``prefix``)."""
        folder = Path(folder)
        files = {prefix + p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        return self.add_files(repo_id, files)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo["commits"][repo["refs"].get(revision, revision)]

    def downloads(self) -> list[str]:
        """Paths of the file bodies served (GET on ``resolve``), in order."""
        return [p for m, p in self.requests if m == "GET" and "/resolve/" in p]

    # ------------------------------------------------------------------ lookup
    def resolve(self, repo_id: str, revision: str) -> tuple[str | None, dict | None]:
        """``(commit sha, tree)`` for a branch name or a commit sha; ``(None, None)`` if unknown."""
        repo = self.repos.get(repo_id)
        if repo is None:
            return None, None
        sha = repo["refs"].get(revision, revision)
        tree = repo["commits"].get(sha)
        return (sha, tree) if tree is not None else (None, None)


class _Handler(BaseHTTPRequestHandler):
    hub: HubEmulation
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    # ------------------------------------------------------------------ responses
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._json({"error": message}, status, {"X-Error-Code": code, "X-Error-Message": message, **(headers or {})})

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ------------------------------------------------------------------ routing
    def _route(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.hub.requests.append((self.command, path))
        query = parse_qs(url.query)
        if path.startswith("/api/"):
            return self._api(path[len("/api/"):], query)
        if "/resolve/" in path:
            repo_id, rest = path.lstrip("/").split("/resolve/", 1)
            revision, _, filename = rest.partition("/")
            return self._resolve_file(repo_id, revision, filename)
        self._error(404, "NotFound", f"no route for {self.command} {path}")

    do_GET = do_HEAD = do_POST = _route

    def _repo_and_rest(self, text: str) -> tuple[str, str]:
        parts = text.split("/")
        if parts[0] in self.hub.repos:  # a legacy id without owner, e.g. bert-base-uncased
            return parts[0], "/".join(parts[1:])
        return "/".join(parts[:2]), "/".join(parts[2:])

    def _api(self, path: str, query: dict) -> None:
        hub = self.hub
        if self.command == "POST" and path == "repos/create":
            return self._create_repo(json.loads(self._body() or b"{}"))
        if self.command == "POST" and path == "validate-yaml":
            self._body()
            return self._json({"errors": [], "warnings": []})
        if not path.startswith("models/"):
            return self._error(404, "NotFound", f"no route for /api/{path}")
        repo_id, rest = self._repo_and_rest(path[len("models/"):])
        if repo_id not in hub.repos:
            self._body()
            return self._error(404, "RepoNotFound", f"Repository Not Found for url: /api/models/{repo_id}")
        action, _, arg = rest.partition("/")
        if self.command == "GET" and action in ("", "revision"):
            return self._model_info(repo_id, unquote(arg) or "main")
        if self.command == "GET" and action == "tree":
            revision, _, sub = arg.partition("/")
            return self._tree(repo_id, revision, sub, query.get("recursive", ["false"])[0].lower() == "true")
        if self.command == "POST" and action == "preupload":
            payload = json.loads(self._body() or b"{}")
            files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                     for f in payload.get("files", [])]
            return self._json({"files": files, "commitOid": hub.repos[repo_id]["refs"].get(arg)})
        if self.command == "POST" and action == "commit":
            return self._commit(repo_id, unquote(arg))
        if self.command == "POST" and action == "branch":
            self._body()
            repo = hub.repos[repo_id]
            if arg in repo["refs"]:
                return self._error(409, "BranchExists", f"branch {arg} already exists")
            repo["refs"][arg] = repo["refs"]["main"]
            return self._json({})
        self._error(404, "NotFound", f"no route for {self.command} /api/{path}")

    # ------------------------------------------------------------------ endpoints
    def _create_repo(self, payload: dict) -> None:
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        if "/" not in repo_id:
            repo_id = f"user/{repo_id}"
        url = f"{self.hub.endpoint}/{repo_id}"
        if repo_id in self.hub.repos:
            return self._json({"error": "You already created this model repo", "url": url}, 409)
        sha = self.hub.add_files(repo_id, {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"})
        self.hub.repos[repo_id]["private"] = bool(payload.get("private")) or payload.get("visibility") == "private"
        self._json({"url": url, "name": repo_id, "id": repo_id, "sha": sha})

    def _model_info(self, repo_id: str, revision: str) -> None:
        sha, tree = self.hub.resolve(repo_id, revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        self._json({
            "id": repo_id, "modelId": repo_id, "sha": sha, "private": self.hub.repos[repo_id]["private"],
            "siblings": [{"rfilename": p} for p in sorted(tree)], "tags": [], "downloads": 0, "likes": 0,
        })

    def _tree(self, repo_id: str, revision: str, sub: str, recursive: bool) -> None:
        sha, tree = self.hub.resolve(repo_id, unquote(revision))
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        entries, folders = [], set()
        for p in sorted(tree):
            if not p.startswith(prefix):
                continue
            rel = p[len(prefix):]
            if not recursive and "/" in rel:
                folders.add(prefix + rel.split("/", 1)[0])
                continue
            for i, _ in enumerate(rel.split("/")[:-1]):
                folders.add(prefix + "/".join(rel.split("/")[: i + 1]))
            entries.append({"type": "file", "path": p, "size": len(tree[p]), "oid": _sha(tree[p])})
        if prefix and not entries and not folders:
            return self._error(404, "EntryNotFound", f"{sub} does not exist on {revision}", {"X-Repo-Commit": sha})
        entries += [{"type": "directory", "path": f, "oid": _sha(f.encode())} for f in sorted(folders)]
        self._json(entries)

    def _resolve_file(self, repo_id: str, revision: str, filename: str) -> None:
        if repo_id not in self.hub.repos:
            return self._error(404, "RepoNotFound", f"Repository Not Found for url: /{repo_id}")
        sha, tree = self.hub.resolve(repo_id, revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if filename not in tree:
            return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
        data = tree[filename]
        self._send(200, data, {"ETag": f'"{_sha(data)}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"},
                   content_type="application/octet-stream")

    def _commit(self, repo_id: str, revision: str) -> None:
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        self.hub.commit_payloads.append(lines)
        files = {}
        for item in lines:
            if item["key"] == "file":
                value = item["value"]
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] != "header":
                return self._error(400, "BadRequest", f"emulation supports inline files only, got {item['key']}")
        if revision not in self.hub.repos[repo_id]["refs"]:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        sha = self.hub.add_files(repo_id, files, branch=revision)
        self._json({"success": True, "commitOid": sha, "commitUrl": f"{self.hub.endpoint}/{repo_id}/commit/{sha}"})
