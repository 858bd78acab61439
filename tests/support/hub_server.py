"""A local stand-in for the Hugging Face Hub's file URLs (``/<org>/<repo>/resolve/<rev>/<file>``), serving a
directory laid out as ``<root>/<org>/<repo>/<file>``, so the real ``huggingface_hub`` download path can run here."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_handler(root: Path, log: list[str]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _serve(self, with_body: bool) -> None:
            log.append(f"{self.command} {self.path}")
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.end_headers()
                return
            org, repo, _, _rev, *rest = parts
            path = root / org / repo / "/".join(rest)
            if not (root / org / repo).is_dir():
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("X-Error-Message", "Repository not found")
                self.end_headers()
                return
            if not path.is_file():
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Error-Message", "Entry not found")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if with_body:
                self.wfile.write(data)

        def do_HEAD(self) -> None:  # http.server calls do_<METHOD>
            self._serve(with_body=False)

        def do_GET(self) -> None:
            self._serve(with_body=True)

    return Handler


class HubServer:
    def __init__(self, root: Path) -> None:
        self.log: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(root, self.log))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
