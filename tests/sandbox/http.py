"""A minimal HTTP client for asserting exact API responses (codes, Status bodies, headers)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    """Status code, decoded JSON body (or text), and headers."""

    code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
    accept: str = "application/json",
    raw: bytes | None = None,
) -> Response:
    """Send one request to ``base + path``; never raises for HTTP error codes."""
    data = raw
    if data is None and body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    req.add_header("Accept", accept)
    req.add_header("User-Agent", "sandbox-tests/1.0")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            code, payload, headers = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        code, payload, headers = err.code, err.read(), err.headers
    text = payload.decode()
    try:
        decoded: Any = json.loads(text)
    except ValueError:
        decoded = text
    return Response(code, decoded, dict(headers.items()), headers.get_all("Warning") or [])
