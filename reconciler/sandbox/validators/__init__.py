"""Per-kind validation, one module per kind, as kube-apiserver's registry strategies
validate them (``pkg/apis/<group>/validation``).

Each module has ``causes(obj, old, sub) -> list[Cause]``: ``old`` is None on create,
``sub`` is "" or "status" (a status write checks status transitions only). The generic
checks every kind gets (names, labels, schema) are in
:mod:`reconciler.sandbox.object_validation`, which calls :func:`causes`.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.sandbox.validators import (
    claims,
    configmaps,
    crds,
    deployments,
    disruptionbudgets,
    hpas,
    ingresses,
    jobs,
    leases,
    limitranges,
    networkpolicies,
    pods,
    rbac,
    resourcequotas,
    services,
    templates,
)
from reconciler.sandbox.validators.common import Cause, Obj

Validator = Callable[[Obj, "Obj | None", str], list[Cause]]

VALIDATORS: dict[tuple[str, str], Validator] = {
    ("batch", "Job"): jobs.causes,
    ("apps", "Deployment"): deployments.causes,
    ("apps", "ReplicaSet"): templates.causes,
    ("apps", "StatefulSet"): templates.causes,
    ("", "Pod"): pods.causes,
    ("", "Service"): services.causes,
    ("", "ConfigMap"): configmaps.causes,
    ("", "Secret"): configmaps.causes,
    ("", "ResourceQuota"): resourcequotas.causes,
    ("autoscaling", "HorizontalPodAutoscaler"): hpas.causes,
    ("networking.k8s.io", "Ingress"): ingresses.causes,
    ("networking.k8s.io", "NetworkPolicy"): networkpolicies.causes,
    ("policy", "PodDisruptionBudget"): disruptionbudgets.causes,
    ("", "PersistentVolumeClaim"): claims.causes,
    ("coordination.k8s.io", "Lease"): leases.causes,
    ("rbac.authorization.k8s.io", "Role"): rbac.role_causes,
    ("rbac.authorization.k8s.io", "ClusterRole"): rbac.role_causes,
    ("rbac.authorization.k8s.io", "RoleBinding"): rbac.binding_causes,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): rbac.binding_causes,
    ("", "LimitRange"): limitranges.causes,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crds.causes,
}
"""(group, kind) -> the kind's validator."""


def causes(group: str, kind: str, obj: Obj, old: Obj | None, sub: str = "") -> list[Cause]:
    """Return the kind-specific causes of a write (none for kinds without rules)."""
    validator = VALIDATORS.get((group, kind))
    return validator(obj, old, sub) if validator is not None else []
