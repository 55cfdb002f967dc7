"""The daemon's HTTP endpoint: ``/healthz``, ``/readyz``, ``/metrics`` and ``/hooks/git``.

Started by :mod:`reconciler.daemon.loop` on ``--listen`` (``:8080`` means every
interface). A standard-library threading server in a background thread: the traffic is
a probe every few seconds, a scrape, and the odd webhook.

- ``GET /healthz``: 200 while the process serves HTTP (liveness).
- ``GET /readyz``: 200 when every readiness check passes, else 503; the body lists each
  check as ``[+]name ok`` or ``[-]name failed`` like kube-apiserver's.
- ``GET /metrics``: the Prometheus text format.
- ``POST /hooks/git``: :func:`reconciler.daemon.webhooks.handle_git_hook`.
- every other ``GET``/``HEAD``: ``Routes.ui`` when set (the web UI, handed in by the CLI's
  wiring: the daemon knows nothing of it), else 404.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from reconciler.daemon import webhooks

log = logging.getLogger(__name__)

HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
HOOK = "/hooks/git"


@dataclass
class Routes:
    """What the endpoints serve; each is a plain callable so tests can build one directly."""

    readiness: Mapping[str, Callable[[], bool]] = field(default_factory=dict)
    """Named readiness checks for ``/readyz`` (e.g. ``git``, ``cluster``)."""
    metrics: Callable[[], bytes] = lambda: b""
    metrics_content_type: str = "text/plain; version=0.0.4; charset=utf-8"
    webhook_secret: bytes | None = None
    on_push: Callable[[], None] = lambda: None
    max_body: int = webhooks.MAX_BODY_BYTES
    on_webhook: Callable[[int], None] = lambda _code: None
    """Called with the status of every webhook answer (for the metrics)."""
    ui: Callable[[BaseHTTPRequestHandler], None] | None = None
    """Answers every other GET and HEAD on the request handler (the web UI), or None."""
    deliveries: webhooks.DeliveryLog = field(default_factory=webhooks.DeliveryLog)
    """Recent webhook deliveries, to refuse replays."""


def parse_listen(listen: str) -> tuple[str, int]:
    """Parse ``--listen``: ``:8080``, ``8080``, ``127.0.0.1:0``, ``[::1]:8080``.

    An empty host means every interface. Raises ValueError naming the value otherwise.
    """
    text = listen.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--listen {listen!r}: expected [HOST]:PORT, e.g. :8080") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--listen {listen!r}: port out of range")
    return host, port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: Routes


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # seconds a client may stall mid-request
    server_version = "reconciler"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        routes = self.server.routes
        if path == HEALTHZ:
            self._send(200, b"ok\n")
        elif path == READYZ:
            lines, ready = [], True
            for name, check in routes.readiness.items():
                ok = _safe(check)
                ready = ready and ok
                lines.append(f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}")
            lines.append("readyz check passed" if ready else "readyz check failed")
            self._send(200 if ready else 503, ("\n".join(lines) + "\n").encode())
        elif path == METRICS:
            self._send(200, routes.metrics(), routes.metrics_content_type)
        elif path == HOOK:
            self._send(405, b"use POST\n", extra_headers={"Allow": "POST"})
        elif routes.ui is not None:
            routes.ui(self)
        else:
            self._send(404, b"not found\n")

    def do_HEAD(self) -> None:
        ui = self.server.routes.ui
        if ui is None:
            self._send(405, b"", extra_headers={"Allow": "GET, POST"})
        else:
            ui(self)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != HOOK:
            self.close_connection = True
            self._send(404, b"not found\n")
            return
        routes = self.server.routes
        answer = webhooks.handle_git_hook(
            cast(Mapping[str, str], self.headers),
            self.rfile,
            secret=routes.webhook_secret,
            on_push=routes.on_push,
            limit=routes.max_body,
            deliveries=routes.deliveries,
        )
        routes.on_webhook(answer.status)
        if not answer.body_read:
            self.close_connection = True
        body = (json.dumps(answer.body) + "\n").encode()
        self._send(answer.status, body, "application/json")
        if not answer.body_read:
            self._linger(limit=routes.max_body)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _linger(self, *, limit: int, seconds: float = 1.0) -> None:
        """Discard what the client still sends for a moment, so it can read our answer.

        Closing a socket with unread data resets the connection, and the client may lose
        the 413 it was about to read; bounded by time and bytes, so it is no way around
        the limit.
        """
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + seconds
            drained = 0
            while drained < 4 * limit and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s %s", self.address_string(), format % args)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        log.exception("readiness check raised")
        return False


class HttpServer:
    """The endpoint in a background thread: :meth:`start`, then :meth:`stop`."""

    def __init__(self, listen: str, routes: Routes) -> None:
        host, port = parse_listen(listen)
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), _Handler)
        self._server.routes = routes
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="http",
            daemon=True,
        )

    @property
    def port(self) -> int:
        """Return the port actually bound (useful with port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Return ``http://127.0.0.1:PORT`` (the loopback URL of the endpoint)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving in a daemon thread."""
        self._thread.start()
        log.info("serving http on port %d", self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
