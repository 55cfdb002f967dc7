"""A minimal HTTP client for asserting exact API responses (codes, Status bodies, headers).

``call(base, ...)`` talks to the sandbox (plain HTTP, no credentials) or, once a base URL
is registered with :func:`register` (the cluster suite registers its kube-apiserver),
over TLS with that server's CA and a bearer token: the same scenario code runs against
both servers. While a :class:`Transcript` is recording (see :func:`recording`), every
exchange is appended to it, for the differential fidelity tests.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    """Status code, decoded JSON body (or text), and headers."""

    code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Exchange:
    """One request and its response, as a transcript keeps it."""

    method: str
    path: str
    request: Any
    response: Response


@dataclass
class Transcript:
    """The exchanges of one scenario run, in order."""

    exchanges: list[Exchange] = field(default_factory=list)


_CREDENTIALS: dict[str, tuple[str, ssl.SSLContext]] = {}
_RECORDING: list[Transcript] = []


def register(base: str, token: str, context: ssl.SSLContext) -> None:
    """Send requests for ``base`` with this bearer token over TLS with this context."""
    _CREDENTIALS[base] = (token, context)


def unregister(base: str) -> None:
    """Forget a registered server."""
    _CREDENTIALS.pop(base, None)


@contextlib.contextmanager
def recording() -> Iterator[Transcript]:
    """Record every :func:`call` made inside the block into a new :class:`Transcript`."""
    transcript = Transcript()
    _RECORDING.append(transcript)
    try:
        yield transcript
    finally:
        _RECORDING.remove(transcript)


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
    accept: str = "application/json",
    raw: bytes | None = None,
    token: str | None = None,
) -> Response:
    """Send one request to ``base + path``; never raises for HTTP error codes.

    ``token`` overrides the registered server's token (to act as another identity).
    """
    data = raw
    if data is None and body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    req.add_header("Accept", accept)
    req.add_header("User-Agent", "sandbox-tests/1.0")
    context = None
    creds = _CREDENTIALS.get(base)
    if creds is not None:
        req.add_header("Authorization", f"Bearer {token or creds[0]}")
        context = creds[1]
    try:
        with urllib.request.urlopen(req, timeout=20, context=context) as resp:
            code, payload, headers = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        code, payload, headers = err.code, err.read(), err.headers
    text = payload.decode()
    try:
        decoded: Any = json.loads(text)
    except ValueError:
        decoded = text
    out = Response(code, decoded, dict(headers.items()), headers.get_all("Warning") or [])
    for transcript in _RECORDING:
        transcript.exchanges.append(Exchange(method, path, body, out))
    return out
