"""Logging of the daemon: JSON lines or text, with a trace id per reconcile.

:func:`setup_logging` is called once by the daemon's entry point. :func:`reconcile_context`
wraps each reconcile (called by :mod:`reconciler.daemon.loop`): every record logged inside
it, from any module, carries ``env`` and a fresh ``trace_id`` (held in context variables, so
parallel workers do not mix them up). Other fields come from ``extra=``: the engine logs
``log.info("applied", extra={"commit": sha, "run": run_id})`` using the standard library
only, and the formatter puts ``commit`` and ``run`` in the line.

A JSON line looks like::

    {"ts": "2024-05-01T10:00:00.123Z", "level": "info", "logger": "reconciler.engine",
     "msg": "applied", "env": "prod", "trace_id": "4bf92f3577b34da6", "commit": "0a1b2c3"}
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

LogFormat = Literal["json", "text"]

trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")
env_var: contextvars.ContextVar[str] = contextvars.ContextVar("env", default="")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
# Context fields first, in this order, in both formats.
_CONTEXT_FIELDS = ("env", "commit", "run", "trace_id")


def new_trace_id() -> str:
    """Return a fresh random trace id (16 hex digits)."""
    return secrets.token_hex(8)


@contextmanager
def reconcile_context(env: str, trace_id: str | None = None) -> Iterator[str]:
    """Tag every record logged inside with ``env`` and a trace id; yield the trace id."""
    trace = trace_id or new_trace_id()
    env_token = env_var.set(env)
    trace_token = trace_id_var.set(trace)
    try:
        yield trace
    finally:
        trace_id_var.reset(trace_token)
        env_var.reset(env_token)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the context and ``extra=`` fields of a record (not the standard attributes)."""
    fields: dict[str, Any] = {}
    env, trace = env_var.get(), trace_id_var.get()
    if env:
        fields["env"] = env
    if trace:
        fields["trace_id"] = trace
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value
    ordered = {k: fields.pop(k) for k in _CONTEXT_FIELDS if k in fields}
    ordered.update(sorted(fields.items()))
    return ordered


def _timestamp(record: logging.LogRecord) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{whole}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line; unserializable values become strings."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(record_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Format a record as ``ts LEVEL logger: msg key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line = f"{line} {fields}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def setup_logging(
    fmt: LogFormat = "text", *, level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) in ``fmt``; return the handler.

    Replaces handlers installed by an earlier call, so calling it twice does not double
    every line. Raises ValueError for an unknown format.
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"unknown log format {fmt!r} (expected json or text)")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name("reconciler")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "reconciler"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The official client logs every request at DEBUG; keep it quiet unless asked.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return handler
