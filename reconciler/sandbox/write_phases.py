"""The phases every write goes through before storage, in kube-apiserver's order.

:meth:`reconciler.sandbox.handlers.Api._commit` runs them one after another on a
:class:`Write` (the endpoint, the live object, the object to write):

1. :func:`scope_to_endpoint`: a status write keeps everything but the status of the
   live object; a main-resource write keeps the live status.
2. :func:`restore_server_fields`: apiVersion/kind/name/namespace from the URL; uid,
   creationTimestamp and deletion fields are the server's (new on create, kept on update).
3. :func:`forbid_new_finalizers`: a deleting object takes no new finalizer (422).
4. :func:`default`: the kind's server-side defaults.
5. :func:`check_owner_references`: owner references without their keys (422), before
   the field managers key that list by uid.
6. :func:`record_managed_fields`: who owns which field (Apply results are given),
   computed before the create strategy so what it adds belongs to nobody.
7. :func:`prepare_for_create`: the create strategy (a Job's selector, a Pod's status).
8. :func:`validate`: 422 Invalid with every cause.
9. :func:`bump_generation`: ``metadata.generation`` +1 when anything outside metadata
   and status changed.
10. :func:`finish_metadata`: managedFields encoded, metadata keys in the server's order.

Storing (or not: a no-op or a dry run) is the caller's. Callers: :mod:`.handlers`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox import apply, defaults, errors, object_validation
from reconciler.sandbox.fieldsets import MISSING
from reconciler.sandbox.kinds import ResourceType

Obj = dict[str, Any]

_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)


def _clone(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


@dataclass
class Write:
    """One write in flight: where it goes, what is stored, what it will store."""

    rt: ResourceType
    namespace: str
    name: str
    live: Obj | None
    new: Obj
    sub: str
    manager: str
    applied: list[apply.Manager] | None  # the managers an Apply computed, else None
    now: str
    managers: list[apply.Manager] | None = None

    @property
    def create(self) -> bool:
        """True when nothing is stored under this name yet."""
        return self.live is None

    @property
    def meta(self) -> Obj:
        """The new object's metadata (a dict once :func:`restore_server_fields` ran)."""
        meta: Obj = self.new["metadata"]
        return meta


def scope_to_endpoint(w: Write) -> None:
    """A status write changes only the status (and, for an update, managedFields)."""
    if w.sub != "status" or w.live is None:
        return
    keep = _clone(w.live)
    if "status" in w.new:
        keep["status"] = w.new["status"]
    else:
        keep.pop("status", None)
    if w.applied is None and "managedFields" in (w.new.get("metadata") or {}):
        keep["metadata"]["managedFields"] = w.new["metadata"]["managedFields"]
    w.new = keep


def restore_server_fields(w: Write) -> None:
    """Identity from the URL; server-owned metadata and (main endpoint) status restored."""
    rt, new = w.rt, w.new
    new["apiVersion"] = rt.api_version
    new["kind"] = rt.kind
    meta = new.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    meta["name"] = w.name
    if rt.namespaced:
        meta["namespace"] = w.namespace
    else:
        meta.pop("namespace", None)
    meta.pop("selfLink", None)
    if w.live is None:
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = w.now
        for k in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            meta.pop(k, None)
        if rt.status:
            if rt.builtin:
                new["status"] = {}
            else:
                new.pop("status", None)
        return
    lmeta = w.live["metadata"]
    for k in _SERVER_FIELDS:
        if k in lmeta:
            meta[k] = lmeta[k]
        else:
            meta.pop(k, None)
    meta["resourceVersion"] = lmeta["resourceVersion"]
    if rt.status and w.sub == "":
        if "status" in w.live:
            new["status"] = _clone(w.live["status"])
        else:
            new.pop("status", None)


def forbid_new_finalizers(w: Write) -> None:
    """Raise 422 when a write adds a finalizer to an object being deleted."""
    if w.live is None or not w.live["metadata"].get("deletionTimestamp"):
        return
    added = set(w.meta.get("finalizers") or []) - set(w.live["metadata"].get("finalizers") or [])
    if added:
        listed = ", ".join(json.dumps(f) for f in sorted(added))
        raise errors.invalid(
            w.rt.kind,
            w.rt.group,
            w.name,
            [
                (
                    "FieldValueForbidden",
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being "
                    f"deleted, found new finalizers []string{{{listed}}}",
                )
            ],
        )


def default(w: Write) -> None:
    """Decode as Go would (empty optional maps and lists dropped: in the whole object of a
    built-in kind, in the metadata of a custom resource; a custom resource's declared
    nulls pruned), then fill the kind's server-side defaults (built-in kinds)."""
    root = w.rt.root()
    if w.rt.builtin:
        defaults.drop_empty(w.new, root)
        defaults.apply_defaults(w.rt.group, w.rt.kind, w.new, w.live, create=False)
    else:
        defaults.drop_empty(w.meta, root.child("metadata"))
        defaults.prune_nulls(w.new, root)


def check_owner_references(w: Write) -> None:
    """Refuse owner references without their keys, or with two controllers, before the
    field managers are computed (they key the list by uid): 422 as kube-apiserver's
    validation says it. (:func:`validate` does not check them again.)"""
    causes = object_validation.owner_reference_causes(w.meta.get("ownerReferences"))
    if causes:
        raise errors.invalid(w.rt.kind, w.rt.group, w.name, causes)


def record_managed_fields(w: Write) -> None:
    """Compute the field managers after this write (an Update by ``w.manager``)."""
    if w.applied is not None:
        w.managers = w.applied
        return
    w.managers = apply.record_update(
        w.rt,
        w.live if w.live is not None else MISSING,
        w.new,
        manager=w.manager,
        subresource=w.sub,
        now=w.now,
    )


def prepare_for_create(w: Write) -> None:
    """Run the kind's create strategy (fields nobody owns)."""
    if w.create and w.rt.builtin:
        defaults.prepare_for_create(w.rt.group, w.rt.kind, w.new)


def validate(w: Write) -> None:
    """Raise 422 Invalid listing every cause."""
    object_validation.validate(w.rt, w.new, w.live, w.sub)


def bump_generation(w: Write) -> None:
    """Set ``metadata.generation``: 1 on create, +1 when the spec (not metadata or
    status) changed; kinds without a generation have none."""
    rt, meta = w.rt, w.meta
    if not rt.generation:
        meta.pop("generation", None)
    elif w.live is None:
        meta["generation"] = 1
    else:
        old_gen = int(w.live["metadata"].get("generation") or 1)
        skip = ("metadata", "status") if (rt.status or rt.builtin) else ("metadata",)
        changed = {k: v for k, v in w.new.items() if k not in skip} != {
            k: v for k, v in w.live.items() if k not in skip
        }
        meta["generation"] = old_gen + 1 if changed else old_gen


def finish_metadata(w: Write) -> None:
    """Encode managedFields and order metadata keys as kube-apiserver prints them."""
    meta = w.meta
    meta["managedFields"] = apply.encode_managers(w.managers or [])
    if not meta["managedFields"]:
        meta.pop("managedFields")
    ordered = {k: meta[k] for k in _META_ORDER if k in meta}
    ordered.update({k: v for k, v in meta.items() if k not in ordered})
    w.new["metadata"] = ordered
