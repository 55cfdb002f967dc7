"""Health states and the value every health check returns.

Called by every per-kind module of this package and by the engine (``status`` command, the
run engine, serving promotion). States are ordered from best to worst, as gitops-engine
orders them, so that the health of many objects folds into one with :func:`worst`::

    Healthy < Suspended < Progressing < Missing < Degraded < Unknown
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from reconciler.structs import runs


@functools.total_ordering
class Health(Enum):
    """The health of one object; members compare by how bad they are (Healthy is best)."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def rank(self) -> int:
        """Return the position in the order above (0 is Healthy)."""
        return _ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Health):
            return NotImplemented
        return self.rank < other.rank

    def is_worse(self, other: Health) -> bool:
        """Return True if ``self`` is a worse state than ``other``."""
        return self.rank > other.rank

    def __str__(self) -> str:
        return self.value


_ORDER = list(Health)


@dataclass(frozen=True)
class HealthStatus:
    """A health state and the reason for it (``""`` when there is nothing to say)."""

    status: Health
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}" if self.reason else str(self.status)

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form used by ``status --format json``."""
        return {"status": self.status.value, "reason": self.reason}


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """Fold many statuses into the worst one; the first of equally bad ones wins.

    An empty iterable is Healthy: nothing is wrong with nothing.
    """
    out = HealthStatus(Health.HEALTHY)
    for s in statuses:
        if s.status.is_worse(out.status):
            out = s
    return out


StepPhase = runs.StepPhase
"""Where one run step (a Job or a PyTorchJob) is: the run engine's view of a step (one
enum, defined with the other run data in ``reconciler.structs.runs``)."""
