"""The JSON bytes of the sandbox's responses (objects, lists, watch events, Status).

orjson where it can encode the value, the standard library where it cannot (integers
beyond 64 bits, keys that are not strings): lists of tens of thousands of objects are
encoded after every burst of writes, and the standard library's encoder took most of the
request threads' time at 10,000 pipelines. Both give compact UTF-8 JSON; numbers may
differ in form, not in value (orjson writes ``1e-7`` where the standard library writes
``1e-07``, as Go's encoding/json does), which a JSON client cannot tell apart. A float
that is not a number (``NaN``, never valid JSON) is written as ``null`` by orjson.

Callers: :mod:`.server` (bodies, watch events) and :mod:`.listing` (list items).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_bytes(value: Any) -> bytes:
    """Return ``value`` as compact JSON, UTF-8 (not ASCII-escaped)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
