"""autoscaling/v2 HorizontalPodAutoscaler: a scale target named with its group, replica
bounds in order, metric targets that say what to aim at
(``ValidateHorizontalPodAutoscaler``, after the defaults: ``minReplicas`` 1, CPU at 80%)."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.validators.common import Cause, Obj, quote, spec_of


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a HorizontalPodAutoscaler write."""
    if sub:
        return []
    spec = spec_of(obj)
    out = _target(spec.get("scaleTargetRef"))
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    listed = spec.get("metrics")
    metrics: list[Any] = listed if isinstance(listed, list) else []
    if low == 0 and not any(
        isinstance(m, dict) and m.get("type") in ("Object", "External") for m in metrics
    ):
        out.append(
            (
                "FieldValueForbidden",
                "spec.metrics",
                "Forbidden: must specify at least one Object or External metric to support "
                "scaling to zero replicas",
            )
        )
    if isinstance(high, int) and isinstance(low, int):
        if high < low:
            out.append(
                (
                    "FieldValueInvalid",
                    "spec.maxReplicas",
                    f"Invalid value: {high}: must be greater than or equal to `minReplicas`",
                )
            )
        if high < 1:
            out.append(("FieldValueRequired", "spec.maxReplicas", "Required value"))
    for i, metric in enumerate(metrics):
        source = metric.get("resource") if isinstance(metric, dict) else None
        if isinstance(source, dict):
            out += _metric_target(f"spec.metrics[{i}].resource.target", source.get("target"))
    return out


def _target(ref: Any) -> list[Cause]:
    ref = ref if isinstance(ref, dict) else {}
    out: list[Cause] = []
    for field in ("kind", "name"):
        if not ref.get(field):
            out.append(("FieldValueRequired", f"spec.scaleTargetRef.{field}", "Required value"))
    api_version = ref.get("apiVersion") or ""
    if "/" not in api_version:
        out.append(
            (
                "FieldValueInvalid",
                "spec.scaleTargetRef.apiVersion",
                f"Invalid value: {quote(api_version)}: apiVersion must specify API group",
            )
        )
    return out


def _metric_target(path: str, target: Any) -> list[Cause]:
    if not isinstance(target, dict):
        return []
    utilization = target.get("averageUtilization")
    if target.get("type") == "Utilization" and utilization is None:
        return [
            (
                "FieldValueRequired",
                f"{path}.averageUtilization",
                "Required value: must set either a target raw value or a target utilization",
            )
        ]
    if isinstance(utilization, int) and utilization <= 0:
        return [
            (
                "FieldValueInvalid",
                f"{path}.averageUtilization",
                f"Invalid value: {utilization}: must be greater than 0",
            )
        ]
    return []
