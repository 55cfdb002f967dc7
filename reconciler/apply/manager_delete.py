"""Delete: remove one object or many (prune), newest-first in reverse reconcile order.

Called by :class:`~reconciler.apply.manager.ResourceManager` (``delete``, ``delete_all``) and
by :mod:`reconciler.apply.sync` for pruning. Deletes use background propagation (a Job's
pods go with it) and, when the live object is known, a ``uid`` precondition, so an object
re-created under the same name since it was listed is never deleted by mistake. An object
already gone counts as deleted. In a dry run no request is made.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import TYPE_CHECKING, Any

from reconciler.apply import manager_apply, ordering
from reconciler.cluster import api
from reconciler.structs.changesets import Action, ChangeSet, ChangeSetEntry
from reconciler.structs.errors import MissingCRDError
from reconciler.structs.manifests import Manifest, ObjectRef

if TYPE_CHECKING:
    from reconciler.apply.manager import ResourceManager

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")


def delete_one(
    manager: ResourceManager,
    ref: ObjectRef,
    *,
    live: Manifest | None = None,
    dry_run: bool = False,
) -> ChangeSetEntry:
    """Delete one object; return DELETED, SKIPPED (replaced since listed) or FAILED.

    A kind the cluster no longer serves has nothing left to delete (DELETED).
    """
    try:
        resource = manager.resource_of(ref)
    except MissingCRDError:
        return ChangeSetEntry(ref, Action.DELETED, "its kind is no longer served")
    if dry_run:
        return ChangeSetEntry(ref, Action.DELETED)
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Background",
    }
    uid = ((live or {}).get("metadata") or {}).get("uid")
    if uid:
        body["preconditions"] = {"uid": uid}
    namespace = ref.namespace if resource.namespaced else ""
    try:
        resp = manager.call("DELETE", resource.path(namespace, ref.name), body=body)
    except api.ApiError as exc:
        if exc.status == 404:
            return ChangeSetEntry(ref, Action.DELETED, "already gone")
        if exc.status == 409:
            return ChangeSetEntry(
                ref, Action.SKIPPED, f"replaced since it was listed; left alone ({exc})"
            )
        return manager_apply.failure_entry(manager, ref, exc)
    if (ref.group, ref.kind) == CRD:
        manager.discovery.invalidate(str(((live or {}).get("spec") or {}).get("group", "")))
    n = resp.retries
    return ChangeSetEntry(ref, Action.DELETED, f"retried {n} times" if n else "")


def _sort_key(obj: Manifest | ObjectRef) -> tuple[int, str, str, str]:
    ref = obj if isinstance(obj, ObjectRef) else ObjectRef.of(obj)
    return (-ordering.rank(ref.group, ref.kind), ref.kind, ref.namespace, ref.name)


def delete_all(
    manager: ResourceManager, objs: list[Manifest | ObjectRef], *, dry_run: bool = False
) -> ChangeSet:
    """Delete objects in reverse reconcile order (workloads before their namespace).

    Objects of one rank are deleted concurrently; every object gets an entry, and a
    failure on one does not stop the others.
    """
    out = ChangeSet()

    def one(obj: Manifest | ObjectRef) -> ChangeSetEntry:
        if isinstance(obj, ObjectRef):
            return delete_one(manager, obj, dry_run=dry_run)
        return delete_one(manager, ObjectRef.of(obj), live=obj, dry_run=dry_run)

    for _, batch in groupby(sorted(objs, key=_sort_key), key=lambda o: _sort_key(o)[0]):
        items = list(batch)
        if len(items) == 1 or manager.workers == 1 or dry_run:
            out.entries.extend(one(o) for o in items)
        else:
            with ThreadPoolExecutor(max_workers=min(manager.workers, len(items))) as pool:
                out.entries.extend(pool.map(one, items))
    return out
