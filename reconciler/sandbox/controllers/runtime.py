"""What every simulated controller shares: the port, the step delay and per-object clocks.

A step's clock starts the first time a controller sees the object (or, for a
Deployment or InferenceService, a new generation of it); the step is due once its delay
has passed. Clocks live in this process: a restarted simulator starts them again, as a
restarted controller would re-observe its objects.

Callers: the per-kind modules and :class:`~reconciler.sandbox.controllers.Controllers`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from typing import Any

from reconciler.sandbox.controllers.ports import Port

Obj = dict[str, Any]
DELAY = "sandbox.reconciler.ml/delay"


def clone(obj: Obj) -> Obj:
    """Return a deep copy of a JSON object."""
    out: Obj = json.loads(json.dumps(obj))
    return out


class Runtime:
    """The port, the default step delay and the clocks of the objects in flight."""

    def __init__(self, port: Port, step_delay: float) -> None:
        self.port = port
        self.step_delay = step_delay
        self._started: dict[str, float] = {}
        self.without_pod: set[str] = set()  # uids of owners whose pod the server refused

    def elapsed(self, obj: Obj, key: str = "") -> float:
        """Seconds since this object (or ``key``: uid/generation) was first seen."""
        k = key or (obj.get("metadata") or {}).get("uid", "")
        start = self._started.setdefault(k, time.monotonic())
        return time.monotonic() - start

    def restart(self, key: str) -> None:
        """Start ``key``'s clock again (a Deployment's new generation)."""
        self._started[key] = time.monotonic()

    def delay(self, obj: Obj) -> float:
        """The object's ``sandbox.reconciler.ml/delay`` annotation, else the step delay."""
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        if DELAY in ann:
            with contextlib.suppress(ValueError):
                return float(ann[DELAY])
        return self.step_delay

    def forget_except(self, uids: Iterable[str]) -> None:
        """Drop the clocks of objects that are gone (keys start with their uid)."""
        live = set(uids)
        self.without_pod &= live
        for key in [k for k in self._started if k.split("/", 1)[0] not in live]:
            del self._started[key]
