"""The resource manager's reads of whole collections: lists in pages, trimmed as parsed.

:class:`~reconciler.apply.manager.ResourceManager`'s ``list``, ``list_resource``,
``list_kinds`` and ``list_live`` are these functions (as ``manager_apply`` and
``manager_delete`` are its writes). A list is one label-selected LIST per kind and
namespace, in pages of ``list_chunk`` objects, each item typed (``apiVersion``, ``kind``),
its ``managedFields`` compacted, and, for a caller that reads only part of what it lists
(the engine's full pass), trimmed or thinned as its page is parsed
(:mod:`reconciler.runs.trimming`, :mod:`reconciler.apply.thin_copies`,
:mod:`reconciler.cluster.pages`). What is listed comes back as :class:`LiveObjects`.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from reconciler.apply import applysets, fields, in_sync, thin_copies
from reconciler.apply.applysets import ApplySet
from reconciler.cluster import api, discovery_cache
from reconciler.structs.errors import ClusterError, MissingCRDError
from reconciler.structs.manifests import Manifest, key_of

if TYPE_CHECKING:
    from reconciler.apply.manager import ResourceManager

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


def list_resource(
    m: ResourceManager,
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
    status; see :mod:`reconciler.runs.trimming`). A list with ``trim`` also holds the
    members the in-sync memo knows as thin copies (:mod:`~reconciler.apply.thin_copies`).
    Its pages are parsed in part where it can be (:func:`_page_parser`): what the trim or
    the thinning drops is never built.
    """
    cache = m.live_cache if label_selector else None
    path = resource.path(namespace)
    if cache is not None:
        cached = cache.items(path, label_selector)
        if cached is not None:
            return cached
    typed = _typer(resource, m.field_manager, trim=trim, verified=m.verified if trim else None)
    pages = _page_parser(m, resource, trim)
    items: builtins.list[Manifest] = []
    token = ""
    version = ""
    limit = m.list_chunk
    while True:
        query: builtins.list[tuple[str, Any]] = [("limit", limit)] if limit else []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if token:
            query.append(("continue", token))
        try:
            data = m.call("GET", path, query=query, decoder=pages).data or {}
        except api.ApiError as exc:
            if exc.status == 410 and token:
                log.info("list %s: %s; listing it again whole", path, exc)
                items, token, version, limit = [], "", "", 0
                continue
            where = f"{resource.kind} in {namespace}" if namespace else resource.kind
            if exc.status == 404 and not namespace:
                m.discovery.invalidate(resource.group)
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
    m: ResourceManager, resource: discovery_cache.ApiResource, trim: Trim | None
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
    verified, manager = m.verified, m.field_manager
    if verified is None:
        return None
    return thin_copies.page_parser(*gk, lambda obj: in_sync.known_in_sync(obj, verified, manager))


def list_kinds(
    m: ResourceManager,
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
    :func:`list_resource`.
    """
    versions = versions or {}
    scopes_ns = sorted({ns for ns in namespaces if ns})
    state = LiveObjects()
    state.namespaces = set(scopes_ns)
    for group, kind in sorted(set(kinds)):
        try:
            resource = m.resource_for(group, versions.get((group, kind), ""), kind)
            if namespaced_only and not resource.namespaced:
                continue
            for ns in scopes_ns if resource.namespaced else [""]:
                for obj in list_resource(
                    m, resource, namespace=ns, label_selector=label_selector, trim=trim
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
    m: ResourceManager,
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
    :func:`list_resource`): such a caller must not compare or apply them.
    """
    m.discovery.forget_missing()
    parent = m.get(applyset.parent_ref)
    state = list_kinds(
        m,
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
