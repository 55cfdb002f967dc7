"""Step metrics and failure reasons, from what a step's container left behind.

A step reports metrics as a JSON object in its termination message (or, read by the
caller, in ``metrics.json`` under its artifacts). A message that is not JSON at all is
the step's own words (with ``terminationMessagePolicy: FallbackToLogsOnError``, the tail
of its log), never a parse error: :func:`failure_reason` keeps its tail with the
container's reason (``OOMKilled``, ``Error``, ``DeadlineExceeded``) and exit code. A
message that starts like JSON but is not an object of scalars is recorded as a parse
error, never a crash. The run's metrics are the union, by step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE = 4096  # kubelet caps termination messages at 4 KiB


@dataclass(frozen=True)
class StepMetrics:
    """The metrics one step reported, or the reason they could not be read."""

    values: dict[str, float | int | str | bool] = field(default_factory=dict)
    error: str = ""


def parse_termination_message(message: str | None) -> StepMetrics:
    """Parse a termination message into metrics; empty message: no metrics, no error."""
    if message is None or not message.strip():
        return StepMetrics()
    text = message.strip()[:MAX_MESSAGE]
    if not text.startswith(("{", "[")):
        return StepMetrics()  # words, not metrics: see failure_reason
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as e:
        return StepMetrics(error=f"termination message is not JSON: {e.msg} at char {e.pos}")
    if not isinstance(data, dict):
        return StepMetrics(
            error=f"termination message is JSON {type(data).__name__}, not an object"
        )
    values: dict[str, float | int | str | bool] = {}
    bad: list[str] = []
    for k, v in data.items():
        if isinstance(v, bool | int | str) or (isinstance(v, float) and math.isfinite(v)):
            values[str(k)] = v
        else:
            bad.append(str(k))
    err = f"ignored non-scalar metrics: {', '.join(sorted(bad))}" if bad else ""
    return StepMetrics(values=values, error=err)


METRICS_FILE = "metrics.json"
MAX_METRICS_FILE = 64 * 1024


def read_metrics_file(artifacts_uri: str | None) -> StepMetrics:
    """Read ``metrics.json`` under a step's artifact location, as the termination message.

    For images that never write ``/dev/termination-log``. Read with fsspec: local paths
    and ``file://`` always; object stores when their filesystem (``s3fs``, ``gcsfs``,
    ``adlfs``) is installed and credentials are in the reconciler's environment (without
    it, nothing is read). A file that is missing is no metrics; one that cannot be read
    is an error, never a crash.
    """
    if not artifacts_uri:
        return StepMetrics()
    import fsspec

    url = artifacts_uri.rstrip("/") + "/" + METRICS_FILE
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError):
        return StepMetrics()  # this reconciler cannot read that store: no metrics from it
    try:
        with fsspec.open(url, "rb") as f:
            data = f.read(MAX_METRICS_FILE + 1)
    except FileNotFoundError:
        return StepMetrics()
    except Exception as e:  # a filesystem not installed, no credentials, a network error
        return StepMetrics(error=f"cannot read {url}: {type(e).__name__}: {e}"[:300])
    if len(data) > MAX_METRICS_FILE:
        return StepMetrics(error=f"{url} is over {MAX_METRICS_FILE} bytes")
    parsed = parse_termination_message(data.decode("utf-8", errors="replace"))
    if not parsed.values and not parsed.error and data.strip():
        return StepMetrics(error=f"{url} is not a JSON object")
    return parsed


def union(by_step: Mapping[str, StepMetrics]) -> dict[str, float | int | str | bool]:
    """Return the flat union of every step's metrics; a later step (by name order) wins ties."""
    out: dict[str, float | int | str | bool] = {}
    for step in sorted(by_step):
        out.update(by_step[step].values)
    return out


REASON_TAIL = 300
"""Characters of a failed step's message kept in its reason (the end says the most)."""


def failure_reason(terminated: Mapping[str, Any], fallback: str = "failed") -> str:
    """Return why a step failed, from its container's ``state.terminated``.

    ``OOMKilled, exit code 137: <message tail>``; the container's reason and exit code
    when the message is empty or metrics; ``fallback`` (the object's own condition) when
    the container said nothing.
    """
    parts = [str(terminated.get("reason") or "")]
    code = terminated.get("exitCode")
    if isinstance(code, int) and code != 0:
        parts.append(f"exit code {code}")
    head = ", ".join(p for p in parts if p)
    message = str(terminated.get("message") or "").strip()
    if message.startswith("{"):
        message = ""  # metrics, not words
    if len(message) > REASON_TAIL:
        message = "..." + message[-REASON_TAIL:]
    message = " ".join(message.split())
    if head and message:
        return f"{head}: {message}"
    return head or message or fallback
