"""The resource manager: every read and write the reconciler makes to a cluster.

Called by :mod:`reconciler.apply.sync` and :mod:`reconciler.plan.plans` (and the engine for
single reads). Modelled on Flux's ``ssa.ResourceManager``: each verb has a single and a set
form, split by verb into ``manager_apply`` (apply, apply_all) and ``manager_delete``
(delete, delete_all); reads (get, list, list_live) live here. Every result is a
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
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from kubernetes import client as k8s_client

from reconciler.apply import (
    applysets,
    fields,
    in_sync,
    manager_apply,
    manager_delete,
    thin_copies,
)
from reconciler.apply.applysets import ApplySet
from reconciler.cluster import api, discovery_cache, livecache
from reconciler.structs import labels
from reconciler.structs.changesets import Action, ChangeSet, ChangeSetEntry
from reconciler.structs.errors import ClusterError, MissingCRDError
from reconciler.structs.manifests import Manifest, ObjectRef, key_of, split_api_version

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]
"""``ObjectRef.key``: (group, kind, namespace, name), version-independent."""

Trim = Callable[[Manifest], Manifest]


@runtime_checkable
class Trimmed(Protocol):
    """A :data:`Trim` that also decodes pages of some kinds trimmed already.

    ``pages`` maps ``(group, kind)`` to a parser of a whole list body that returns it as
    ``json.loads`` would, with each item as the trim would leave it: what the trim drops
    is skipped while parsing, never built (most of a page of Jobs is pod templates and
    ``managedFields``). The trim is still applied to each item after: it must leave an
    item it trimmed before as it is.
    """

    pages: Mapping[tuple[str, str], Callable[[bytes], Any]]

    def __call__(self, obj: Manifest, /) -> Manifest: ...


"""Shrinks a freshly listed object, in place, to what its caller reads of it."""

LIST_CHUNK = 5000
"""Objects per page of a list (``limit``; kubectl's ``--chunk-size`` and client-go's
informers use 500). A page is decoded whole, so the page bounds what a list holds twice
at once (the response's bytes and their objects: ~24 KiB of Python objects per Job of
5 KiB of JSON). 5,000 keeps one request per kind up to 1,000 pipelines (3,000 Jobs) and
cuts a 30,000-Job list into 6 pages."""


@dataclass
class ListFailure:
    """A kind whose live state could not be listed (so nothing of it may be pruned)."""

    group: str
    kind: str
    error: ClusterError


class LiveObjects(dict[Key, Manifest]):
    """Live objects by key, plus what the listing covered and what it could not see.

    ``kinds``/``namespaces``: what was listed (so a later step can list only the rest);
    ``parent``: the ApplySet parent if it was read (``parent_read``); ``missing``: kinds the
    cluster does not serve (their CRD is gone); ``failures``: kinds whose list failed;
    ``foreign_namespace``: the environment's Namespace when it exists but is no member (a
    platform team made it), read by the engine and used as it is.
    """

    def __init__(self) -> None:
        super().__init__()
        self.foreign_namespace: Manifest | None = None
        self.kinds: set[tuple[str, str]] = set()
        self.namespaces: set[str] = set()
        self.parent: Manifest | None = None
        self.parent_read = False
        self.missing: dict[tuple[str, str], MissingCRDError] = {}
        self.failures: list[ListFailure] = []

    def merge(self, other: LiveObjects) -> None:
        """Add what ``other`` listed to this listing."""
        self.update(other)
        self.kinds |= other.kinds
        self.namespaces |= other.namespaces
        self.missing.update(other.missing)
        self.failures.extend(other.failures)


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
        :meth:`list_resource`. Raises MissingCRDError if the kind is not served,
        ClusterError for other failures.
        """
        group, version = split_api_version(api_version)
        resource = self.resource_for(group, version, kind)
        return self.list_resource(
            resource, namespace=namespace, label_selector=label_selector, trim=trim
        )

    def list_resource(
        self,
        resource: discovery_cache.ApiResource,
        *,
        namespace: str,
        label_selector: str,
        trim: Trim | None = None,
    ) -> builtins.list[Manifest]:
        """Return the objects of a resolved kind, in pages of ``list_chunk`` objects.

        A page whose ``continue`` token expired (410: the server compacted the version the
        list started at) starts the list again whole, without pages, as client-go's pager
        does: a list is one consistent snapshot or nothing. With a live cache (the
        daemon's), a collection it holds costs no request; one it does not is listed and
        handed to it (see :mod:`reconciler.cluster.livecache`). ``trim`` shrinks each item
        as its page is decoded, and what the cache then holds of the collection (its watch
        events' objects too): every reader of a collection listed with ``trim`` must do
        with what it leaves (the engine's full pass reads only step objects' identity and
        status; see :mod:`reconciler.runs.trimming`). A :class:`Trimmed` trim's page parser for the
        kind reads each page (what the trim drops is never decoded). A list with ``trim`` also holds the
        members the in-sync memo knows as thin copies (:mod:`~reconciler.apply.thin_copies`).
        """
        cache = self.live_cache if label_selector else None
        path = resource.path(namespace)
        if cache is not None:
            cached = cache.items(path, label_selector)
            if cached is not None:
                return cached
        typed = _typer(
            resource, self.field_manager, trim=trim, verified=self.verified if trim else None
        )
        pages = self._page_parser(resource, trim)
        items: builtins.list[Manifest] = []
        token = ""
        version = ""
        limit = self.list_chunk
        while True:
            query: builtins.list[tuple[str, Any]] = [("limit", limit)] if limit else []
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            try:
                data = self.call("GET", path, query=query, decoder=pages).data or {}
            except api.ApiError as exc:
                if exc.status == 410 and token:
                    log.info("list %s: %s; listing it again whole", path, exc)
                    items, token, version, limit = [], "", "", 0
                    continue
                where = f"{resource.kind} in {namespace}" if namespace else resource.kind
                if exc.status == 404 and not namespace:
                    self.discovery.invalidate(resource.group)
                    raise discovery_cache.missing_kind_error(
                        resource.group, resource.version, resource.kind
                    ) from exc
                raise ClusterError(
                    f"list {where}: {exc}", status=exc.status, reason=exc.reason
                ) from exc
            items.extend(typed(i) for i in data.get("items") or [])
            meta = data.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            token = str(meta.get("continue") or "")
            if not token:
                if cache is not None:
                    cache.seed(path, label_selector, items, version, typed)
                return items

    def _page_parser(
        self, resource: discovery_cache.ApiResource, trim: Trim | None
    ) -> Callable[[bytes], Any] | None:
        """Return what parses a page of ``resource`` listed with ``trim`` (None: whole).

        A :class:`Trimmed` trim's parser for the kind; else, for a list with a trim (whose
        members the memo may thin), :func:`thin_copies.page_parser`: members known in sync
        are never built whole.
        """
        if trim is None:
            return None
        gk = (resource.group, resource.kind)
        if isinstance(trim, Trimmed) and gk in trim.pages:
            return trim.pages[gk]
        verified, manager = self.verified, self.field_manager
        if verified is None:
            return None
        return thin_copies.page_parser(
            *gk, lambda obj: in_sync.known_in_sync(obj, verified, manager)
        )

    def list_kinds(
        self,
        kinds: Iterable[tuple[str, str]],
        *,
        namespaces: Iterable[str],
        label_selector: str,
        versions: Mapping[tuple[str, str], str] | None = None,
        namespaced_only: bool = False,
        trim: Trim | None = None,
    ) -> LiveObjects:
        """List every kind with one request per kind (per namespace for namespaced kinds).

        ``kinds`` are ``(group, kind)`` pairs; ``versions`` pins the version to list a kind
        at (the desired objects' version, so fields compare like for like), else the
        group's preferred version. Kinds the cluster does not serve are reported in
        ``missing``, failed lists in ``failures``; neither raises. ``namespaced_only`` skips
        cluster-scoped kinds (to list known kinds in more namespaces). ``trim``: see
        :meth:`list_resource`.
        """
        versions = versions or {}
        scopes_ns = sorted({ns for ns in namespaces if ns})
        state = LiveObjects()
        state.namespaces = set(scopes_ns)
        for group, kind in sorted(set(kinds)):
            try:
                resource = self.resource_for(group, versions.get((group, kind), ""), kind)
                if namespaced_only and not resource.namespaced:
                    continue
                for ns in scopes_ns if resource.namespaced else [""]:
                    for obj in self.list_resource(
                        resource, namespace=ns, label_selector=label_selector, trim=trim
                    ):
                        state[key_of(obj)] = obj
                state.kinds.add((group, kind))
            except MissingCRDError as exc:
                state.missing[(group, kind)] = exc
                state.kinds.add((group, kind))
            except ClusterError as exc:
                state.failures.append(ListFailure(group, kind, exc))
        return state

    def list_live(
        self,
        applyset: ApplySet,
        kinds: Iterable[tuple[str, str]],
        *,
        namespaces: Iterable[str] = (),
        versions: Mapping[tuple[str, str], str] | None = None,
        trim: Trim | None = None,
    ) -> LiveObjects:
        """Return the live members of ``applyset``: the given kinds and the parent's kinds.

        Reads the ApplySet parent (one GET) and lists, with one label-selected LIST per kind
        and namespace, the ``(group, kind)`` kinds given plus those the parent lists in
        ``contains-group-kinds``, in the set's namespace, the parent's additional namespaces
        and ``namespaces``. Kinds the cluster does not serve have no members. Pass the
        result to ``sync_objects(live=...)`` so the sync does not list again. Raises the
        first ClusterError if a list fails (a partial view must not drive a prune).
        ``trim`` shrinks the members a caller reads only part of (see
        :meth:`list_resource`): such a caller must not compare or apply them.
        """
        self.discovery.forget_missing()
        parent = self.get(applyset.parent_ref)
        state = self.list_kinds(
            {*kinds, *applysets.parent_group_kinds(parent)},
            namespaces=[applyset.namespace, *namespaces, *applysets.parent_namespaces(parent)],
            label_selector=applyset.selector,
            versions=versions,
            trim=trim,
        )
        state.parent = parent
        state.parent_read = True
        if state.failures:
            raise state.failures[0].error
        return state

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


def _typer(
    resource: discovery_cache.ApiResource,
    field_manager: str,
    *,
    trim: Trim | None = None,
    verified: Mapping[str, Any] | None = None,
) -> Trim:
    """Return what makes a listed (or watched) item a live object: its ``apiVersion`` and
    ``kind`` filled in, ``trim`` applied (the caller's: see :meth:`ResourceManager.list_resource`)
    and its ``managedFields`` compacted (:func:`fields.compact_managed_fields`: a
    Deployment's 29.7 KiB of decoded objects become 17.3 KiB).

    Every list is compacted, the ones a pass holds once as much as the ones the live cache
    keeps: at 10,000 pipelines a full pass holds 10,000 Deployments and 29,000 other
    serving objects at once, and what it held sets the daemon's RSS between passes
    (Python's allocator keeps the arenas of a pass's peak). The cost is encoding our own
    entry's ``fieldsV1`` as text (orjson) and freeing the tree it replaces now rather than
    at the end of the pass: ~30 µs for a Deployment, 1.1 to 1.5 s more CPU in a
    10,000-pipeline pass (docs/performance.md).

    With ``verified`` (the manager's in-sync memo, passed for lists made with a ``trim``
    only), a member the memo knows in sync is thinned instead
    (:mod:`~reconciler.apply.thin_copies`): no ``managedFields`` at all, no pod template.
    """

    def typed(obj: Manifest) -> Manifest:
        out = resource.typed(dict(obj))
        if trim is not None:
            out = trim(out)
            if thin_copies.is_thin(out):
                return out  # a trimmed step object: nothing left to compact or thin
        if verified is not None and in_sync.known_in_sync(out, verified, field_manager):
            return thin_copies.thin(out)
        return fields.compact_managed_fields(out, field_manager)

    return typed


def deep_copy(obj: Manifest) -> Manifest:
    """Return a deep copy of a manifest (callers' dicts are never mutated)."""
    return copy.deepcopy(obj)
