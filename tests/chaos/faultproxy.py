"""An HTTP proxy that injects API faults between the reconciler and the API server.

Used by the chaos suite: ``FaultProxy(upstream, rate=0.2, seed=7)`` listens on 127.0.0.1
and forwards every request to ``upstream`` (the sandbox), except that with probability
``rate`` it answers instead with one fault, chosen evenly among:

- ``500``: an Internal Server Error Status;
- ``429``: Too Many Requests with ``Retry-After: 1``;
- ``reset``: the connection is closed with a TCP reset, no answer;
- ``slow``: the request is forwarded after a delay of ``slow`` seconds (0.3-1.0 by default).

``counts`` holds how many requests were forwarded and how many faults of each kind were
injected. Faults can be paused (``enabled = False``) to check convergence afterwards.
``refuse(method, path)``, when set, picks requests that get a ``500`` every time (the
random faults aside, ``rate=0`` for none).
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FAULTS = ("500", "429", "reset", "slow")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class FaultProxy:
    """See the module docstring."""

    def __init__(self, upstream: str, *, rate: float = 0.2, seed: int = 7) -> None:
        self.upstream = urlsplit(upstream)
        self.rate = rate
        self.enabled = True
        self.refuse: Callable[[str, str], bool] | None = None
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _draw(self) -> str:
        with self._lock:
            if not self.enabled or self._random.random() >= self.rate:
                return ""
            return self._random.choice(FAULTS)

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        fault = self._draw()
        if self.refuse is not None and self.refuse(req.command, req.path):
            fault = "500"
        if fault:
            self._count(fault)
        if fault == "reset":
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            req.close_connection = True
            req.connection.close()
            return
        if fault in ("500", "429"):
            code = int(fault)
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "injected fault",
                "reason": "InternalError" if code == 500 else "TooManyRequests",
                "code": code,
            }
            data = json.dumps(status).encode()
            req.send_response(code)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            if code == 429:
                req.send_header("Retry-After", "1")
            req.end_headers()
            req.wfile.write(data)
            return
        if fault == "slow":
            time.sleep(self._random.uniform(0.3, 1.0))
        self._count("forwarded")
        self._forward(req, body)

    def _forward(self, req: BaseHTTPRequestHandler, body: bytes) -> None:
        conn = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60
        )
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            conn.request(req.command, req.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        req.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                req.send_header(key, value)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)
