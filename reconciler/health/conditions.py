"""Generic health from ``status.conditions`` (kstatus conventions), for kinds without a module.

Called by the dispatch in :mod:`reconciler.health` for every kind that has no health module
of its own, and by the per-kind modules for condition lookups. Objects without a status
(ConfigMap, Service, Namespace, ResourceQuota, ...) are Healthy: they are done once stored.
"""

from __future__ import annotations

from typing import Any

from reconciler.health.states import Health, HealthStatus
from reconciler.structs.manifests import Manifest


def conditions_of(obj: Manifest) -> list[dict[str, Any]]:
    """Return ``status.conditions`` as a list of dicts ([] if absent or malformed)."""
    status = obj.get("status") or {}
    conds = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conds, list):
        return []
    return [c for c in conds if isinstance(c, dict)]


def condition(obj: Manifest, type_: str) -> dict[str, Any] | None:
    """Return the condition of type ``type_``, or None if the object has none."""
    for c in conditions_of(obj):
        if c.get("type") == type_:
            return c
    return None


def is_true(obj: Manifest, type_: str) -> bool:
    """Return True if the condition ``type_`` exists with status "True"."""
    c = condition(obj, type_)
    return c is not None and str(c.get("status")) == "True"


def describe(c: dict[str, Any]) -> str:
    """Return ``reason: message`` of a condition (either part may be missing)."""
    parts = [str(c[k]) for k in ("reason", "message") if c.get(k)]
    return ": ".join(parts)


def generation_observed(obj: Manifest) -> bool:
    """Return False if the controller has not yet seen the latest spec (observedGeneration).

    Objects whose status carries no ``observedGeneration`` count as observed.
    """
    status = obj.get("status") or {}
    observed = status.get("observedGeneration") if isinstance(status, dict) else None
    generation = (obj.get("metadata") or {}).get("generation")
    if observed is None or generation is None:
        return True
    return int(observed) >= int(generation)


def health(obj: Manifest) -> HealthStatus:
    """Return the health of any object from its conditions.

    Stalled=True is Degraded; Reconciling=True or an unobserved generation is Progressing;
    the first of Ready, Available or Active (Kueue queues) decides: True is Healthy, False
    Degraded, Unknown Progressing; an object without any of them is Healthy.
    """
    if not generation_observed(obj):
        return HealthStatus(Health.PROGRESSING, "waiting for the controller to observe the spec")
    stalled = condition(obj, "Stalled")
    if stalled is not None and str(stalled.get("status")) == "True":
        return HealthStatus(Health.DEGRADED, describe(stalled))
    reconciling = condition(obj, "Reconciling")
    if reconciling is not None and str(reconciling.get("status")) == "True":
        return HealthStatus(Health.PROGRESSING, describe(reconciling))
    for type_ in ("Ready", "Available", "Active"):
        c = condition(obj, type_)
        if c is None:
            continue
        status = str(c.get("status"))
        if status == "True":
            return HealthStatus(Health.HEALTHY, describe(c))
        if status == "False":
            return HealthStatus(Health.DEGRADED, describe(c) or f"{type_} is False")
        return HealthStatus(Health.PROGRESSING, describe(c) or f"{type_} is Unknown")
    return HealthStatus(Health.HEALTHY)
