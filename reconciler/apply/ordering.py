"""The order objects are applied in, and pruned in (reversed): a named constant, like Flux's.

Called by the sync stage. Cluster prerequisites first (CRDs, Namespaces: stage one, applied
before CRD-backed kinds are even looked up), then policy and configuration (quotas, limit
ranges, network policies, service accounts, config maps), then queues and services, then
workloads; kinds not listed go last. Pruning walks the same order backwards, so workloads
go before their namespace.
"""

from __future__ import annotations

from reconciler.structs.manifests import Manifest, ObjectRef

RECONCILE_ORDER: tuple[tuple[str, str], ...] = (
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("", "Namespace"),
    ("kueue.x-k8s.io", "ResourceFlavor"),
    ("kueue.x-k8s.io", "ClusterQueue"),
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("", "ServiceAccount"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("", "Secret"),
    ("", "ConfigMap"),
    ("", "PersistentVolumeClaim"),
    ("kueue.x-k8s.io", "LocalQueue"),
    ("", "Service"),
    ("apps", "Deployment"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("policy", "PodDisruptionBudget"),
    ("networking.k8s.io", "Ingress"),
    ("serving.kserve.io", "InferenceService"),
    ("batch", "Job"),
    ("kubeflow.org", "PyTorchJob"),
    ("trainer.kubeflow.org", "TrainJob"),
)
"""(group, kind) in apply order; anything else is applied after these."""

STAGE_ONE: frozenset[tuple[str, str]] = frozenset(RECONCILE_ORDER[:2])
"""Kinds applied before anything else is resolved: CRDs and Namespaces."""

_RANK = {gk: i for i, gk in enumerate(RECONCILE_ORDER)}


def rank(group: str, kind: str) -> int:
    """Return the position of a kind in :data:`RECONCILE_ORDER` (unknown kinds last)."""
    return _RANK.get((group, kind), len(RECONCILE_ORDER))


def sort_key(obj: Manifest) -> tuple[int, str, str, str]:
    """Return the apply-order key of an object: rank, then kind, namespace, name."""
    ref = ObjectRef.of(obj)
    return (rank(ref.group, ref.kind), ref.kind, ref.namespace, ref.name)


_STAGE_ONE_KINDS = frozenset(kind for _, kind in STAGE_ONE)


def is_stage_one(obj: Manifest) -> bool:
    """Return True for CRDs and Namespaces (called for every object of a sync, several times:
    the kind is looked at before the group is parsed)."""
    if obj.get("kind") not in _STAGE_ONE_KINDS:
        return False
    ref = ObjectRef.of(obj)
    return (ref.group, ref.kind) in STAGE_ONE
