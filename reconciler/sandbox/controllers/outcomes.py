"""Programmed outcomes: how a test or the demo decides how a simulated step ends.

1. Annotations on the Job, PyTorchJob or InferenceService:
   ``sandbox.reconciler.ml/outcome: Failed|Succeeded``,
   ``sandbox.reconciler.ml/termination-message: '<text>'`` and optionally
   ``sandbox.reconciler.ml/delay: '<seconds>'``.
2. The ConfigMap ``kube-system/sandbox-outcomes``: each value is JSON ``{"match":
   "<fnmatch pattern>", "outcome": "Succeeded"|"Failed", "message": "<text>", "delay":
   <seconds, optional>}``, ``match`` tried against ``<namespace>/<name>`` (ConfigMap keys
   cannot hold ``*`` or ``/``, so the key is only a rule name such as
   ``10-resnet-eval``; without ``match`` the key itself is the pattern); the first
   matching rule in key order wins. Read when the step finishes, so it can be written
   before or after the object.
3. Otherwise: Succeeded with an empty message, after the step delay.

Callers: the per-kind modules.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.controllers.ports import Port
from reconciler.sandbox.controllers.resources import CONFIGMAPS
from reconciler.sandbox.controllers.runtime import DELAY

log = logging.getLogger(__name__)
Obj = dict[str, Any]

OUTCOME = "sandbox.reconciler.ml/outcome"
MESSAGE = "sandbox.reconciler.ml/termination-message"
OUTCOMES_CONFIGMAP = ("kube-system", "sandbox-outcomes")


@dataclass
class Outcome:
    """How a step ends: Succeeded or Failed, its termination message, after how long."""

    outcome: str = "Succeeded"
    message: str = ""
    delay: float | None = None

    @property
    def failed(self) -> bool:
        """True for a Failed outcome."""
        return self.outcome == "Failed"


def _outcome(value: Any) -> str:
    return "Failed" if str(value or "").lower() == "failed" else "Succeeded"


def _delay(value: Any) -> float | None:
    with contextlib.suppress(TypeError, ValueError):
        return float(value)
    return None


def outcome_for(port: Port, obj: Obj) -> Outcome:
    """Return the programmed outcome of an object (see the module docstring)."""
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations") or {}
    if OUTCOME in ann or MESSAGE in ann:
        return Outcome(
            _outcome(ann.get(OUTCOME)),
            str(ann.get(MESSAGE, "")),
            _delay(ann[DELAY]) if DELAY in ann else None,
        )
    rule = _matching_rule(port, f"{meta.get('namespace', '')}/{meta.get('name', '')}")
    if rule is not None:
        return Outcome(
            _outcome(rule.get("outcome")),
            str(rule.get("message", "")),
            _delay(rule.get("delay")) if rule.get("delay") is not None else None,
        )
    return Outcome(delay=_delay(ann[DELAY]) if DELAY in ann else None)


def _matching_rule(port: Port, target: str) -> Obj | None:
    cm = port.get(CONFIGMAPS, *OUTCOMES_CONFIGMAP)
    data = (cm or {}).get("data") or {}
    for key in sorted(data):
        try:
            spec = json.loads(data[key])
        except ValueError:
            log.warning("sandbox-outcomes: rule %r is not JSON", key)
            continue
        if isinstance(spec, dict) and fnmatch.fnmatchcase(target, str(spec.get("match") or key)):
            return spec
    return None
