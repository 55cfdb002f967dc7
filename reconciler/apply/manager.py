"""The resource manager: every read and write the reconciler makes to a cluster.

Called by :mod:`reconciler.apply.sync` and :mod:`reconciler.plan.plans` (and the engine for
single reads). Modelled on Flux's ``ssa.ResourceManager``: each verb has a single and a set
form, split by verb into ``manager_apply`` (apply, apply_all) and ``manager_delete``
(delete, delete_all); single reads (get) live here, lists in ``manager_list`` (list,
list_kinds, list_live). Every result is a
:class:`~reconciler.structs.changesets.ChangeSetEntry` or an error whose message starts with
the object's identity (``Kind/namespace/name``).

Requests are counted in :attr:`ResourceManager.stats`; resource paths come from the
per-client discovery cache, so no object costs a discovery request.
"""

from __future__ import annotations

import builtins
import copy
import logging
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any

from kubernetes import client as k8s_client

from reconciler.apply import in_sync, manager_apply, manager_delete, manager_list
from reconciler.apply.applysets import ApplySet
from reconciler.apply.manager_list import (  # re-exported: a list's types
    LIST_CHUNK,
    Key,
    ListFailure,
    LiveObjects,
    Trim,
    Trimmed,
)
from reconciler.cluster import api, discovery_cache, livecache
from reconciler.structs import labels
from reconciler.structs.changesets import Action, ChangeSet, ChangeSetEntry
from reconciler.structs.errors import ClusterError, MissingCRDError
from reconciler.structs.manifests import Manifest, ObjectRef, split_api_version

log = logging.getLogger(__name__)

__all__ = [
    "LIST_CHUNK",
    "Key",
    "ListFailure",
    "LiveObjects",
    "ResourceManager",
    "Trim",
    "Trimmed",
    "deep_copy",
]


class ResourceManager:
    """Reads and writes objects of one cluster with one field manager.

    ``workers`` bounds the concurrent requests of ``apply_all``/``delete_all`` (objects of
    one rank of the reconcile order go in parallel; ranks go one after another).
    ``verified`` remembers objects found in sync by content address (desired hash, live
    uid and resourceVersion; see :func:`~reconciler.apply.in_sync.needs_apply`);
    None compares every object field by field every time. ``list_chunk``: objects per page
    of a list (:data:`LIST_CHUNK`).
    """

    def __init__(
        self,
        client: k8s_client.ApiClient,
        *,
        field_manager: str = labels.FIELD_MANAGER,
        retry: api.RetryPolicy = api.DEFAULT_RETRY,
        workers: int = 8,
        verified: MutableMapping[str, Any] | None = None,
        live_cache: livecache.LiveCache | None = None,
        list_chunk: int = LIST_CHUNK,
    ) -> None:
        self.client = client
        self.list_chunk = max(1, list_chunk)
        self.verified = verified
        self.live_cache = live_cache
        self.field_manager = field_manager
        self.retry = retry
        self.workers = max(1, workers)
        self.stats = api.RequestStats()
        self.discovery = discovery_cache.discovery_for(client)

    # -- plumbing ---------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str | None = None,
        decoder: Callable[[bytes], Any] | None = None,
    ) -> api.Response:
        """Perform one API call with this manager's retry policy, counted in ``stats``.

        A write's answer is reported to the live cache, if any (a dry run's is not).
        ``decoder``: see :func:`reconciler.cluster.api.call`.
        """
        resp = api.call(
            self.client,
            method,
            path,
            query=query,
            body=body,
            content_type=content_type,
            policy=self.retry,
            stats=self.stats,
            decoder=decoder,
        )
        if self.live_cache is not None and method in api.WRITE_VERBS and api.DRY_RUN not in query:
            self.live_cache.expect_write(method, path, resp.data)
        return resp

    def resource_for(self, group: str, version: str, kind: str) -> discovery_cache.ApiResource:
        """Return how a kind is served (``version`` "" means the group's preferred one).

        Raises MissingCRDError (naming the operator) if the cluster does not serve it.
        """
        if version:
            return self.discovery.resource(group, version, kind)
        return self.discovery.resource_for_group_kind(group, kind)

    def resource_of(self, obj: Manifest | ObjectRef) -> discovery_cache.ApiResource:
        """Return how the kind of an object (or reference) is served."""
        ref = obj if isinstance(obj, ObjectRef) else ObjectRef.of(obj)
        return self.resource_for(ref.group, ref.version, ref.kind)

    def request_count(self) -> int:
        """Return every request made so far through this manager and its discovery cache."""
        return self.stats.total + self.discovery.stats.total

    # -- reads ------------------------------------------------------------------------

    def get(self, ref: ObjectRef) -> Manifest | None:
        """Return the live object, or None if it (or its kind) does not exist.

        Raises ClusterError (starting with the identity) for any other failure.
        """
        try:
            resource = self.resource_of(ref)
        except MissingCRDError:
            return None
        try:
            data = self.call("GET", resource.path(ref.namespace, ref.name)).data
        except api.ApiError as exc:
            if exc.status == 404:
                return None
            raise ClusterError(f"{ref}: {exc}", status=exc.status, reason=exc.reason) from exc
        return resource.typed(dict(data or {}))

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str = "",
        label_selector: str = "",
        trim: Trim | None = None,
    ) -> builtins.list[Manifest]:
        """Return the live objects of a kind (in ``namespace``, or all) matching a selector.

        Follows ``continue`` tokens if the server pages the list; ``trim``: see
        :func:`manager_list.list_resource`. Raises MissingCRDError if the kind is not served,
        ClusterError for other failures.
        """
        group, version = split_api_version(api_version)
        resource = self.resource_for(group, version, kind)
        return self.list_resource(
            resource, namespace=namespace, label_selector=label_selector, trim=trim
        )

    # -- lists (see manager_list): its functions, as methods ----------------------------

    list_resource = manager_list.list_resource
    list_kinds = manager_list.list_kinds
    list_live = manager_list.list_live

    # -- writes (see manager_apply, manager_delete) -------------------------------------

    def apply(
        self,
        obj: Manifest,
        *,
        live: Manifest | None = None,
        dry_run: bool = False,
        applyset: ApplySet | None = None,
    ) -> ChangeSetEntry:
        """Server-side apply one object; see :func:`manager_apply.apply_one`.

        Without ``live`` the object is read first (one GET), so that an object of the same
        name we do not own is reported as a conflict, never taken over. With ``applyset``
        the object is labelled and hashed first, and a member that has not changed or
        drifted costs no write.
        """
        if applyset is not None:
            obj = manager_apply.prepare(obj, applyset)
        ref = ObjectRef.of(obj)
        if live is None:
            live = self.get(ref)
        owned = live is not None and applyset is not None and applyset.owns(live)
        if owned and not in_sync.needs_apply(
            obj, live, field_manager=self.field_manager, verified=self.verified
        ):
            return ChangeSetEntry(ref, Action.UNCHANGED)
        return manager_apply.apply_one(self, obj, live=live, dry_run=dry_run).entry

    def apply_all(
        self,
        objs: Iterable[Manifest],
        *,
        applyset: ApplySet,
        live: Mapping[Key, Manifest],
        dry_run: bool = False,
    ) -> ChangeSet:
        """Apply many objects, staged (CRDs and Namespaces first); see ``manager_apply``."""
        prepared = [manager_apply.prepare(o, applyset) for o in objs]
        applied = manager_apply.apply_staged(
            self, prepared, applyset=applyset, live=live, dry_run=dry_run
        )
        return ChangeSet([a.entry for a in applied])

    def delete(self, obj_or_ref: Manifest | ObjectRef, *, dry_run: bool = False) -> ChangeSetEntry:
        """Delete one object (background propagation); see :func:`manager_delete.delete_one`."""
        obj = obj_or_ref if isinstance(obj_or_ref, dict) else None
        ref = ObjectRef.of(obj_or_ref) if isinstance(obj_or_ref, dict) else obj_or_ref
        return manager_delete.delete_one(self, ref, live=obj, dry_run=dry_run)

    def delete_all(
        self, objs: Iterable[Manifest | ObjectRef], *, dry_run: bool = False
    ) -> ChangeSet:
        """Delete many objects in reverse reconcile order; see ``manager_delete``."""
        return manager_delete.delete_all(self, list(objs), dry_run=dry_run)


def deep_copy(obj: Manifest) -> Manifest:
    """Return a deep copy of a manifest (callers' dicts are never mutated)."""
    return copy.deepcopy(obj)
