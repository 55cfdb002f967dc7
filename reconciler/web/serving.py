"""Serve the UI: inside the daemon's HTTP server, and refreshed on an interval for ``reconciler ui``.

- :func:`handle_wsgi` runs a WSGI application for one request of a standard-library
  ``BaseHTTPRequestHandler``; :func:`request_handler` makes it the daemon's ``Routes.ui``
  (:mod:`reconciler.daemon.httpserver` hands it every GET that is not a probe, the
  metrics or the webhook; the daemon imports nothing of the UI, the CLI's wiring does). It uses ``wsgiref``'s handler,
  so each chunk a streaming response yields (``/events``) is written and flushed at once;
  the connection closes after the response (HTTP/1.0 semantics, as the server speaks).
- :class:`Refresher` is ``reconciler ui``'s stand-in for the daemon: every interval it runs
  the dry-run reconcile ``reconciler status`` runs, for every environment instance, and
  publishes the outcomes. Viewers never trigger a cluster request; only the refresher does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import unquote
from wsgiref.handlers import SimpleHandler

from reconciler.structs.errors import ReconcilerError
from reconciler.web.snapshots import SnapshotStore

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)


class _Handler(SimpleHandler):
    server_software = "reconciler"
    http_version = "1.0"

    def log_exception(self, exc_info: Any) -> None:
        log.error("web request failed", exc_info=exc_info)


def wsgi_environ(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    """Return the CGI part of a WSGI environ for the request a handler has parsed."""
    path, _, query = handler.path.partition("?")
    address: Any = handler.server.server_address
    host, port = address[0], address[1]
    environ: dict[str, Any] = {
        "SERVER_NAME": str(host) or "localhost",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": handler.request_version,
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": handler.command,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, "iso-8859-1"),
        "QUERY_STRING": query,
        "REMOTE_ADDR": handler.client_address[0],
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": handler.headers.get("Content-Length", ""),
    }
    for name in set(handler.headers.keys()):
        key = "HTTP_" + name.upper().replace("-", "_")
        if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            environ[key] = ",".join(handler.headers.get_all(name) or [])
    return environ


def request_handler(app: WSGIApplication) -> Callable[[BaseHTTPRequestHandler], None]:
    """Return the daemon's ``Routes.ui``: answer a request of its server with ``app``."""
    return lambda handler: handle_wsgi(handler, app)


def handle_wsgi(handler: BaseHTTPRequestHandler, app: WSGIApplication) -> None:
    """Answer the handler's request with ``app``; the connection is closed afterwards."""
    runner = _Handler(
        cast(IO[bytes], handler.rfile),
        cast(IO[bytes], handler.wfile),
        _LogStream(),
        wsgi_environ(handler),
        multithread=True,
        multiprocess=False,
    )
    # A viewer that went away (a closed tab ends its event stream) is no error.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        runner.run(app)
    handler.close_connection = True


class _LogStream:
    """``wsgi.errors``: what an application writes there goes to the log."""

    def write(self, text: str) -> int:
        if text.strip():
            log.warning("web: %s", text.rstrip())
        return len(text)

    def flush(self) -> None:
        return None

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)


RefreshFn = Callable[[SnapshotStore], None]


def dry_run_refresh(ctx: Any, *, envs: Iterable[str] = ()) -> RefreshFn:
    """Return a refresh that publishes a dry-run reconcile of every environment instance.

    The same call ``reconciler status`` makes (``engine.reconcile(..., dry_run=True)``),
    with diffs, so the pending-diff page shows what the next sync would change. Nothing is
    written to the cluster or to Git. A failing instance is published with its error.
    """
    from reconciler import engine

    only = list(envs) or None

    def refresh(store: SnapshotStore) -> None:
        if ctx.provenance.remote:
            try:
                ctx.provenance.fetch()
            except ReconcilerError as exc:
                log.warning("fetching provenance records failed: %s", exc)
        targets = engine.discover_targets(ctx.repo, only=only)
        store.expect(t.key for t in targets)
        for t in targets:
            try:
                store.publish(engine.reconcile(ctx, t.env, t.branch, dry_run=True, diff=True))
            except ReconcilerError as exc:
                store.publish_error(t.key, exc)

    return refresh


class Refresher:
    """Call a refresh now and then every ``interval`` seconds in a thread, until stopped."""

    def __init__(self, store: SnapshotStore, refresh: RefreshFn, interval: float) -> None:
        self.store = store
        self.refresh = refresh
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ui-refresh", daemon=True)
        self.refreshed = threading.Event()
        """Set after the first refresh finished (pages show data from then on)."""

    def start(self) -> None:
        """Start refreshing in the background."""
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh(self.store)
            except ReconcilerError as exc:
                log.error("refresh failed: %s", exc)
            except Exception:
                log.exception("refresh raised")
            self.refreshed.set()
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the refresh in progress (waiting up to ``timeout``)."""
        self._stop.set()
        self.store.close()
        if self._thread.is_alive():
            self._thread.join(timeout)


TOKEN_ENV_VAR = "RECONCILER_UI_TOKEN"


def load_token(path: str | None, env: dict[str, str] | None = None) -> str | None:
    """Return the UI's bearer token: the file's first line, else ``$RECONCILER_UI_TOKEN``.

    None (no token: the UI is open, as the probes are) when neither is set. Raises
    ReconcilerError naming the file if it cannot be read or is empty.
    """
    import os

    if path:
        try:
            with open(path, encoding="utf-8") as f:
                token = f.readline().strip()
        except OSError as exc:
            raise ReconcilerError(f"--ui-token-file {path}: {exc.strerror or exc}") from exc
        if not token:
            raise ReconcilerError(f"--ui-token-file {path}: the file is empty")
        return token
    value = (env if env is not None else dict(os.environ)).get(TOKEN_ENV_VAR, "").strip()
    return value or None
