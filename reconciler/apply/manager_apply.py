"""Apply: server-side apply of one object or many, with ownership and the minimum of requests.

Called by :class:`~reconciler.apply.manager.ResourceManager` (``apply``, ``apply_all``) and by
:mod:`reconciler.apply.sync`. The rules:

- One field manager; ``force=true`` only when the live object is ours (it carries our
  ApplySet's part-of label). An object of the same name that is not ours is a CONFLICT
  (naming its managers from managedFields) and is left alone
  (:mod:`~reconciler.apply.ownership`).
- No request at all for an object whose applied-hash annotation equals the desired hash
  and whose live fields still hold every desired value exactly (no drift, see
  :mod:`reconciler.apply.in_sync`): it is UNCHANGED. Every other object gets a request: a
  server-side apply, or in a dry run a server-side dry-run apply (``dryRun=All``), whose
  answer decides between CONFIGURED and UNCHANGED. A live object held as a thin copy
  (:mod:`~reconciler.apply.thin_copies`) is read again whole before it is compared or
  applied: one GET for an object that changed, none for one that did not.
- A 409 is a CONFLICT, a 422 (an immutable field, an invalid object) a FAILED with the
  server's message: never delete-and-recreate. 403, 404 and 5xx are FAILED; the other
  objects still apply.
- A kind the cluster does not serve is FAILED with one message per kind naming its operator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any

from reconciler.apply import fields, in_sync, ordering, ownership, thin_copies
from reconciler.apply.applysets import ApplySet
from reconciler.cluster import api, discovery_cache
from reconciler.structs import labels
from reconciler.structs.changesets import Action, ChangeSetEntry
from reconciler.structs.errors import ClusterError, MissingCRDError
from reconciler.structs.manifests import Manifest, ObjectRef, split_api_version

if TYPE_CHECKING:
    from reconciler.apply.manager import Key, ResourceManager

APPLY_PATCH = "application/apply-patch+yaml"


@dataclass
class Applied:
    """The outcome of applying one object: its entry and the object as it now is.

    ``live`` is the server's answer (the dry-run result in a dry run), the unchanged live
    object, or None when nothing is there (a failed create, a conflict: the other object).
    """

    entry: ChangeSetEntry
    live: Manifest | None


@dataclass
class StageContext:
    """What one sync knows across stages.

    ``planned_namespaces`` and ``planned_kinds``: in a dry run, Namespaces and CRDs that
    would be created, so objects inside them are reported as created without a request
    the server could only answer with 404. ``missing``: kinds found not served.
    ``verified``: the manager's memo of objects found in sync (see
    :func:`~reconciler.apply.in_sync.needs_apply`).
    """

    dry_run: bool = False
    diff: bool = False
    verified: MutableMapping[str, Any] | None = None
    planned_namespaces: set[str] = field(default_factory=set)
    planned_kinds: set[tuple[str, str]] = field(default_factory=set)
    missing: dict[tuple[str, str], MissingCRDError] = field(default_factory=dict)


def prepare(
    obj: Manifest,
    applyset: ApplySet,
    *,
    live: Manifest | None = None,
    verified: Mapping[str, Any] | None = None,
    field_manager: str = labels.FIELD_MANAGER,
) -> Manifest:
    """Return a copy of ``obj`` labelled as a member of ``applyset``, with its applied hash.

    The caller's dict is not modified. The hash covers everything we send (labels
    included), so any change to the desired object changes it. The copy is made from the
    canonical JSON the hash is taken of (one encoding for both: its keys come sorted), so it
    holds JSON data only (tuples become lists); a value JSON cannot hold raises TypeError.

    With ``live`` (the object in the cluster) and ``verified`` (the memo of
    :func:`~reconciler.apply.in_sync.needs_apply`): when ``verified`` already holds the
    pair, the object is in sync and will be neither sent nor compared, so it is not copied
    whole: its top level and metadata are new dicts, what lies below them is the caller's
    (most of a settled environment's serving objects; copying them was half of this
    function's cost).
    """
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["labels"] = {**(meta.get("labels") or {}), labels.APPLYSET_PART_OF: applyset.id}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        rest = {k: v for k, v in annotations.items() if k != labels.SPEC_HASH}
        if rest:
            meta["annotations"] = rest
        else:
            del meta["annotations"]
    labelled = {**obj, "metadata": meta}
    text = fields.canonical_json(labelled)
    applied = fields.hash_of_text(text)
    if (
        live is not None
        and verified is not None
        and fields.applied_hash(live) == applied
        and in_sync.known_in_sync(live, verified, field_manager)
    ):
        meta["annotations"] = {**(meta.get("annotations") or {}), labels.SPEC_HASH: applied}
        return labelled
    out: Manifest = json.loads(text)
    out["metadata"].setdefault("annotations", {})[labels.SPEC_HASH] = applied
    return out


def _retried(n: int) -> str:
    return f"retried {n} time{'s' if n != 1 else ''}" if n else ""


def failure_entry(manager: ResourceManager, ref: ObjectRef, exc: api.ApiError) -> ChangeSetEntry:
    """Map an API error on one object to its entry (409 conflict, others failed).

    A 404 for the resource itself (not for a namespace) means the kind is no longer served:
    the discovery cache forgets its group.
    """
    message = str(exc)
    if exc.status == 409:
        return ChangeSetEntry(ref, Action.CONFLICT, f"conflict: {message}")
    if (
        exc.status == 404
        and (exc.details or {}).get("kind") != "namespaces"
        and "could not find the requested resource" in message
    ):
        manager.discovery.invalidate(ref.group)
        message = str(discovery_cache.missing_kind_error(ref.group, ref.version, ref.kind))
    labels_ = {400: "bad request", 403: "forbidden", 422: "invalid", 404: "not found"}
    prefix = labels_.get(exc.status, f"HTTP {exc.status}" if exc.status else "")
    text = f"{prefix}: {message}" if prefix and not message.lower().startswith(prefix) else message
    return ChangeSetEntry(ref, Action.FAILED, text)


def apply_one(
    manager: ResourceManager,
    obj: Manifest,
    *,
    live: Manifest | None,
    dry_run: bool = False,
    diff: bool = False,
    resource: discovery_cache.ApiResource | None = None,
) -> Applied:
    """Server-side apply one prepared object; ``live`` is what is in the cluster (or None).

    ``force`` only if ``live`` is ours (same part-of label, or, without one, our field
    manager applied it); a live object that is not ours is a CONFLICT and no request is
    made. In a dry run the server computes the result (``dryRun=All``) and nothing is
    stored; ``diff`` fills the entry's diff for updates. The action is CREATED without a
    live object, CONFIGURED if the result differs from live in more than server-owned
    fields and bookkeeping, else UNCHANGED. A thin ``live`` is read again whole first (one
    GET), and is UNCHANGED without a write if that one is in sync.
    """
    ref = ObjectRef.of(obj)
    if resource is None:
        try:
            resource = manager.resource_of(obj)
        except MissingCRDError as exc:
            return Applied(ChangeSetEntry(ref, Action.FAILED, str(exc)), None)
    if live is not None and thin_copies.is_thin(live):
        try:
            live = manager.get(ref)  # what the answer is compared with, whole
        except ClusterError as exc:
            return Applied(ChangeSetEntry(ref, Action.FAILED, f"read it whole: {exc}"), None)
        if live is not None and not in_sync.needs_apply(
            obj, live, field_manager=manager.field_manager, verified=manager.verified
        ):
            return Applied(ChangeSetEntry(ref, Action.UNCHANGED), live)
    if live is not None and not ownership.is_ours(manager, obj, live):
        return Applied(ownership.conflict_entry(ref, live), live)
    query: list[tuple[str, Any]] = [
        ("fieldManager", manager.field_manager),
        ("force", "true" if live is not None else "false"),
        # Unknown fields are errors (as ``kubectl apply --server-side``): silently dropped
        # fields would also look like drift forever.
        ("fieldValidation", "Strict"),
    ]
    if dry_run:
        query.append(api.DRY_RUN)
    namespace = ref.namespace if resource.namespaced else ""
    try:
        resp = manager.call(
            "PATCH",
            resource.path(namespace, ref.name),
            query=query,
            body=obj,
            content_type=APPLY_PATCH,
        )
    except api.ApiError as exc:
        return Applied(failure_entry(manager, ref, exc), live)
    result = resource.typed(dict(resp.data or {}))
    message = _retried(resp.retries)
    if live is None:
        return Applied(ChangeSetEntry(ref, Action.CREATED, message), result)
    if fields.same_state(live, result):
        return Applied(ChangeSetEntry(ref, Action.UNCHANGED, message), result)
    text = fields.diff_objects(live, result, name=str(ref)) if diff else ""
    return Applied(ChangeSetEntry(ref, Action.CONFIGURED, message, text), result)


def normalise_scope(
    obj: Manifest, resource: discovery_cache.ApiResource, default_ns: str
) -> Manifest:
    """Give a namespaced object without a namespace ``default_ns``; drop a cluster-scoped
    object's namespace (the server would ignore it, but keys must match live objects)."""
    meta = obj.setdefault("metadata", {})
    if resource.namespaced and not meta.get("namespace"):
        meta["namespace"] = default_ns
    elif not resource.namespaced and "namespace" in meta:
        del meta["namespace"]
    return obj


def use_foreign_namespace(
    manager: ResourceManager, obj: Manifest, live: Manifest, *, dry_run: bool
) -> Applied:
    """Use a Namespace we did not create as it is: a SKIPPED entry with a note.

    Only the bookkeeping annotations
    (:data:`~reconciler.apply.ownership.BOOKKEEPING_ANNOTATIONS`) are applied, with our
    field manager and without force (a server-side apply of those keys alone, so no label
    and no other field is touched); nothing is sent when they already hold.
    """
    ref = ObjectRef.of(obj)
    wanted = {
        k: v
        for k, v in ((obj.get("metadata") or {}).get("annotations") or {}).items()
        if k in ownership.BOOKKEEPING_ANNOTATIONS
    }
    have = (live.get("metadata") or {}).get("annotations") or {}
    note = ChangeSetEntry(ref, Action.SKIPPED, ownership.FOREIGN_NAMESPACE_NOTE)
    if all(have.get(k) == v for k, v in wanted.items()):
        return Applied(note, live)
    if dry_run:
        meta = dict(live.get("metadata") or {})
        meta["annotations"] = {**have, **wanted}
        return Applied(note, {**live, "metadata": meta})
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ref.name, "annotations": wanted},
    }
    try:
        resp = manager.call(
            "PATCH",
            f"/api/v1/namespaces/{ref.name}",
            query=[("fieldManager", manager.field_manager), ("force", "false")],
            body=body,
            content_type=APPLY_PATCH,
        )
    except api.ApiError as exc:
        return Applied(failure_entry(manager, ref, exc), live)
    result = dict(resp.data or {}, kind="Namespace", apiVersion="v1")
    return Applied(note, result)


def check_kinds(manager: ResourceManager, objs: list[Manifest], ctx: StageContext) -> None:
    """Record in ``ctx.missing`` every kind of ``objs`` the cluster does not serve.

    Costs at most one discovery request per new group-version; kinds a dry run specs to
    create (their CRD is in the same sync) are not missing.
    """
    seen: set[tuple[str, str]] = set()
    for obj in objs:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        if (api_version, kind) in seen:
            continue
        seen.add((api_version, kind))
        group, version = split_api_version(api_version)
        if (group, kind) in ctx.missing or (group, kind) in ctx.planned_kinds:
            continue
        try:
            manager.resource_for(group, version, kind)
        except MissingCRDError as exc:
            ctx.missing[(group, kind)] = exc


@dataclass
class _Item:
    """One object of a stage: its identity, how it is served (None: not served), outcome."""

    obj: Manifest
    ref: ObjectRef
    resource: discovery_cache.ApiResource | None
    rank: int
    applied: Applied | None = None


def apply_stage(
    manager: ResourceManager,
    objs: list[Manifest],
    *,
    applyset: ApplySet,
    live: Mapping[Key, Manifest],
    ctx: StageContext,
) -> list[Applied]:
    """Apply one stage of prepared objects in reconcile order; return one Applied each.

    Every object is first decided locally: unchanged (hash equal, no drift), not served,
    a conflict, or (dry run) inside a namespace or CRD still to be created. Only the rest
    cost a request; those of one rank of
    :data:`~reconciler.apply.ordering.RECONCILE_ORDER` go concurrently (``manager.workers``),
    ranks one after another. New objects first cost one LIST per kind and namespace, to
    find same-named objects we do not own.
    """
    items: list[_Item] = []
    for obj in objs:
        ref = ObjectRef.of(obj)
        rank = ordering.rank(ref.group, ref.kind)
        try:
            resource = manager.resource_for(ref.group, ref.version, ref.kind)
        except MissingCRDError as exc:
            if (ref.group, ref.kind) not in ctx.planned_kinds:
                ctx.missing.setdefault((ref.group, ref.kind), exc)
            items.append(_Item(obj, ref, None, rank))
            continue
        if bool(ref.namespace) != resource.namespaced:
            obj = normalise_scope(obj, resource, applyset.namespace)
            ref = ObjectRef.of(obj)
        items.append(_Item(obj, ref, resource, rank))
    items.sort(key=lambda i: (i.rank, i.ref.kind, i.ref.namespace, i.ref.name))

    new = [
        (i.obj, i.resource)
        for i in items
        if i.resource is not None
        and i.ref.key not in live
        and not (ctx.dry_run and i.ref.namespace in ctx.planned_namespaces)
    ]
    foreign: dict[Key, Manifest] = {}
    unowned = ownership.find_unowned(manager, new, applyset, foreign) if new else {}

    for item in items:
        if item.ref.key in foreign:
            item.applied = use_foreign_namespace(
                manager, item.obj, foreign[item.ref.key], dry_run=ctx.dry_run
            )
            continue
        item.applied = _decide(item, live.get(item.ref.key), unowned, ctx, manager.field_manager)

    def send(item: _Item) -> Applied:
        return apply_one(
            manager,
            item.obj,
            live=live.get(item.ref.key),
            dry_run=ctx.dry_run,
            diff=ctx.diff,
            resource=item.resource,
        )

    for _, group in groupby(items, key=lambda i: i.rank):
        batch = [i for i in group if i.applied is None]
        if len(batch) <= 1 or manager.workers == 1:
            results = [send(i) for i in batch]
        else:
            with ThreadPoolExecutor(max_workers=min(manager.workers, len(batch))) as pool:
                results = list(pool.map(send, batch))
        for item, applied in zip(batch, results, strict=True):
            item.applied = applied
            _after_apply(manager, item.obj, applied, ctx)
    return [i.applied for i in items if i.applied is not None]


def _decide(
    item: _Item,
    current: Manifest | None,
    unowned: Mapping[Key, Manifest],
    ctx: StageContext,
    field_manager: str,
) -> Applied | None:
    """Return the outcome of an object that needs no request, or None if it needs one."""
    ref = item.ref
    if item.resource is None:
        if (ref.group, ref.kind) in ctx.planned_kinds:
            return Applied(ChangeSetEntry(ref, Action.CREATED, "once its CRD exists"), None)
        return Applied(
            ChangeSetEntry(ref, Action.FAILED, str(ctx.missing[ref.group, ref.kind])), None
        )
    if current is not None:
        return (
            None
            if in_sync.needs_apply(
                item.obj, current, field_manager=field_manager, verified=ctx.verified
            )
            else Applied(ChangeSetEntry(ref, Action.UNCHANGED), current)
        )
    if ref.key in unowned:
        return Applied(ownership.conflict_entry(ref, unowned[ref.key]), unowned[ref.key])
    if ctx.dry_run and ref.namespace in ctx.planned_namespaces:
        return Applied(ChangeSetEntry(ref, Action.CREATED, "once its namespace exists"), None)
    return None


def _after_apply(
    manager: ResourceManager, obj: Manifest, applied: Applied, ctx: StageContext
) -> None:
    """Keep discovery and the dry-run spec in step with CRDs and Namespaces just applied."""
    ref = ObjectRef.of(obj)
    action = applied.entry.action
    if (ref.group, ref.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        spec = obj.get("spec") or {}
        group = str(spec.get("group", ""))
        kind = str((spec.get("names") or {}).get("kind", ""))
        if action in (Action.CREATED, Action.CONFIGURED) and not ctx.dry_run:
            manager.discovery.invalidate(group)
            ctx.missing.pop((group, kind), None)
        elif action is Action.CREATED and ctx.dry_run:
            ctx.planned_kinds.add((group, kind))
    elif (ref.group, ref.kind) == ("", "Namespace") and action is Action.CREATED and ctx.dry_run:
        ctx.planned_namespaces.add(ref.name)


def apply_staged(
    manager: ResourceManager,
    objs: list[Manifest],
    *,
    applyset: ApplySet,
    live: Mapping[Key, Manifest],
    dry_run: bool = False,
    diff: bool = False,
) -> list[Applied]:
    """Apply prepared objects: CRDs and Namespaces first, then the rest in order."""
    ctx = StageContext(dry_run=dry_run, diff=diff, verified=manager.verified)
    first = [o for o in objs if ordering.is_stage_one(o)]
    rest = [o for o in objs if not ordering.is_stage_one(o)]
    out = apply_stage(manager, first, applyset=applyset, live=live, ctx=ctx)
    out += apply_stage(manager, rest, applyset=applyset, live=live, ctx=ctx)
    return out
