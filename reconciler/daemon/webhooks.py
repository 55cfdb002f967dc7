"""The signed Git webhook, ``POST /hooks/git``: checks as pure functions, then the handler.

Called by :mod:`reconciler.daemon.httpserver`. A verified request only *triggers* a fetch
(the daemon fetches and reconciles on its own thread); the body is never trusted for
anything else, so a forged or replayed hook costs at most one fetch.

Accepted signatures:

- GitHub (and Gitea, Forgejo, Bitbucket Server): ``X-Hub-Signature-256: sha256=<hex>``, the
  HMAC-SHA256 of the raw body keyed by the shared secret;
- GitLab: ``X-Gitlab-Token: <secret>``, the shared secret itself.

Both are compared in constant time. No secret configured, a missing or wrong signature:
401 (nothing happens). A body over the limit (1 MiB by default): 413, decided from
``Content-Length`` before reading anything, and while reading a chunked body.

Replays are refused with 409: a verified delivery whose id (``X-GitHub-Delivery``,
``X-Gitea-Delivery``, ``X-Gitlab-Event-UUID``, ``Idempotency-Key``) or whose exact signed
body was seen among the recent deliveries (:class:`DeliveryLog`, the last 10,000 within 24
hours) triggers nothing. The body counts too because GitHub signs the body only: a captured
request replayed with a new delivery id is still the same body.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
SECRET_ENV_VAR = "RECONCILER_WEBHOOK_SECRET"
"""The environment variable the webhook secret is read from when no file is given."""

GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"
GITLAB_TOKEN_HEADER = "X-Gitlab-Token"
DELIVERY_HEADERS = (
    "X-GitHub-Delivery",
    "X-Gitea-Delivery",
    "X-Gogs-Delivery",
    "X-Gitlab-Event-UUID",
    "Idempotency-Key",
)


class DeliveryLog:
    """The ids and body digests of recent deliveries, to refuse replays (thread-safe).

    Keeps at most ``size`` keys for at most ``ttl`` seconds each; the oldest go first.
    """

    def __init__(self, size: int = 10_000, ttl: float = 24 * 3600.0) -> None:
        self.size, self.ttl = size, ttl
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, keys: list[str]) -> bool:
        """Record ``keys``; return False (and record nothing) if any was seen recently."""
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self.ttl:
                self._seen.popitem(last=False)
            if any(k in self._seen for k in keys):
                return False
            for k in keys:
                self._seen[k] = now
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True


def delivery_keys(headers: Mapping[str, str], body: bytes) -> list[str]:
    """Return the replay keys of a delivery: its id (if sent) and its body's digest."""
    keys = [f"{name}:{headers[name]}" for name in DELIVERY_HEADERS if headers.get(name)]
    return [*keys, "sha256:" + hashlib.sha256(body).hexdigest()]


class BodyStream(Protocol):
    """The request body as the HTTP server gives it (``rfile``)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class BodyError(Exception):
    """The request body cannot be accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class HookResponse:
    """What the handler answers: a status and a small JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    body_read: bool = True
    """False if the request body was left unread (the connection must then be closed)."""


def load_secret(path: str | Path | None = None, env_var: str = SECRET_ENV_VAR) -> bytes | None:
    """Return the webhook secret from ``path`` if given, else from the environment variable.

    A trailing newline (``echo secret > file``) is dropped. Returns None when neither is
    set or the value is empty (the webhook then refuses every request). Raises OSError if
    ``path`` is given but unreadable.
    """
    raw = Path(path).read_bytes() if path else os.environ.get(env_var, "").encode()
    secret = raw.rstrip(b"\r\n")
    return secret or None


def github_signature(secret: bytes, body: bytes) -> str:
    """Return the ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Return True if ``header`` is the HMAC-SHA256 of ``body`` under ``secret``.

    A missing header, another algorithm (``sha1=``) or malformed hex is False.
    """
    if not header or not header.startswith("sha256="):
        return False
    expected = github_signature(secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def verify_gitlab_token(secret: bytes, header: str | None) -> bool:
    """Return True if the ``X-Gitlab-Token`` header equals ``secret`` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(secret, header.encode())


def read_body(headers: Mapping[str, str], rfile: BodyStream, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read a request body of at most ``limit`` bytes.

    Uses ``Content-Length`` (refused before reading if over the limit) or chunked
    transfer encoding (refused as soon as the chunks read pass the limit). Raises
    :class:`BodyError` with 413 (too large), 411 (no length) or 400 (malformed).
    """
    encoding = (headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in encoding:
        return _read_chunked(rfile, limit)
    length_text = headers.get("Content-Length")
    if length_text is None:
        raise BodyError(411, "Content-Length required")
    try:
        length = int(length_text)
    except ValueError:
        raise BodyError(400, "malformed Content-Length") from None
    if length < 0:
        raise BodyError(400, "malformed Content-Length")
    if length > limit:
        raise BodyError(413, f"body of {length} bytes is over the limit of {limit}")
    body = rfile.read(length)
    if len(body) != length:
        raise BodyError(400, "body shorter than Content-Length")
    return body


def _read_chunked(rfile: BodyStream, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyError(400, "malformed chunk size") from None
        if size == 0:
            while rfile.readline(1024).strip():  # trailers, then the blank line
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise BodyError(413, f"chunked body is over the limit of {limit} bytes")
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.readline(1024).strip():
            raise BodyError(400, "truncated chunk")
        parts.append(chunk)


def handle_git_hook(
    headers: Mapping[str, str],
    rfile: BodyStream,
    *,
    secret: bytes | None,
    on_push: Callable[[], None],
    limit: int = MAX_BODY_BYTES,
    deliveries: DeliveryLog | None = None,
) -> HookResponse:
    """Authenticate one webhook request and, if it is genuine and new, call ``on_push``.

    A GitHub ``ping`` event is answered 200 without a fetch. Nothing is called unless the
    signature verifies; a replay (see :class:`DeliveryLog`) is 409. The body is left unread
    when the answer is already known from the headers (no secret, no signature header,
    too large).
    """
    if secret is None:
        return HookResponse(401, {"error": "webhook disabled: no secret configured"}, False)
    github = headers.get(GITHUB_SIGNATURE_HEADER)
    gitlab = headers.get(GITLAB_TOKEN_HEADER)
    if github is None and gitlab is None:
        return HookResponse(
            401, {"error": f"missing {GITHUB_SIGNATURE_HEADER} or {GITLAB_TOKEN_HEADER}"}, False
        )
    try:
        body = read_body(headers, rfile, limit)
    except BodyError as exc:
        return HookResponse(exc.status, {"error": str(exc)}, False)
    if github is not None:
        ok = verify_github_signature(secret, body, github)
    else:
        ok = verify_gitlab_token(secret, gitlab)
    if not ok:
        log.warning("webhook refused: bad signature")
        return HookResponse(401, {"error": "bad signature"})
    if deliveries is not None and not deliveries.admit(delivery_keys(headers, body)):
        log.warning("webhook refused: replayed delivery")
        return HookResponse(409, {"error": "delivery already received (replay refused)"})
    event = headers.get("X-GitHub-Event") or headers.get("X-Gitlab-Event") or ""
    if event == "ping":
        return HookResponse(200, {"status": "pong"})
    log.info("webhook accepted: fetch scheduled", extra={"event": event or "unknown"})
    on_push()
    return HookResponse(202, {"status": "fetch scheduled"})
