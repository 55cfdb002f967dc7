"""Ownership: which live objects are ours to apply, and what to say about those that are not.

Used by :mod:`reconciler.apply.manager_apply` before every apply and by the engine for the
environment's Namespace. An object is ours when it carries our ApplySet's part-of label
(or, without one, our field manager applied it); one of the same name that is not ours is a
CONFLICT naming its managers, and is left alone. A Namespace no ApplySet claims (made by a
platform team or an installer) is used as it is, never labelled, taken over or pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from reconciler.apply.applysets import ApplySet
from reconciler.cluster import discovery_cache
from reconciler.structs import labels
from reconciler.structs.changesets import Action, ChangeSetEntry
from reconciler.structs.errors import ClusterError
from reconciler.structs.manifests import Manifest, ObjectRef

if TYPE_CHECKING:
    from reconciler.apply.manager import Key, ResourceManager


def owners(live: Manifest) -> str:
    """Describe who owns a live object we do not: its managers and ApplySet, if any."""
    meta = live.get("metadata") or {}
    managers: list[str] = []
    for entry in meta.get("managedFields") or []:
        name = str((entry or {}).get("manager") or "")
        if name and name not in managers and (entry or {}).get("subresource") != "status":
            managers.append(name)
    obj_labels = meta.get("labels") or {}
    parts = []
    if managers:
        parts.append("managed by " + ", ".join(managers))
    if obj_labels.get(labels.APPLYSET_PART_OF):
        owner = f"ApplySet {obj_labels[labels.APPLYSET_PART_OF]}"
        if obj_labels.get(labels.ENV):
            owner += f" of environment {obj_labels[labels.ENV]!r}"
        parts.append("part of " + owner)
    return "; ".join(parts) if parts else "no field manager recorded"


def conflict_entry(ref: ObjectRef, live: Manifest) -> ChangeSetEntry:
    """Return the CONFLICT entry for an object of the same name that we do not own."""
    return ChangeSetEntry(
        ref,
        Action.CONFLICT,
        f"exists and is not owned by this environment ({owners(live)}); left alone",
    )


FOREIGN_NAMESPACE_NOTE = (
    "exists and was not created by reconciler: used as it is "
    "(its labels are left alone; it is never taken over or deleted)"
)
"""The note (a SKIPPED entry, never a conflict) for a Namespace someone else created."""

BOOKKEEPING_ANNOTATIONS = (labels.COMMIT, labels.BRANCH)
"""The only fields written to a Namespace we did not create: what ``status`` and the
branch-owner check read. Labels (ApplySet membership, Pod Security) are never added."""


def prepared_namespace(live: Manifest) -> bool:
    """True for a Namespace no ApplySet claims: one a platform team or an installer made
    (``reconciler manifests --environment-namespace``, with its RoleBinding).

    It is used as it is (:func:`~reconciler.apply.manager_apply.use_foreign_namespace`):
    only our bookkeeping annotations are applied, never a label, so it never becomes an
    ApplySet member and is never pruned.
    """
    meta = live.get("metadata") or {}
    return (
        live.get("kind") == "Namespace"
        and live.get("apiVersion") == "v1"
        and not (meta.get("labels") or {}).get(labels.APPLYSET_PART_OF)
    )


def is_ours(manager: ResourceManager, obj: Manifest, live: Manifest) -> bool:
    """True if ``live`` is ours to apply with force: a member of ``obj``'s ApplySet (same
    part-of label), a Namespace no ApplySet claims, or, for an object without a part-of
    label, one our field manager applied."""
    part_of = ((obj.get("metadata") or {}).get("labels") or {}).get(labels.APPLYSET_PART_OF)
    live_labels = (live.get("metadata") or {}).get("labels") or {}
    if part_of:
        return bool(live_labels.get(labels.APPLYSET_PART_OF) == part_of)
    if prepared_namespace(live):
        return True
    return any(
        (e or {}).get("manager") == manager.field_manager and (e or {}).get("operation") == "Apply"
        for e in (live.get("metadata") or {}).get("managedFields") or []
    )


def find_unowned(
    manager: ResourceManager,
    objs: Iterable[tuple[Manifest, discovery_cache.ApiResource]],
    applyset: ApplySet,
    foreign: dict[Key, Manifest] | None = None,
) -> dict[Key, Manifest]:
    """Return live objects that share a name with ``objs`` but are not members of the set.

    One LIST per kind and namespace with the selector ``part-of!=<id>`` (objects without the
    label or with another set's), only for kinds and namespaces that have new objects.
    A failed list is not fatal: the apply itself then meets whatever is there. Namespaces
    no ApplySet claims are not returned but put in ``foreign`` (used as they are).
    """
    wanted: dict[tuple[discovery_cache.ApiResource, str], set[Key]] = {}
    for obj, resource in objs:
        ref = ObjectRef.of(obj)
        wanted.setdefault((resource, ref.namespace if resource.namespaced else ""), set()).add(
            ref.key
        )
    found: dict[Key, Manifest] = {}
    for (resource, namespace), keys in wanted.items():
        try:
            items = manager.list_resource(
                resource, namespace=namespace, label_selector=applyset.not_member_selector
            )
        except ClusterError:  # best effort: the apply itself reports real errors
            continue
        for item in items:
            key = ObjectRef.of(item).key
            typed = dict(item, kind=resource.kind, apiVersion=resource.api_version)
            if key not in keys:
                continue
            if prepared_namespace(typed):
                if foreign is not None:
                    foreign[key] = typed
            else:
                found[key] = item
    return found
