"""Thin copies: live members a full pass holds without what only a comparison reads.

A settled environment's serving objects (a Deployment, Service, HPA or InferenceService
per pipeline) are in sync pass after pass, and the manager's in-sync memo already knows it
(:func:`reconciler.apply.in_sync.known_in_sync`: the applied hash, uid and
resourceVersion of the live object were found in sync before). Such an object is neither
compared nor sent; what a pass reads of it is its identity, labels and annotations (prune,
ApplySet membership, the applied hash), ``status`` and a few ``spec`` fields (health:
a Deployment's ``replicas`` and ``paused``). Its ``managedFields`` (read only by the
comparison) and its pod template (read by nobody) are most of its size: a Deployment's
17 KiB of decoded objects. The serving kinds' other ``spec`` fields (a Service's ports, a
NetworkPolicy's rules, an HPA's metrics: :data:`SPEC_READ`) are read by nobody either,
and are 1-2 KiB of each of the 40,000 serving objects a 10,000-pipeline pass holds.

The manager thins a listed member only when the memo knows it in sync *and* the caller
listed with a trim (the engine's full pass: its readers do with what a trim leaves). Where
a thin copy must be compared or applied after all (the desired object changed, the memo
dropped the entry), :func:`reconciler.apply.manager_apply.apply_one` reads it again whole
first: one GET per object that changed, never one per object that exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.cluster import pages
from reconciler.structs.manifests import Manifest, group_kind_of

POD_TEMPLATE_KINDS = {
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
}
"""``(group, kind)`` of the other workloads (a Deployment is in :data:`SPEC_READ`), whose
``spec.template`` a thin copy drops: nothing reads it; the rest of their ``spec`` is kept."""


SPEC_READ: dict[tuple[str, str], frozenset[str]] = {
    ("apps", "Deployment"): frozenset({"replicas", "paused"}),
    ("", "Service"): frozenset(),
    ("networking.k8s.io", "NetworkPolicy"): frozenset(),
    ("networking.k8s.io", "Ingress"): frozenset(),
    ("policy", "PodDisruptionBudget"): frozenset(),
    ("autoscaling", "HorizontalPodAutoscaler"): frozenset(),
    ("serving.kserve.io", "InferenceService"): frozenset(),
}
"""``(group, kind)`` -> the ``spec`` fields a pass reads of a thin copy of that kind (its
health check's: :mod:`reconciler.health`); a thin copy of one of these kinds keeps only
those. These are the kinds serving renders; any other kind keeps its ``spec`` (less the
pod template of a workload): a CustomResourceDefinition's ``spec.group`` is read when it
is pruned, and an overlay's objects are few."""


def thin(obj: Manifest) -> Manifest:
    """Drop a live object's ``managedFields`` and what no pass reads of its ``spec``.

    A serving kind's ``spec`` keeps only the fields :data:`SPEC_READ` names; any other
    workload (:data:`POD_TEMPLATE_KINDS`) loses its pod template. Mutates and returns
    ``obj`` (a freshly decoded list item nobody else holds). An object whose ``metadata``
    or ``spec`` is not a mapping keeps what it has of them.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj
    kind = group_kind_of(obj)
    read = SPEC_READ.get(kind)
    if read is not None:
        obj["spec"] = {k: v for k, v in spec.items() if k in read}
    elif kind in POD_TEMPLATE_KINDS:
        spec.pop("template", None)
    return obj


def is_thin(obj: Manifest) -> bool:
    """True if ``obj`` has no ``managedFields``: a thin copy (or a trimmed step object).

    The API server records a manager for every write, so a live object read whole always
    has them; one someone stripped of them by hand is read again whole when it must be
    compared (one GET more, no harm).
    """
    meta = obj.get("metadata")
    return isinstance(meta, dict) and "managedFields" not in meta


def page_parser(
    group: str, kind: str, known: Callable[[Manifest], bool]
) -> Callable[[bytes], Any] | None:
    """Return a parser of list pages of a serving kind that thins what ``known`` knows.

    Each item is first parsed without its ``managedFields`` and with only the ``spec``
    fields :data:`SPEC_READ` names (:func:`reconciler.cluster.pages.partial`: the rest is
    skipped, never built); if ``known`` (the manager's in-sync memo, which reads only the
    metadata) knows it in sync, that is its thin copy, as :func:`thin` would make it of
    the whole item; else the item is parsed whole. None for a kind not in
    :data:`SPEC_READ` (parsed whole, as before).
    """
    read = SPEC_READ.get((group, kind))
    if read is None:
        return None

    def item(raw: Any) -> Any:
        thin_copy = pages.partial(raw, read)
        if thin_copy is not None and known(thin_copy):
            return thin_copy
        return pages.whole(raw)

    def parse(raw: bytes) -> Any:
        return pages.parse_page(raw, item)

    return parse
