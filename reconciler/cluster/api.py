"""One HTTP call to the API server through the official client, with bounded retries.

Called by :mod:`reconciler.cluster.discovery_cache` and the apply stage's resource manager; it is
the only place that talks HTTP. Uses ``kubernetes.client.ApiClient`` for the connection
pool, TLS and credentials, and sends raw JSON (server-side apply bodies, lists, deletes).

Retries: 429, 500, 502, 503, 504, timeouts and dropped connections are retried with
exponential backoff and jitter (tenacity), at most :attr:`RetryPolicy.attempts` tries; the
number of retries is returned so callers can show it ("retried 2 times"). A refused
connection is not retried here (nothing listens at the address: kubectl says so at once;
urllib3 has already reconnected twice, see :func:`transport_retries`), and it names the
kubeconfig and context the client came from (:func:`set_origin`). Other errors raise
:class:`ApiError` at once, carrying the HTTP status, the Status ``reason`` and the
server's message.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
import urllib.parse
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import tenacity
import urllib3
from kubernetes import client as k8s_client

from reconciler.structs.errors import ClusterError

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DRY_RUN = ("dryRun", "All")
"""The query parameter of a server-side dry run: the server answers, nothing is stored."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry: ``attempts`` tries in all, waits growing from ``initial`` seconds
    (doubling, random jitter) up to ``maximum``; ``timeout`` bounds each request."""

    attempts: int = 4
    initial: float = 0.2
    maximum: float = 3.0
    timeout: float = 30.0


DEFAULT_RETRY = RetryPolicy()

_ORIGINS: weakref.WeakKeyDictionary[k8s_client.ApiClient, str] = weakref.WeakKeyDictionary()


def set_origin(client: k8s_client.ApiClient, origin: str) -> None:
    """Record where ``client``'s settings came from (``kubeconfig FILE, context NAME``).

    Called by :func:`reconciler.cluster.clients.load_client`; an unreachable server's error
    names it, as the place to look. Clients built otherwise (tests, the sandbox) have none.
    """
    _ORIGINS[client] = origin


def origin_of(client: k8s_client.ApiClient) -> str:
    """Return what :func:`set_origin` recorded for ``client``, or ``""``."""
    return _ORIGINS.get(client, "")


def transport_retries() -> urllib3.util.Retry:
    """Return the urllib3 retry setting for clients: reconnect, but never retry a status.

    urllib3's default would silently retry 429/503 answers that carry ``Retry-After``
    (and re-send after read errors); statuses and timeouts are retried by :func:`call`
    instead, bounded and visible. Set it as ``Configuration.retries`` before the
    ``ApiClient`` is built.
    """
    return urllib3.util.Retry(
        total=2, connect=2, read=0, redirect=0, status=0, other=0, respect_retry_after_header=False
    )


class ApiError(ClusterError):
    """An API call failed: ``status`` (0 if the server was unreachable), ``reason``
    (the Status reason, e.g. ``Conflict``, ``Invalid``, ``NotFound``), the server's message,
    and the Status ``details`` (for conflicts: which managers own which fields)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        details: dict[str, Any] | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.details = details or {}
        self.retries = retries


class _Retryable(Exception):
    """Internal: a failed attempt that may be tried again."""

    def __init__(self, error: ApiError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class Response:
    """A successful call: HTTP status, the parsed JSON body (None if empty), retries made."""

    status: int
    data: Any
    retries: int = 0


@dataclass
class RequestStats:
    """Counts of calls made through one resource manager: by verb, plus retries.

    Thread-safe; used by the sync result, logs and the benchmark.
    """

    by_verb: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, verb: str, retries: int) -> None:
        """Count one call (and the retries it needed)."""
        with self._lock:
            self.by_verb[verb.upper()] += 1 + retries
            self.retries += retries

    @property
    def total(self) -> int:
        """Return every HTTP request made, retries included."""
        return sum(self.by_verb.values())

    @property
    def writes(self) -> int:
        """Return the requests that write (POST, PUT, PATCH, DELETE), dry runs included."""
        return sum(n for verb, n in self.by_verb.items() if verb in WRITE_VERBS)


def _error_from(status: int, reason: str, raw: bytes) -> ApiError:
    text = raw.decode("utf-8", "replace") if raw else ""
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("kind") == "Status":
        return ApiError(
            str(body.get("message") or reason or f"HTTP {status}"),
            status=status,
            reason=str(body.get("reason") or reason),
            details=body.get("details") if isinstance(body.get("details"), dict) else None,
        )
    message = text.strip()[:500] or reason or f"HTTP {status}"
    return ApiError(message, status=status, reason=reason)


LARGE_BODY = 256 * 1024
"""Bytes from which :func:`decode` pauses the cyclic garbage collector."""


def decode(raw: bytes, parse: Callable[[bytes], Any] | None = None) -> Any:
    """Return the JSON of a response body, the garbage collector paused for a large one.

    A list of thousands of objects is millions of new dicts, lists and strings: the
    collector would run its generations over and over while they are made (for a list of
    3,000 Jobs, half the decoding time), and it can free none of them (JSON has no
    cycles). It is switched back on afterwards, unless it was already off (another thread
    decoding, or the program's own choice). Parsed by ``parse`` (default :func:`loads`).
    """
    parse = parse or loads
    if len(raw) < LARGE_BODY or not gc.isenabled():
        return parse(raw)
    gc.disable()
    try:
        return parse(raw)
    finally:
        if _frozen_blocks:
            gc.freeze()
        gc.enable()


def loads(raw: bytes) -> Any:
    """Parse JSON from the API server: orjson, or the standard library where orjson refuses.

    orjson takes 10-25% less time than :func:`json.loads` for a page of thousands of
    objects. It reads the same values as :func:`json.loads` for what an
    API server sends (its integers fit 64 bits: the server's own decoding makes anything
    larger a float, as orjson does); what it refuses and the standard library reads
    (``NaN``, a lone surrogate in a string) goes to the standard library, which raises
    ``json.JSONDecodeError`` (a ValueError) for what is not JSON at all.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


_frozen_blocks = 0
"""How many :func:`decoded_bodies_frozen` blocks are open (any thread)."""
_frozen_lock = threading.Lock()


@contextlib.contextmanager
def decoded_bodies_frozen() -> Iterator[None]:
    """Within the block, :func:`decode` freezes what the process holds after a large body.

    For a reconcile's full pass (the daemon's, each pass; a one-shot command runs without
    the collector at all: :func:`reconciler.cli.contexts.one_shot`): after decoding a
    large body, ``gc.freeze()`` moves every object the process holds (the decoded items
    among them) out of the cyclic
    collector's reach, so later collections do not traverse them again. A no-op of 10,000
    pipelines holds about 70,000 listed objects, millions of dicts and strings with no
    cycle among them: each full collection that follows (allocation triggers them, more
    often the more there is) walked them all, and a daemon's heap (its prepared commits,
    records, listed objects) is walked with them. Frozen objects are still freed by
    reference counting; only cycles among them wait for the end of the block, where
    everything frozen is given back to the collector (``gc.unfreeze()``) once no block is
    open any more: blocks nest and may overlap across threads (the collector is the
    process's), and the last one to end gives it back. A long-running process must not
    stay in a block: its cycles would wait for the end.
    """
    global _frozen_blocks
    with _frozen_lock:
        _frozen_blocks += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_blocks -= 1
            if not _frozen_blocks:
                gc.unfreeze()


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def send(
    client: k8s_client.ApiClient,
    method: str,
    path: str,
    query: Sequence[tuple[str, Any]],
    headers: dict[str, str],
    body: Any,
    timeout: float,
) -> Any:
    """Send one request over the client's connection pool and return urllib3's response.

    Only what every supported ``kubernetes`` client has is used (its ``Configuration``
    for host and credentials, its REST client's pool for TLS and proxies), never the
    generated request builders, whose signatures changed in client 37 (``param_serialize``).
    """
    cfg = client.configuration
    url = cfg.host.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(list(query))
    all_headers = {**client.default_headers, **headers}
    for auth in cfg.auth_settings().values():
        if auth.get("in") == "header" and auth.get("value"):
            all_headers[str(auth["key"])] = str(auth["value"])
    data = json.dumps(body).encode() if body is not None else None
    return client.rest_client.pool_manager.request(
        method,
        url,
        body=data,
        headers=all_headers,
        preload_content=False,
        timeout=urllib3.Timeout(total=timeout),
    )


def _reason_of(exc: BaseException) -> str:
    """Return the root cause of a connection error in words (no urllib3 object dumps)."""
    seen: BaseException = exc
    reason = getattr(exc, "reason", None)
    while isinstance(reason, BaseException):
        seen = reason
        reason = getattr(reason, "reason", None)
    text = str(seen)
    lowered = text.lower()
    for needle, words in (
        ("connection refused", "connection refused"),
        ("name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("temporary failure in name resolution", "unknown host name"),
        ("timed out", "timed out"),
        ("no route to host", "no route to host"),
        ("network is unreachable", "network unreachable"),
        ("certificate verify failed", "certificate verify failed"),
        ("connection reset", "connection reset"),
    ):
        if needle in lowered:
            return words
    if isinstance(seen, urllib3.exceptions.ProtocolError):
        return "the connection was dropped"
    return type(seen).__name__


def _refused(exc: BaseException) -> bool:
    """Return True if ``exc`` (a urllib3 error, wrapped or not) is a refused connection."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return True
        for nxt in (getattr(cur, "reason", None), cur.__cause__, cur.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return _reason_of(exc) == "connection refused"


def _unreachable(client: k8s_client.ApiClient, exc: BaseException) -> ApiError:
    """Return the one-line error for a server that cannot be reached, naming where to look."""
    host = str(client.configuration.host).rstrip("/")
    origin = origin_of(client)
    where = f"; {origin}" if origin else ""
    return ApiError(
        f"cannot reach the API server {host} ({_reason_of(exc)}{where}): is the cluster up, "
        "and does the kubeconfig context (--context, KUBECONFIG) point at it? "
        "`kubectl cluster-info` tries the same",
        reason="Unreachable",
    )


def _once(
    client: k8s_client.ApiClient,
    method: str,
    path: str,
    query: Sequence[tuple[str, Any]],
    body: Any,
    content_type: str | None,
    timeout: float,
    decoder: Callable[[bytes], Any],
) -> Response:
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type or "application/json"
    host = client.configuration.host
    try:
        resp = send(client, method, path, query, headers, body, timeout)
        try:
            raw = resp.read()
        finally:
            resp.release_conn()
    except urllib3.exceptions.SSLError as exc:
        raise ApiError(
            f"TLS handshake with {host} failed: check the kubeconfig's certificate-authority "
            f"and the server's certificate ({_reason_of(exc)})",
            reason="TLSError",
        ) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if _refused(exc):  # nothing listens there: waiting would only delay the same answer
            raise _unreachable(client, exc) from exc
        raise _Retryable(_unreachable(client, exc)) from exc
    status = int(resp.status)
    if 200 <= status < 300:
        data = decode(raw, decoder) if raw else None
        return Response(status=status, data=data)
    error = _error_from(status, str(resp.reason or ""), raw or b"")
    if status in RETRYABLE_STATUS:
        raise _Retryable(error, _retry_after(resp.headers))
    raise error


def call(
    client: k8s_client.ApiClient,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, Any]] = (),
    body: Any = None,
    content_type: str | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    stats: RequestStats | None = None,
    decoder: Callable[[bytes], Any] | None = None,
) -> Response:
    """Perform one API call and return its parsed JSON body.

    Retries 429/5xx/timeouts/dropped connections per ``policy`` (honouring ``Retry-After``
    up to ``policy.maximum``), never a refused connection; raises ApiError (with ``retries`` set) when the call fails
    for good. ``body`` is sent as JSON, whatever ``content_type`` says (JSON is YAML, so
    ``application/apply-patch+yaml`` bodies are JSON too). ``decoder`` parses a successful
    answer's body instead of :func:`loads` (a list whose items the caller reads only part
    of), within :func:`decode`; an error's body is always read whole.
    """
    decoder = decoder or loads
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial, max=policy.maximum)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, policy.maximum)
        return float(backoff(state))

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception_type(_Retryable),
        reraise=True,
    )
    attempts = 0
    try:
        for attempt in retrying:
            with attempt:
                attempts += 1
                resp = _once(
                    client, method, path, query, body, content_type, policy.timeout, decoder
                )
    except _Retryable as exc:
        if stats is not None:
            stats.record(method, attempts - 1)
        exc.error.retries = attempts - 1
        if attempts > 1:
            exc.error.args = (f"{exc.error} (retried {attempts - 1} times)",)
        raise exc.error from None
    except ApiError as exc:
        if stats is not None:
            stats.record(method, attempts - 1)
        exc.retries = attempts - 1
        raise
    if stats is not None:
        stats.record(method, attempts - 1)
    resp.retries = attempts - 1
    return resp
