"""Health of an apps/v1 Deployment (serving with ``runtime: deployment``).

Called through the dispatch in :mod:`reconciler.health`; the rules are kubectl's
``rollout status`` (as gitops-engine uses them): a rollout is done when the controller has
observed the latest generation and every replica is updated and available.
"""

from __future__ import annotations

from reconciler.health import conditions
from reconciler.health.states import Health, HealthStatus
from reconciler.structs.manifests import Manifest


def health(obj: Manifest) -> HealthStatus:
    """Return the health of a Deployment.

    Paused is Suspended; a ``ProgressDeadlineExceeded`` Progressing condition is Degraded;
    an unobserved generation or replicas not yet updated/available are Progressing.
    ``spec.replicas`` may be absent (an HPA owns it): then only status counts are compared.
    """
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    if spec.get("paused"):
        return HealthStatus(Health.SUSPENDED, "Deployment is paused")
    if not conditions.generation_observed(obj) or not status:
        return HealthStatus(
            Health.PROGRESSING, "waiting for rollout: the controller has not observed the spec"
        )
    progressing = conditions.condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return HealthStatus(Health.DEGRADED, f"Deployment {name!r} exceeded its progress deadline")
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    wanted = spec.get("replicas")
    if wanted is not None and updated < int(wanted):
        return HealthStatus(
            Health.PROGRESSING, f"waiting for rollout: {updated} of {wanted} replicas updated"
        )
    if replicas > updated:
        return HealthStatus(
            Health.PROGRESSING,
            f"waiting for rollout: {replicas - updated} old replicas pending termination",
        )
    if available < updated:
        return HealthStatus(
            Health.PROGRESSING, f"waiting for rollout: {available} of {updated} replicas available"
        )
    return HealthStatus(Health.HEALTHY, f"{available} replicas available")
