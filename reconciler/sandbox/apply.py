"""Server-side apply and managedFields bookkeeping, after structured-merge-diff.

Two entry points, both given the live object (or MISSING on create):

- :func:`apply_config` (``application/apply-patch+yaml``): the config is merged over the
  live object; the applier now owns exactly the config's field set; fields it owned
  before, left out of the config and owned by no other manager, are removed; a field
  another manager owns whose value would change is a conflict (409 listing each field
  in ``details.causes``) unless ``force``, which takes the field over.
- :func:`record_update` (create, PUT, merge/JSON/strategic patch): the fields that an
  update added or changed become the updater's (operation ``Update``, keyed by
  apiVersion) and leave every other manager.

Fields no manager can own are stripped as kube-apiserver strips them (apiVersion, kind,
metadata name/namespace/uid/resourceVersion/...); writes to the main resource of a kind
with a status subresource neither own nor change ``status``, and writes to ``/status``
own only ``status`` (their entries carry ``subresource: status``). Entries are sorted
as the apiserver sorts them: Apply before Update, then by time, manager, version.

Callers: :mod:`.handlers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox import errors, fieldsets
from reconciler.sandbox.fieldsets import FieldSet, Path
from reconciler.sandbox.kinds import ResourceType
from reconciler.sandbox.schemas import Node

STRIPPED: tuple[Path, ...] = (
    ("f:apiVersion",),
    ("f:kind",),
    ("f:metadata",),
    ("f:metadata", "f:name"),
    ("f:metadata", "f:namespace"),
    ("f:metadata", "f:creationTimestamp"),
    ("f:metadata", "f:selfLink"),
    ("f:metadata", "f:uid"),
    ("f:metadata", "f:clusterName"),
    ("f:metadata", "f:generation"),
    ("f:metadata", "f:managedFields"),
    ("f:metadata", "f:resourceVersion"),
)
# Never owned even as subtrees (set by the server alone).
SERVER_SUBTREES: tuple[Path, ...] = (
    ("f:metadata", "f:managedFields"),
    ("f:metadata", "f:deletionTimestamp"),
    ("f:metadata", "f:deletionGracePeriodSeconds"),
)


@dataclass
class Manager:
    """One managedFields entry with its field set decoded."""

    manager: str
    operation: str  # Apply | Update
    api_version: str
    time: str
    subresource: str = ""
    fields: FieldSet = field(default_factory=set)

    def identity(self) -> tuple[str, str, str, str]:
        """Return the key that makes entries distinct (appliers ignore the version)."""
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def describe(self) -> str:
        """Return the manager as conflict messages print it."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Return the ``ManagedFieldsEntry`` JSON object."""
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time:  # an applier whose apply changed nothing has no time yet
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = fieldsets.encode(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def decode_managers(obj: Any) -> list[Manager]:
    """Return the managers recorded in an object's ``metadata.managedFields``."""
    if not isinstance(obj, dict):
        return []
    out: list[Manager] = []
    for e in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(e, dict):
            continue
        out.append(
            Manager(
                manager=str(e.get("manager", "")),
                operation=str(e.get("operation", "Update")),
                api_version=str(e.get("apiVersion", "")),
                time=str(e.get("time", "")),
                subresource=str(e.get("subresource", "")),
                fields=fieldsets.decode(e.get("fieldsV1")),
            )
        )
    return out


def encode_managers(managers: list[Manager]) -> list[dict[str, Any]]:
    """Return sorted ``managedFields`` JSON (empty managers dropped)."""
    kept = [m for m in managers if m.fields]
    kept.sort(key=lambda m: (m.operation, m.time, m.manager, m.api_version, m.subresource))
    return [m.to_json() for m in kept]


def _scope(rt: ResourceType, subresource: str) -> tuple[tuple[Path, ...], Path | None]:
    """Return (ignored subtrees, only-subtree) of a write to the resource or its status."""
    if subresource == "status":
        return (), ("f:status",)
    if rt.status:
        return (("f:status",),), None
    return (), None


def _owned(paths: FieldSet, rt: ResourceType, subresource: str) -> FieldSet:
    ignored, only = _scope(rt, subresource)
    out = fieldsets.strip(paths, STRIPPED, ignored + SERVER_SUBTREES)
    if only is not None:
        out = {p for p in out if p[: len(only)] == only}
    return out


def _bare(obj: Any) -> Any:
    """Return the object without managedFields (shallow copies; input untouched)."""
    if not isinstance(obj, dict):
        return obj
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = dict(obj)
        obj["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return obj


def restrict_config(rt: ResourceType, config: dict[str, Any], subresource: str) -> dict[str, Any]:
    """Drop what a write to this endpoint may not set (status, or all but status)."""
    if subresource == "status":
        out = {k: v for k, v in config.items() if k in ("apiVersion", "kind", "status")}
        meta = config.get("metadata") or {}
        out["metadata"] = {k: meta[k] for k in ("name", "namespace") if k in meta}
        return out
    if rt.status and "status" in config:
        return {k: v for k, v in config.items() if k != "status"}
    return config


def apply_config(
    rt: ResourceType,
    live: Any,
    config: dict[str, Any],
    *,
    manager: str,
    force: bool,
    subresource: str,
    now: str,
) -> tuple[dict[str, Any], list[Manager]]:
    """Return (new object, managers) of applying ``config`` over ``live`` (MISSING: create).

    Raises 409 Conflict listing every conflicting field unless ``force``; 400 if the
    config sets managedFields.
    """
    meta = config.get("metadata") or {}
    if meta.get("managedFields"):
        raise errors.bad_request("metadata.managedFields must be nil")
    root = rt.root()
    config = restrict_config(rt, config, subresource)
    managers = decode_managers(live)
    ident = (manager, "Apply", "", subresource)
    mine = next((m for m in managers if m.identity() == ident), None)
    last = mine.fields if mine else set()
    new_set = _owned(fieldsets.to_field_set(config, root), rt, subresource)
    base = _bare(live)
    merged = fieldsets.merge(base, config, root)
    others = [m for m in managers if m is not mine]
    if last:
        owned_now: FieldSet = set(new_set)
        for m in others:
            owned_now |= m.fields
        gone = fieldsets.named_fields_as_members(last, root) - fieldsets.named_fields_as_members(
            owned_now, root
        )
        gone -= set(STRIPPED)
        if gone:
            merged = fieldsets.remove_paths(merged, gone, root)
    added, modified, removed = _changes(rt, base, merged, root, subresource)
    changed = added | modified
    conflicts: list[tuple[Manager, Path]] = []
    for m in others:
        for p in sorted(m.fields & changed):
            conflicts.append((m, p))
    if conflicts and not force:
        raise conflict_error(conflicts)
    for m in others:
        m.fields -= changed
        m.fields -= removed
    if mine is None:
        mine = Manager(manager, "Apply", rt.api_version, "", subresource)
        managers.append(mine)
    if merged != base:  # the time says when this applier last changed the object
        mine.time = now
    mine.fields = new_set
    mine.api_version = rt.api_version
    return merged, [m for m in managers if m.fields]


def _changes(
    rt: ResourceType, old: Any, new: Any, root: Node, subresource: str
) -> tuple[FieldSet, FieldSet, FieldSet]:
    added, modified, removed = fieldsets.compare(old, new, root)
    return (
        _owned(added, rt, subresource),
        _owned(modified, rt, subresource),
        _owned(removed, rt, subresource),
    )


class ApplyConflict(errors.ApiError):
    """A 409 from an apply; ``conflicts`` lists (manager, path) of every conflict."""

    def __init__(
        self, conflicts: list[tuple[Manager, Path]], message: str, details: dict[str, Any]
    ) -> None:
        super().__init__(409, "Conflict", message, details)
        self.conflicts = conflicts


def conflict_error(conflicts: list[tuple[Manager, Path]]) -> ApplyConflict:
    """Return the 409 of an apply that conflicts, worded as kube-apiserver words it."""
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {m.describe()}",
            "field": fieldsets.pretty(p),
        }
        for m, p in conflicts
    ]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        text = f"Apply failed with 1 conflict: conflict with {m.describe()}: {fieldsets.pretty(p)}"
    else:
        lines: list[str] = []
        by_manager: dict[str, list[Path]] = {}
        for m, p in conflicts:
            by_manager.setdefault(m.describe(), []).append(p)
        for name in sorted(by_manager):
            lines.append(f"conflicts with {name}:")
            lines.extend(f"- {fieldsets.pretty(p)}" for p in by_manager[name])
        text = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApplyConflict(conflicts, text, {"causes": causes})


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def allowed_from_last_applied(rt: ResourceType, live: Any) -> FieldSet:
    """Return the fields kubectl's client-side apply last set that still hold those values.

    kube-apiserver lets the ``kubectl`` applier take these over from
    ``kubectl-client-side-apply`` without a conflict (the upgrade from client-side to
    server-side apply); empty without the last-applied annotation.
    """
    import json

    if not isinstance(live, dict):
        return set()
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return set()
    try:
        last = json.loads(text)
    except ValueError:
        return set()
    if not isinstance(last, dict):
        return set()
    root = rt.root()
    last_set = fieldsets.to_field_set(last, root)
    added, modified, removed = fieldsets.compare(last, _bare(live), root)
    return last_set - modified - added - removed


def sync_last_applied(live: Any, new: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    """Return ``new`` with kubectl's last-applied annotation rewritten to ``applied``.

    kube-apiserver keeps the client-side apply annotation in step when ``kubectl``
    applies server-side an object that has one, so a later client-side apply still
    works: the applied configuration without that annotation, as compact JSON with
    sorted keys and a newline. Ownership is not affected.
    """
    import json

    annotations = (
        ((live.get("metadata") or {}).get("annotations") or {}) if isinstance(live, dict) else {}
    )
    if LAST_APPLIED not in annotations:
        return new
    config = json.loads(json.dumps(applied))
    meta = config.get("metadata") or {}
    kept = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if kept:
        meta["annotations"] = kept
    else:
        meta.pop("annotations", None)
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    out = dict(new)
    out["metadata"] = dict(new.get("metadata") or {})
    out["metadata"]["annotations"] = dict(out["metadata"].get("annotations") or {})
    out["metadata"]["annotations"][LAST_APPLIED] = text
    return out


def record_update(
    rt: ResourceType,
    live: Any,
    new: dict[str, Any],
    *,
    manager: str,
    subresource: str,
    now: str,
) -> list[Manager]:
    """Return the managers after an Update-operation write from ``live`` to ``new``.

    ``new.metadata.managedFields``: absent keeps the live entries; a different list
    replaces them (an empty list clears them, and this write is then not recorded).
    """
    live_managers = decode_managers(live)
    incoming = (new.get("metadata") or {}).get("managedFields")
    reset = False
    if incoming is not None and _bare_entries(incoming) != _bare_entries(
        (live.get("metadata") or {}).get("managedFields") if isinstance(live, dict) else None
    ):
        managers = decode_managers(new)
        reset = not incoming
    else:
        managers = live_managers
    if reset:
        return []
    root = rt.root()
    added, modified, removed = _changes(rt, _bare(live), _bare(new), root, subresource)
    # A custom resource is untyped: every map it gains is added (and owned) itself. A
    # built-in's value structs are in the Go zero object already, so only what they
    # contain is.
    changed = {p for p in added | modified if not rt.builtin or _ownable_update_path(p, root)}
    ident = (manager, "Update", rt.api_version, subresource)
    mine = next((m for m in managers if m.identity() == ident), None)
    for m in managers:
        if m is not mine:
            m.fields -= changed
            m.fields -= removed
    if mine is None:
        mine = Manager(manager, "Update", rt.api_version, now, subresource)
        managers.append(mine)
    before = set(mine.fields)
    mine.fields = (mine.fields - removed) | changed
    if mine.fields != before or changed or removed:
        mine.time = now
    return [m for m in managers if m.fields]


def _bare_entries(entries: Any) -> Any:
    return entries or []


def _ownable_update_path(path: Path, root: Node) -> bool:
    """False for granular struct fields (Go value structs are never 'added' themselves)."""
    node = root
    for pe in path:
        node = node.child(pe[2:]) if pe.startswith("f:") else node.item()
    return not (node.kind == "struct" and not node.atomic and path[-1].startswith("f:"))


def now_rfc3339(t: float) -> str:
    """Return ``t`` (epoch seconds) as RFC 3339 UTC with seconds precision."""
    import time as _time

    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(t))
