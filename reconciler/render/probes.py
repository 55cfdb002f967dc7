"""Readiness and liveness probes of a serving container (``serve.probes``).

Called by :mod:`reconciler.render.serving` (Deployment) and :mod:`reconciler.render.kserve`
(InferenceService). Both probes are HTTP GETs on the serving port unless ``serve.probes``
names another. A rollout waits for readiness, so a new model's pods take traffic only once
they answer; liveness restarts a server that hangs, after a delay long enough to load a
model. Every field ``serve.probes`` leaves out takes the default below; the default paths
come from the caller (the serving runtime's health endpoints).
"""

from __future__ import annotations

from typing import Any

from reconciler.specs.models import Probe, Serve

READINESS_DEFAULTS = {
    "initialDelaySeconds": 5,
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 3,
}
LIVENESS_DEFAULTS = {
    "initialDelaySeconds": 30,
    "periodSeconds": 20,
    "timeoutSeconds": 5,
    "failureThreshold": 3,
}


def http_probe(probe: Probe, *, path: str, port: int, defaults: dict[str, int]) -> dict[str, Any]:
    """Return one core/v1 Probe: ``probe``'s fields, or the defaults where it has none."""
    given = {
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }
    out: dict[str, Any] = {
        "httpGet": {"path": probe.path or path, "port": probe.port or port, "scheme": "HTTP"}
    }
    out.update({k: v if v is not None else defaults[k] for k, v in given.items()})
    return out


def container_probes(serve: Serve, *, ready_path: str, live_path: str) -> dict[str, Any]:
    """Return ``readinessProbe`` and ``livenessProbe`` of the serving container."""
    return {
        "readinessProbe": http_probe(
            serve.probes.readiness, path=ready_path, port=serve.port, defaults=READINESS_DEFAULTS
        ),
        "livenessProbe": http_probe(
            serve.probes.liveness, path=live_path, port=serve.port, defaults=LIVENESS_DEFAULTS
        ),
    }
