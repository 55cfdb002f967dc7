"""Health of an autoscaling/v2 HorizontalPodAutoscaler (serving with ``autoscale``).

Called through the dispatch in :mod:`reconciler.health`; the condition reasons are the ones
gitops-engine treats as failed or settled.
"""

from __future__ import annotations

from reconciler.health import conditions
from reconciler.health.states import Health, HealthStatus
from reconciler.structs.manifests import Manifest

_DEGRADED = {
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "InvalidSelector"),
}
_HEALTHY = {
    ("AbleToScale", "SucceededRescale"),
    ("ScalingLimited", "DesiredWithinRange"),
    ("ScalingLimited", "TooFewReplicas"),
    ("ScalingLimited", "TooManyReplicas"),
}


def health(obj: Manifest) -> HealthStatus:
    """Return the health of an HPA: Degraded on a failed scale or metric, else Progressing.

    The first condition that is either failed or settled decides; an HPA with no such
    condition yet is Progressing ("waiting to autoscale").
    """
    for c in conditions.conditions_of(obj):
        pair = (str(c.get("type")), str(c.get("reason")))
        if pair in _DEGRADED:
            return HealthStatus(Health.DEGRADED, conditions.describe(c))
        if pair in _HEALTHY:
            return HealthStatus(Health.HEALTHY, conditions.describe(c))
    return HealthStatus(Health.PROGRESSING, "waiting to autoscale")
