"""The promotion gate: a Succeeded run is served only if its metric passes ``promote``.

A run that fails the gate is still Succeeded, with ``promoted: false`` and the value.
Without ``promote`` every Succeeded run is promoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.specs.models import Promote


@dataclass(frozen=True)
class Decision:
    """Whether a run is promoted, and why."""

    promoted: bool
    reason: str
    metric: str = ""
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record's ``promotion`` section."""
        return {
            "promoted": self.promoted,
            "reason": self.reason,
            "metric": self.metric or None,
            "value": self.value,
            "threshold": self.threshold,
        }


def decide(promote: Promote | None, metrics: Mapping[str, Any], *, succeeded: bool) -> Decision:
    """Apply the gate to a run's flat metrics."""
    if not succeeded:
        return Decision(False, "run did not succeed")
    if promote is None:
        return Decision(True, "no promotion gate")
    raw = metrics.get(promote.metric)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return Decision(
            False,
            f"metric {promote.metric!r} not reported by any step",
            promote.metric,
            None,
            promote.min,
        )
    value = float(raw)
    if value >= promote.min:
        return Decision(
            True,
            f"{promote.metric} {value:g} >= {promote.min:g}",
            promote.metric,
            value,
            promote.min,
        )
    return Decision(
        False, f"{promote.metric} {value:g} < {promote.min:g}", promote.metric, value, promote.min
    )
