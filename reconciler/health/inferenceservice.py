"""Health of a KServe serving.kserve.io/v1beta1 InferenceService (``runtime: kserve``).

Called through the dispatch in :mod:`reconciler.health`. KServe reports ``Ready`` plus
per-component conditions (``PredictorReady``, ``IngressReady``, ...); any of them False
means the model cannot serve.
"""

from __future__ import annotations

from reconciler.health import conditions
from reconciler.health.states import Health, HealthStatus
from reconciler.structs.manifests import Manifest

STOP_ANNOTATION = "serving.kserve.io/stop"


def health(obj: Manifest) -> HealthStatus:
    """Return the health of an InferenceService.

    Stopped (annotation ``serving.kserve.io/stop: "true"``) is Suspended; an unobserved
    generation is Progressing; Ready=True is Healthy; any condition False is Degraded (the
    messages joined); otherwise Progressing.
    """
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(STOP_ANNOTATION, "")).lower() == "true":
        return HealthStatus(Health.SUSPENDED, "InferenceService is stopped")
    if not conditions.generation_observed(obj):
        return HealthStatus(Health.PROGRESSING, "waiting for KServe to observe the spec")
    if conditions.is_true(obj, "Ready"):
        url = (obj.get("status") or {}).get("url") or ""
        return HealthStatus(Health.HEALTHY, f"serving at {url}" if url else "ready")
    failed = [c for c in conditions.conditions_of(obj) if str(c.get("status")) == "False"]
    if failed:
        reasons = "; ".join(f"{c.get('type')}: {conditions.describe(c)}" for c in failed)
        return HealthStatus(Health.DEGRADED, reasons)
    return HealthStatus(Health.PROGRESSING, "waiting for the predictor to become ready")
