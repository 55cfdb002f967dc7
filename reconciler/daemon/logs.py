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

An exception is a field, never a raw traceback: ``"error": {"type": "RuntimeError",
"message": "...", "stack": [{"file", "line", "function"}, ...], "cause": {...}}`` (the
innermost frame last). With the JSON format, exceptions nobody caught (in any thread) are
logged the same way instead of printed. Messages, field values and error messages have
credential-looking values redacted (:mod:`reconciler.structs.secrets`) in both formats.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal, TextIO

from reconciler.structs import secrets as credentials

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
            fields[key] = credentials.redact(value) if isinstance(value, str) else value
    ordered = {k: fields.pop(k) for k in _CONTEXT_FIELDS if k in fields}
    ordered.update(sorted(fields.items()))
    return ordered


def _timestamp(record: logging.LogRecord) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{whole}.{int(record.msecs):03d}Z"


MAX_STACK_FRAMES = 30
MAX_CAUSES = 5


def error_fields(exc: BaseException, depth: int = 0) -> dict[str, Any]:
    """Return an exception as JSON fields: type, message, stack frames, cause (chained)."""
    frames = traceback.extract_tb(exc.__traceback__)[-MAX_STACK_FRAMES:]
    out: dict[str, Any] = {
        "type": type(exc).__qualname__,
        "message": credentials.redact(str(exc)),
        "stack": [{"file": f.filename, "line": f.lineno, "function": f.name} for f in frames],
    }
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and depth < MAX_CAUSES:
        out["cause"] = error_fields(cause, depth + 1)
    return out


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line; unserializable values become strings."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": credentials.redact(record.getMessage()),
        }
        out.update(record_fields(record))
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = error_fields(record.exc_info[1])
        if record.stack_info:
            out["stack_info"] = record.stack_info.splitlines()
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Format a record as ``ts LEVEL logger: msg key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        message = credentials.redact(record.getMessage())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {message}"
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
    if fmt == "json":
        _log_uncaught_exceptions()
    return handler


def _log_uncaught_exceptions() -> None:
    """Log exceptions nobody caught (main thread and others) as records, not raw text."""
    crash = logging.getLogger("reconciler.uncaught")

    def main_hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        crash.critical("uncaught exception", exc_info=(kind, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        name = args.thread.name if args.thread is not None else ""
        crash.error(
            "uncaught exception in a thread",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            extra={"thread_name": name},
        )

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
