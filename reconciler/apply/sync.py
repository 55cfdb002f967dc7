"""Sync: make one environment instance's objects in the cluster what was rendered, and prune.

Called by the engine (``reconciler sync``, the daemon) and, in dry-run mode with diffs, by
:mod:`reconciler.plan.plans`. The data path, with the requests each step costs:

1. Read the ApplySet parent (1 GET) and list the live members: one LIST per kind (per
   namespace), label-selected by the set's part-of label; kinds are those rendered plus
   those the parent lists, so pruning finds kinds no longer rendered.
2. Stage one: apply CRDs and Namespaces that are new, changed or drifted.
3. Check CRD-backed kinds: a kind the cluster does not serve is ONE error naming its
   operator (``missing_operators``); its objects fail, everything else still syncs.
4. Record the kinds and namespaces about to be used in the parent (superset), if changed.
5. Stage two: apply the rest in :data:`~reconciler.apply.ordering.RECONCILE_ORDER`;
   unchanged objects cost nothing.
6. Prune members no longer rendered, in reverse order, except those protected: objects of
   a pipeline that failed to render, objects ``keep`` protects, and everything (unless
   ``allow_empty``) when the environment rendered nothing, when every pipeline that has
   live objects would go (``resources: []`` in ``pipelines/kustomization.yaml``), or when
   more than ``max_prune_share`` of the owned objects would go at once.
7. Shrink the parent to the kinds and namespaces that still hold members or are rendered
   (a rendered object someone else owns keeps its kind listed), if changed.

An unchanged environment therefore costs one GET and one LIST per kind, and no write.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from reconciler.apply import applysets, fields, manager_apply, manager_delete, ordering
from reconciler.apply.applysets import ApplySet
from reconciler.apply.manager import Key, LiveObjects, ResourceManager
from reconciler.cluster import api
from reconciler.structs import labels
from reconciler.structs.changesets import Action, ChangeSet
from reconciler.structs.errors import ClusterError, MissingCRDError
from reconciler.structs.manifests import Manifest, ObjectRef, key_of, split_api_version

Keep = Callable[[Manifest], "bool | str"]
"""A prune guard: True (or a reason string) keeps a live object that is no longer rendered."""

MAX_PRUNE_SHARE_ENV = "RECONCILER_MAX_PRUNE_SHARE"
DEFAULT_MAX_PRUNE_SHARE = 0.5
MASS_PRUNE_MINIMUM = 4
"""The share guard only holds back prunes of at least this many objects (small sets move)."""


def max_prune_share_setting() -> float:
    """Return ``RECONCILER_MAX_PRUNE_SHARE`` (0 to 1; 1 turns the share guard off), else 0.5.

    A value that is not a number in [0, 1] falls back to the default (the safe side).
    """
    try:
        value = float(os.environ.get(MAX_PRUNE_SHARE_ENV, DEFAULT_MAX_PRUNE_SHARE))
    except ValueError:
        return DEFAULT_MAX_PRUNE_SHARE
    return value if 0.0 <= value <= 1.0 else DEFAULT_MAX_PRUNE_SHARE


@dataclass
class SyncOptions:
    """How to sync; every default is the safe one for a normal reconcile.

    - ``dry_run``: server-side dry run (``dryRun=All``); nothing is stored or deleted.
    - ``allow_empty``: prune even if the environment rendered no objects at all, no
      pipeline at all, or more than ``max_prune_share`` of its owned objects would go.
    - ``max_prune_share``: the share of owned objects one sync may prune (default
      ``RECONCILER_MAX_PRUNE_SHARE``, else 0.5; 1 turns this guard off).
    - ``prune``: delete members that are no longer rendered.
    - ``failed_pipelines``: pipelines that failed to render; their live objects are kept.
    - ``keep``: called with each prune candidate; True (or a reason) keeps it.
    - ``diff``: fill each CONFIGURED entry's diff (plan sets it).
    - ``frozen``: True for a desired object that, once a live member, is never written
      again (a run's step objects: a run is never patched): it is unchanged, no request.
    """

    dry_run: bool = False
    allow_empty: bool = False
    prune: bool = True
    failed_pipelines: frozenset[str] = frozenset()
    keep: Keep | None = None
    diff: bool = False
    max_prune_share: float = field(default_factory=max_prune_share_setting)
    frozen: Callable[[Manifest], bool] | None = None


@dataclass
class SyncResult:
    """What a sync did (or, in a dry run, would do).

    ``live``: every member as it is after the sync (by ``ObjectRef.key``), for health and
    the run engine; objects that failed keep their previous live state. ``missing_operators``:
    one message per kind the cluster does not serve, naming the operator to install.
    ``prune_refused``: the prune guard kept objects Git no longer has (an empty render, every
    pipeline going, too large a share): the cluster still differs from Git.
    ``requests``/``writes``: the HTTP requests this sync made (discovery included).
    """

    changeset: ChangeSet
    live: dict[Key, Manifest] = field(default_factory=dict)
    missing_operators: list[str] = field(default_factory=list)
    prune_refused: bool = False
    requests: int = 0
    writes: int = 0

    @property
    def ok(self) -> bool:
        """True if nothing failed or conflicted."""
        return not self.changeset.failed


def sync_objects(
    manager: ResourceManager,
    *,
    applyset: ApplySet,
    desired: list[Manifest],
    options: SyncOptions | None = None,
    live: LiveObjects | None = None,
) -> SyncResult:
    """Apply ``desired`` to the cluster as members of ``applyset`` and prune the rest.

    ``live``: the result of ``manager.list_live(applyset, ...)`` made earlier in the same
    reconcile; it is reused (parent and lists), and only kinds or namespaces it did not
    cover are listed. ``desired`` is not modified. Errors on single objects become entries (the rest still
    syncs); a parent owned by another tool is one CONFLICT entry and nothing else happens.
    Raises ClusterError only if the cluster cannot be read at all (the parent GET fails).
    """
    return _Sync(manager, applyset, options or SyncOptions()).run(desired, live)


class _Sync:
    """One sync's state, so that each step of the module docstring is one method."""

    def __init__(self, manager: ResourceManager, applyset: ApplySet, options: SyncOptions):
        self.m = manager
        self.applyset = applyset
        self.options = options
        self.changeset = ChangeSet()
        self.ctx = manager_apply.StageContext(
            dry_run=options.dry_run, diff=options.diff, verified=manager.verified
        )
        self.after: dict[Key, Manifest] = {}
        self.parent: Manifest | None = None
        self.unserved: set[tuple[str, str]] = set()
        self.keys: list[Key] = []
        self.prune_refused = False

    def run(self, desired: list[Manifest], listed: LiveObjects | None) -> SyncResult:
        start_requests = self.m.request_count()
        start_writes = self.m.stats.writes
        if listed is None:
            self.m.discovery.forget_missing()
        objs = self._prepare(desired, listed)
        self.parent = (
            listed.parent
            if listed is not None and listed.parent_read
            else self.m.get(self.applyset.parent_ref)
        )
        if self.parent is not None and self._foreign_parent():
            return self._result(start_requests, start_writes)
        live_state = self._list_live(objs, listed)
        live: dict[Key, Manifest] = dict(live_state)
        self.after = dict(live)

        first = [o for o in objs if ordering.is_stage_one(o)]
        rest = self._unfrozen([o for o in objs if not ordering.is_stage_one(o)], live)
        self._record(
            manager_apply.apply_stage(
                self.m, first, applyset=self.applyset, live=live, ctx=self.ctx
            )
        )
        manager_apply.check_kinds(self.m, rest, self.ctx)
        self.unserved = set(live_state.missing) | set(self.ctx.missing)
        parent_ok = self._update_parent(objs, live, superset=True)
        if parent_ok:
            self._record(
                manager_apply.apply_stage(
                    self.m, rest, applyset=self.applyset, live=live, ctx=self.ctx
                )
            )
        else:
            for obj in rest:
                self.changeset.add(
                    ObjectRef.of(obj),
                    Action.SKIPPED,
                    f"not applied: the ApplySet parent {self.applyset.parent_ref} "
                    "could not be written",
                )
        pruned_all = parent_ok and self._prune(objs, live_state)
        if parent_ok:
            self._update_parent(objs, live, superset=not pruned_all)
        return self._result(start_requests, start_writes)

    # -- steps ------------------------------------------------------------------------

    def _prepare(self, desired: list[Manifest], listed: LiveObjects | None) -> list[Manifest]:
        """Label and hash copies of the desired objects; a duplicate key fails.

        A frozen object already live in ``listed`` is kept as it is (no copy, no hash): it
        is never sent nor compared (:meth:`_unfrozen`), only its key, kind and labels are
        read, and labelling does not change those. Most of a settled environment's objects
        are such step objects, so a no-op does not copy and hash them every time. One the
        manager's memo already knows in sync with its live object is hashed, not copied
        whole (see :func:`manager_apply.prepare`).
        """
        out: list[Manifest] = []
        seen: set[Key] = set()
        for obj in desired:
            key = key_of(obj)  # labelling and hashing leave it as it is
            if self._frozen_live(obj, key, listed):
                prepared = obj
            else:
                prepared = manager_apply.prepare(
                    obj,
                    self.applyset,
                    live=listed.get(key) if listed is not None else None,
                    verified=self.m.verified,
                    field_manager=self.m.field_manager,
                )
            if key in seen:
                self.changeset.add(
                    ObjectRef.of(prepared), Action.FAILED, "rendered twice; the first one is used"
                )
                continue
            seen.add(key)
            out.append(prepared)
        return out

    def _frozen_live(self, obj: Manifest, key: Key, listed: LiveObjects | None) -> bool:
        """True for a frozen object (not of stage one, key ``key``) ``listed`` already holds."""
        frozen = self.options.frozen
        return (
            frozen is not None
            and listed is not None
            and frozen(obj)
            and key in listed
            and not ordering.is_stage_one(obj)
        )

    def _unfrozen(self, objs: list[Manifest], live: dict[Key, Manifest]) -> list[Manifest]:
        """Return ``objs`` less the frozen ones already live (each one UNCHANGED, no request)."""
        if self.options.frozen is None:
            return objs
        out: list[Manifest] = []
        for obj in objs:
            if key_of(obj) in live and self.options.frozen(obj):
                self.changeset.add(ObjectRef.of(obj), Action.UNCHANGED)
            else:
                out.append(obj)
        return out

    def _foreign_parent(self) -> bool:
        """Refuse a parent another tool manages (KEP-3659: never mutate it)."""
        tooling = applysets.parent_tooling(self.parent)
        if applysets.tooling_name(tooling) == applysets.TOOLING_NAME:
            return False
        self.changeset.add(
            self.applyset.parent_ref,
            Action.CONFLICT,
            f"ApplySet parent is managed by {tooling or 'an unknown tool'!r}, not "
            f"{applysets.TOOLING_NAME}; nothing applied or pruned",
        )
        return True

    def _list_live(self, objs: list[Manifest], listed: LiveObjects | None) -> LiveObjects:
        """List the members: rendered kinds plus the parent's, less what ``listed`` covers."""
        kinds: set[tuple[str, str]] = set(applysets.parent_group_kinds(self.parent))
        versions: dict[tuple[str, str], str] = {}
        namespaces = {self.applyset.namespace, *applysets.parent_namespaces(self.parent)}
        seen: set[tuple[str, str]] = set()  # (apiVersion, kind): thousands of objects, few kinds
        for obj in objs:
            api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
            if (api_version, kind) not in seen:
                seen.add((api_version, kind))
                group, version = split_api_version(api_version)
                kinds.add((group, kind))
                versions.setdefault((group, kind), version)
            namespace = (obj.get("metadata") or {}).get("namespace")
            if namespace:
                namespaces.add(str(namespace))
        if listed is None:
            return self.m.list_kinds(
                kinds,
                namespaces=namespaces,
                label_selector=self.applyset.selector,
                versions=versions,
            )
        out = LiveObjects()
        out.merge(listed)
        extra_kinds = kinds - listed.kinds
        if extra_kinds:
            out.merge(
                self.m.list_kinds(
                    extra_kinds,
                    namespaces=namespaces,
                    label_selector=self.applyset.selector,
                    versions=versions,
                )
            )
        extra_namespaces = namespaces - listed.namespaces
        if extra_namespaces:
            out.merge(
                self.m.list_kinds(
                    listed.kinds,
                    namespaces=extra_namespaces,
                    label_selector=self.applyset.selector,
                    versions=versions,
                    namespaced_only=True,
                )
            )
        return out

    def _record(self, applied: list[manager_apply.Applied]) -> None:
        for a in applied:
            self.changeset.entries.append(a.entry)
            key = a.entry.subject.key
            if a.entry.action is Action.CONFLICT:
                continue
            if a.live is not None and not self.options.dry_run:
                self.after[key] = a.live

    def _members_after(self, objs: list[Manifest]) -> set[Key]:
        """The keys the parent covers once this sync is done: live members, plus desired ones.

        A desired object that conflicts (someone else's) is counted too: it is still
        rendered, and the parent must list its kind before the apply that finds the
        conflict; dropping the kind after it (to add it back before the next apply) would
        rewrite the parent twice per sync for as long as the conflict lasts. Only kinds the
        cluster does not serve are left out.
        """
        keys = set(self.after)
        keys.update(k for k in self._keys(objs) if (k[0], k[1]) not in self.ctx.missing)
        return keys

    def _keys(self, objs: list[Manifest]) -> list[Key]:
        """Return the keys of the prepared objects (computed once per sync)."""
        if len(self.keys) != len(objs):
            self.keys = [key_of(o) for o in objs]
        return self.keys

    def _update_parent(
        self, objs: list[Manifest], live: dict[Key, Manifest], *, superset: bool
    ) -> bool:
        """Write the parent if its kinds/namespaces annotation must change; False if it failed.

        ``superset``: keep every kind and namespace the parent already lists (before
        applying, and after a prune that did not finish), so no member is ever orphaned.
        """
        members = self._members_after(objs)
        kinds = {(group, kind) for group, kind, _, _ in members}
        namespaces = {ns for _, _, ns, _ in members if ns}
        if superset:
            kinds |= set(applysets.parent_group_kinds(self.parent))
            namespaces |= set(applysets.parent_namespaces(self.parent))
        kinds = {gk for gk in kinds if gk not in self.ctx.missing and gk not in self.unserved}
        if not kinds and self.parent is None:
            return True
        if not kinds and not superset and self.parent is not None:
            return self._delete_parent()
        wanted = self.applyset.parent_manifest(kinds, namespaces)
        if (
            self.parent is not None
            and not fields.drifted(wanted, self.parent, field_manager=self.m.field_manager)
            and (_annotations(self.parent) == _annotations(wanted))
        ):
            return True
        if self.options.dry_run:
            action = Action.CREATED if self.parent is None else Action.CONFIGURED
            if not any(e.subject == self.applyset.parent_ref for e in self.changeset.entries):
                self.changeset.add(self.applyset.parent_ref, action, "ApplySet parent")
            self.parent = wanted
            return True
        try:
            resp = self.m.call(
                "PATCH",
                f"/api/v1/namespaces/{self.applyset.namespace}/configmaps/{self.applyset.name}",
                query=[("fieldManager", self.m.field_manager), ("force", "true")],
                body=wanted,
                content_type=manager_apply.APPLY_PATCH,
            )
        except api.ApiError as exc:
            self.changeset.entries.append(
                manager_apply.failure_entry(self.m, self.applyset.parent_ref, exc)
            )
            return False
        action = Action.CREATED if self.parent is None else Action.CONFIGURED
        self.parent = dict(resp.data or wanted)
        self._note_parent(action)
        return True

    def _delete_parent(self) -> bool:
        """Remove the parent of a set that has no members left (its namespace may be gone)."""
        entry = manager_delete.delete_one(
            self.m, self.applyset.parent_ref, live=self.parent, dry_run=self.options.dry_run
        )
        if entry.message != "already gone":
            self.changeset.entries.append(entry)
        return entry.action is Action.DELETED

    def _note_parent(self, action: Action) -> None:
        for entry in self.changeset.entries:
            if entry.subject == self.applyset.parent_ref:
                return
        self.changeset.add(self.applyset.parent_ref, action, "ApplySet parent")

    def _prune(self, objs: list[Manifest], live_state: LiveObjects) -> bool:
        """Delete members no longer rendered, unless protected; True if nothing was left over.

        Kinds that could not be listed, or are no longer served, are left out (a partial
        view must not drive deletes).
        """
        if not self.options.prune:
            return False
        desired_keys = set(self._keys(objs))
        candidates = [obj for key, obj in live_state.items() if key not in desired_keys]
        complete = not live_state.failures
        for failure in live_state.failures:
            self.changeset.add(
                ObjectRef(failure.group, failure.kind, "", "*"),
                Action.FAILED,
                f"cannot list, nothing of this kind pruned: {failure.error}",
            )
        if not candidates:
            return complete
        if not objs and not self.options.allow_empty:
            for obj in candidates:
                self.changeset.add(
                    ObjectRef.of(obj),
                    Action.SKIPPED,
                    "kept: the environment rendered no objects (allow_empty not set)",
                )
            self.prune_refused = True
            return False
        doomed: list[Manifest] = []
        for obj in candidates:
            reason = self._protected(obj)
            if reason:
                self.changeset.add(ObjectRef.of(obj), Action.SKIPPED, f"kept: {reason}")
                complete = False
            else:
                doomed.append(obj)
        refusal = "" if self.options.allow_empty else self._mass_prune(objs, doomed, live_state)
        if refusal:
            for obj in doomed:
                self.changeset.add(ObjectRef.of(obj), Action.SKIPPED, f"kept: {refusal}")
            self.prune_refused = True
            return False
        deleted = manager_delete.delete_all(self.m, list(doomed), dry_run=self.options.dry_run)
        for entry in deleted.entries:
            self.changeset.entries.append(entry)
            if entry.action is Action.DELETED and not self.options.dry_run:
                self.after.pop(entry.subject.key, None)
            elif entry.action is not Action.DELETED:
                complete = False
        return complete

    def _mass_prune(
        self, objs: list[Manifest], doomed: list[Manifest], live_state: LiveObjects
    ) -> str:
        """Return why ``doomed`` must not be pruned at once ("" if it may be)."""
        rendered = {_pipeline_of(o) for o in objs} - {""}
        going = {_pipeline_of(o) for o in doomed} - {""}
        if going and not rendered:
            names = ", ".join(sorted(going))
            return (
                f"every pipeline would be pruned ({names}) and none is rendered "
                "(allow_empty not set: pass --allow-empty if that is meant)"
            )
        share = len(doomed) / max(len(live_state), 1)
        if len(doomed) >= MASS_PRUNE_MINIMUM and share > self.options.max_prune_share:
            return (
                f"{len(doomed)} of {len(live_state)} owned objects would be pruned, more than "
                f"{self.options.max_prune_share:.0%} (allow_empty not set: pass --allow-empty, "
                f"or raise {MAX_PRUNE_SHARE_ENV})"
            )
        return ""

    def _protected(self, obj: Manifest) -> str:
        pipeline = ((obj.get("metadata") or {}).get("labels") or {}).get(labels.PIPELINE)
        if pipeline and pipeline in self.options.failed_pipelines:
            return f"pipeline {pipeline!r} failed to render"
        if self.options.keep is not None:
            verdict = self.options.keep(obj)
            if isinstance(verdict, str) and verdict:
                return verdict
            if verdict:
                return "protected by the caller"
        return ""

    def _result(self, start_requests: int, start_writes: int) -> SyncResult:
        missing = [str(exc) for _, exc in sorted(self.ctx.missing.items())]
        return SyncResult(
            changeset=self.changeset,
            live=self.after,
            missing_operators=missing,
            prune_refused=self.prune_refused,
            requests=self.m.request_count() - start_requests,
            writes=self.m.stats.writes - start_writes,
        )


def _pipeline_of(obj: Manifest) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(labels.PIPELINE, ""))


def _annotations(obj: Manifest) -> dict[str, str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    keys = (
        labels.APPLYSET_TOOLING,
        labels.APPLYSET_CONTAINS_GROUP_KINDS,
        labels.APPLYSET_ADDITIONAL_NAMESPACES,
    )
    return {k: str(annotations.get(k, "")) for k in keys}


def dry_run_options(options: SyncOptions | None = None) -> SyncOptions:
    """Return ``options`` as a plan runs them: dry run, with diffs."""
    return replace(options or SyncOptions(), dry_run=True, diff=True)


__all__ = ["ClusterError", "MissingCRDError", "SyncOptions", "SyncResult", "sync_objects"]
