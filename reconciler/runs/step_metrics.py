"""Step metrics: a step reports a JSON object in its container's termination message.

Anything else (not JSON, not an object, non-numeric values) is recorded as a parse error,
never a crash. The run's metrics are the union, by step.
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


def union(by_step: Mapping[str, StepMetrics]) -> dict[str, float | int | str | bool]:
    """Return the flat union of every step's metrics; a later step (by name order) wins ties."""
    out: dict[str, float | int | str | bool] = {}
    for step in sorted(by_step):
        out.update(by_step[step].values)
    return out
