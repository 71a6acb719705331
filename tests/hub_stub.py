"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests that run the real download code.

It serves repositories from memory through the endpoints huggingface_hub (snapshot_download,
hf_hub_download, list_repo_files) and datasets (load_dataset) call: repository info at a
revision, the file tree, paths-info, and HEAD/GET of ``resolve/<revision>/<file>``. A gated
repository answers 403 with ``X-Error-Code: GatedRepo``, as the hub does. Point HF_ENDPOINT at
:attr:`StubHub.endpoint` in a fresh process (huggingface_hub reads it at import).
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ROUTE_TYPES = {"models": "model", "datasets": "dataset"}


class StubHub:
    def __init__(self):
        self.repos: dict[tuple[str, str], dict] = {}  # (repo_type, repo_id) -> {"sha", "files": {path: bytes}}
        self.gated: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.unanswered: list[tuple[str, str]] = []  # requests no route matched (a client calling more than served)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo_type: str, repo_id: str, files: dict[str, bytes]) -> None:
        sha = hashlib.sha1(repo_id.encode()).hexdigest()
        self.repos[repo_type, repo_id] = {"sha": sha, "files": dict(files)}

    def add_folder(self, repo_type: str, repo_id: str, folder: Path) -> None:
        self.add(repo_type, repo_id, {p.relative_to(folder).as_posix(): p.read_bytes()
                                      for p in sorted(folder.rglob("*")) if p.is_file()})

    def downloads(self) -> list[str]:
        """Paths of the file requests (HEAD or GET of resolve/) so far."""
        return [path for _, path in self.requests if "/resolve/" in path]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                hub._answer(self, "HEAD")

            def do_GET(self):
                hub._answer(self, "GET")

            def do_POST(self):
                hub._answer(self, "POST")

        return Handler

    # ------------------------------------------------------------ routing

    def _answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        path = unquote(url.path)
        self.requests.append((method, path))
        if path == "/":  # the hub's home page: what a reachability check asks for
            return self._json(request, {})
        parts = path.strip("/").split("/")
        body = b""
        if method == "POST":
            body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in ROUTE_TYPES:
            repo_type, repo_id, rest = ROUTE_TYPES[parts[1]], "/".join(parts[2:4]), parts[4:]
            return self._api(request, method, repo_type, repo_id, rest, parse_qs(url.query), body)
        repo_type = "dataset" if parts[0] == "datasets" else "model"
        parts = parts[1:] if repo_type == "dataset" else parts
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(request, method, repo_type, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        self.unanswered.append((method, path))
        self._error(request, 404, "RepoNotFound", f"no route for {path}")

    def _repo(self, request, repo_type: str, repo_id: str, revision: str | None) -> dict | None:
        if repo_id in self.gated:
            self._error(request, 403, "GatedRepo", f"Access to model {repo_id} is restricted: accept its conditions.")
            return None
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(request, 404, "RepoNotFound", f"Repository {repo_id} not found")
            return None
        if revision not in (None, "main", repo["sha"]):
            self._error(request, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return repo

    def _api(self, request, method, repo_type, repo_id, rest, query, body) -> None:
        revision = rest[1] if len(rest) >= 2 else None
        repo = self._repo(request, repo_type, repo_id, revision)
        if repo is None:
            return
        if not rest or rest[0] == "revision":
            info = {"id": repo_id, "_id": repo["sha"], "sha": repo["sha"], "private": False, "disabled": False,
                    "gated": False, "downloads": 0, "likes": 0, "tags": [], "cardData": {},
                    "lastModified": "2024-01-01T00:00:00.000Z",
                    "siblings": [{"rfilename": name} for name in sorted(repo["files"])]}
            return self._json(request, info)
        if rest[0] == "tree":
            prefix = "/".join(rest[2:])
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._json(request, self._tree(repo, prefix, recursive))
        if rest[0] == "paths-info" and method == "POST":
            paths = (parse_qs(body.decode()).get("paths") if body and not body.startswith(b"{")
                     else json.loads(body or b"{}").get("paths", []))
            entries = [entry for entry in self._tree(repo, "", True) if entry["path"] in set(paths or [])]
            return self._json(request, entries)
        self.unanswered.append((method, request.path))
        self._error(request, 404, "EntryNotFound", f"no route for {request.path}")

    @staticmethod
    def _tree(repo: dict, prefix: str, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        entries, folders = [], set()
        for name, data in sorted(repo["files"].items()):
            if prefix and not name.startswith(prefix + "/"):
                continue
            relative = name[len(prefix) + 1:] if prefix else name
            if "/" in relative:
                top = relative.split("/")[0]
                folder = f"{prefix}/{top}" if prefix else top
                parents = [folder] if not recursive else [
                    "/".join(name.split("/")[:i]) for i in range(1, name.count("/") + 1)
                    if len("/".join(name.split("/")[:i])) > len(prefix)]
                folders.update(parents)
                if not recursive:
                    continue
            entries.append({"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()})
        entries += [{"type": "directory", "path": folder, "size": 0, "oid": hashlib.sha1(folder.encode()).hexdigest()}
                    for folder in sorted(folders)]
        return entries

    def _resolve(self, request, method, repo_type, repo_id, revision, filename) -> None:
        repo = self._repo(request, repo_type, repo_id, revision)
        if repo is None:
            return
        data = repo["files"].get(filename)
        if data is None:
            return self._error(request, 404, "EntryNotFound", f"{filename} does not exist in {repo_id}")
        request.send_response(200)
        request.send_header("X-Repo-Commit", repo["sha"])
        request.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Content-Type", "application/octet-stream")
        request.end_headers()
        if method == "GET":
            request.wfile.write(data)

    @staticmethod
    def _json(request, value) -> None:
        data = json.dumps(value).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)

    @staticmethod
    def _error(request, status: int, code: str, message: str) -> None:
        data = json.dumps({"error": message}).encode()
        request.send_response(status)
        request.send_header("X-Error-Code", code)
        request.send_header("X-Error-Message", message)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
