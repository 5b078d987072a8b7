"""A loopback stand-in for the Hugging Face hub's file endpoint, enough for ``hf_hub_download``.

It answers ``HEAD`` and ``GET /{repo_id}/resolve/{revision}/{filename}`` the way the hub does for a file:
status 200 with the bytes, ``Content-Length``, a quoted ``ETag``, and ``X-Repo-Commit`` (which
``huggingface_hub`` requires before it caches anything); unknown files get 404 with the hub's
``X-Error-Code: EntryNotFound``. Every request is logged so tests can see what was fetched.
"""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HubServer:
    def __init__(self) -> None:
        self.files: dict[tuple[str, str, str], bytes] = {}  # (repo_id, revision, filename) → bytes
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo_id: str, revision: str, filename: str, data: bytes) -> None:
        self.files[(repo_id, revision, filename)] = data

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _lookup(self, path: str):
        owner, name, route, revision, filename = (path.lstrip("/").split("/", 4) + [""] * 5)[:5]
        if route != "resolve":
            return None, None
        return revision, self.files.get((f"{owner}/{name}", revision, filename))

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def _answer(self, send_body: bool) -> None:
                hub.requests.append((self.command, self.path))
                revision, data = hub._lookup(self.path)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Error-Message", "Entry not found")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", revision)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if send_body:
                    self.wfile.write(data)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return Handler
