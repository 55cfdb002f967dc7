"""Deletion: delete and deletecollection with preconditions, propagation policies and
finalizers, pods' graceful termination, and deletes made by the control loops.

Deletion follows the garbage collector's contract: finalizers and ``Foreground`` keep the
object with a ``deletionTimestamp`` until :mod:`.lifecycle` is done; ``Orphan`` (the
default for batch/v1 Jobs, as on a real server) adds the ``orphan`` finalizer, which
:mod:`.lifecycle` honours by stripping the dependents' owner references; ``Background``
deletes now and the dependents right after. A pod bound to a node waits for its kubelet
(its grace period), as the pod registry decides. What a delete answers is the registry's:
the object while it is still there, else the object (Pods, Services) or a Status.

Callers: :class:`~reconciler.sandbox.handlers.Api` (this is one of its parts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reconciler.sandbox import apply, errors
from reconciler.sandbox.kinds import Registry, ResourceType
from reconciler.sandbox.request_params import Params, Result, clone
from reconciler.sandbox.storage import Store

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

Obj = dict[str, Any]


class DeleteVerbs:
    """The deletes verbs of :class:`~reconciler.sandbox.handlers.Api` (a mixin)."""

    store: Store
    registry: Registry
    clock: Callable[[], float]

    if TYPE_CHECKING:

        def now(self) -> str: ...

        def _live(self, rt: ResourceType, ns: str, name: str) -> Obj: ...

        def list(self, rt: ResourceType, ns: str | None, params: Params) -> Obj: ...

        def system_write(
            self, rt: ResourceType, live: Obj | None, new: Obj, *, manager: str, sub: str = ""
        ) -> Obj | None: ...

    def delete(
        self, rt: ResourceType, ns: str, name: str, options: Obj | None, params: Params
    ) -> Result:
        """Delete an object honouring preconditions, finalizers and propagationPolicy."""
        if "delete" not in rt.verbs:
            raise errors.method_not_supported("delete", rt.plural, rt.group)
        params.check_dry_run()
        options = options or {}
        dry = params.dry_run or "All" in (options.get("dryRun") or [])
        policy = params.get("propagationPolicy") or options.get("propagationPolicy") or ""
        if not policy and options.get("orphanDependents") is not None:
            policy = "Orphan" if options.get("orphanDependents") else "Background"
        warnings: list[str] = []
        if not policy:
            if rt.group == "batch" and rt.kind == "Job":
                policy = "Orphan"
                warnings.append(
                    "child pods are preserved by default when jobs are deleted; set "
                    "propagationPolicy=Background to remove them or set "
                    "propagationPolicy=Orphan to suppress this warning"
                )
            else:
                policy = "Background"
        if policy not in ("Orphan", "Background", "Foreground"):
            raise errors.invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                [
                    (
                        "FieldValueNotSupported",
                        "propagationPolicy",
                        f'Unsupported value: "{policy}": supported values: "Foreground", '
                        '"Background", "Orphan", "nil"',
                    )
                ],
            )
        with self.store.lock:
            live = self._live(rt, ns, name)
            pre = options.get("preconditions") or {}
            # kube-apiserver's BeforeDelete names the kind, not the resource, here
            if pre.get("uid") and pre["uid"] != live["metadata"].get("uid"):
                raise errors.conflict(
                    rt.kind,
                    rt.group,
                    name,
                    f"the UID in the precondition ({pre['uid']}) does not match the UID in "
                    f"record ({live['metadata'].get('uid')}). The object might have been "
                    "deleted and then recreated",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != live["metadata"].get(
                "resourceVersion"
            ):
                raise errors.conflict(
                    rt.kind,
                    rt.group,
                    name,
                    f"the ResourceVersion in the precondition ({pre['resourceVersion']}) does not "
                    "match the ResourceVersion in record "
                    f"({live['metadata'].get('resourceVersion')}). The object might have been "
                    "modified",
                )
            grace = _pod_grace_period(rt, live, options.get("gracePeriodSeconds"))
            obj, gone = self._delete_locked(rt, live, policy, dry, grace)
        return Result(200, deleted_answer(rt, obj, gone), warnings)

    def _delete_locked(
        self, rt: ResourceType, live: Obj, policy: str, dry: bool, grace: int = 0
    ) -> tuple[Obj, bool]:
        """Delete ``live`` now, or mark it deleting while finalizers (``orphan`` and
        ``foregroundDeletion`` for those policies) or a pod's graceful termination
        (``grace`` seconds, for its kubelet to confirm) hold it; returns (object, gone)."""
        name = live["metadata"]["name"]
        if rt.kind == "Namespace" and rt.group == "":
            if name in PROTECTED_NAMESPACES:
                raise errors.forbidden("namespaces", "", name, "this namespace may not be deleted")
            new: Obj = clone(live)
            new["metadata"].setdefault("deletionTimestamp", self.now())
            new.setdefault("status", {})["phase"] = "Terminating"
            if dry or new == live:
                return new, False
            return self.store.put(rt.key, new, old=live), False
        finalizers = list(live["metadata"].get("finalizers") or [])
        wanted = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy)
        if wanted and wanted not in finalizers:
            finalizers.append(wanted)
        new = self._marked_deleting(rt, live, grace)
        if rt.kind == "CustomResourceDefinition" and not live["metadata"].get("finalizers"):
            # Its registry's own delete: the cleanup finalizer and a Terminating
            # condition, no grace period, no new generation; custom resources go first.
            new["metadata"].pop("deletionGracePeriodSeconds", None)
            new["metadata"]["generation"] = live["metadata"].get("generation", 1)
            finalizers.append(CRD_FINALIZER)
            new.setdefault("status", {}).setdefault("conditions", []).append(
                {
                    "type": "Terminating",
                    "status": "True",
                    "lastTransitionTime": self.now(),
                    "reason": "InstanceDeletionPending",
                    "message": "CustomResourceDefinition marked for deletion; CustomResource "
                    "deletion will begin soon",
                }
            )
        if finalizers or grace:
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            if dry or new == live:
                return new, False
            return self.store.put(rt.key, new, old=live), False
        if dry:
            return new if rt.kind == "Pod" and not rt.group else live, True
        gone = self.store.remove(rt.key, live)
        self._after_delete(rt, gone)
        if rt.kind == "Pod" and not rt.group:  # its registry marks it before removing it
            gone = dict(
                gone,
                metadata=dict(new["metadata"], resourceVersion=gone["metadata"]["resourceVersion"]),
            )
        return gone, True

    def _marked_deleting(self, rt: ResourceType, live: Obj, grace: int) -> Obj:
        """Return ``live`` with its deletion timestamp (now + grace) and grace period set,
        and its generation bumped (controllers notice), unless already deleting."""
        new: Obj = clone(live)
        meta = new["metadata"]
        if meta.get("deletionTimestamp"):
            return new
        meta["deletionTimestamp"] = apply.now_rfc3339(self.clock() + grace)
        meta["deletionGracePeriodSeconds"] = grace
        if rt.generation and "generation" in meta:
            meta["generation"] = int(meta["generation"]) + 1
        return new

    def _after_delete(self, rt: ResourceType, gone: Obj) -> None:
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            self.registry.remove_crd(gone["metadata"]["name"])

    def delete_collection(
        self, rt: ResourceType, ns: str | None, options: Obj | None, params: Params
    ) -> Result:
        """Delete every object a list with the same selectors returns; returns the list."""
        if "deletecollection" not in rt.verbs:
            raise errors.method_not_supported("deletecollection", rt.plural, rt.group)
        listing = self.list(
            rt,
            ns,
            Params(
                {k: v for k, v in params.query.items() if k in ("labelSelector", "fieldSelector")},
                params.user_agent,
            ),
        )
        options = options or {}
        policy = (
            params.get("propagationPolicy")
            or options.get("propagationPolicy")
            or ("Orphan" if rt.group == "batch" and rt.kind == "Job" else "Background")
        )
        out = []
        with self.store.lock:
            for item in listing["items"]:
                meta = item["metadata"]
                live = self.store.get(rt.key, meta.get("namespace") or "", meta["name"])
                if live is not None:
                    grace = _pod_grace_period(rt, live, options.get("gracePeriodSeconds"))
                    out.append(self._delete_locked(rt, live, policy, params.dry_run, grace)[0])
        listing["items"] = out
        return Result(200, listing)

    def system_delete(
        self,
        rt: ResourceType,
        obj: Obj,
        policy: str = "Background",
        grace_period: int | None = None,
    ) -> None:
        """Delete an object as a controller would (ignores it if already gone).

        ``grace_period`` 0 ends a pod's graceful deletion (its kubelet confirming);
        None uses the pod's own grace period, as any client's delete would.
        """
        meta = obj["metadata"]
        with self.store.lock:
            live = self.store.get(rt.key, meta.get("namespace") or "", meta["name"])
            if live is None or live["metadata"].get("uid") != meta.get("uid"):
                return
            grace = _pod_grace_period(rt, live, grace_period)
            if (
                grace == 0
                and live["metadata"].get("deletionTimestamp")
                and not (live["metadata"].get("finalizers"))
            ):
                gone = self.store.remove(rt.key, live)
                self._after_delete(rt, gone)
                return
            self._delete_locked(rt, live, policy, False, grace)


RETURN_DELETED = frozenset({("", "Pod"), ("", "Service")})
"""Kinds whose registry answers a completed delete with the object, not a Status."""


def deleted_answer(rt: ResourceType, obj: Obj, gone: bool) -> Obj:
    """Return what a delete answers: the object while it is still there (or for
    :data:`RETURN_DELETED` kinds), else a ``Status`` of Success naming it."""
    if not gone or (rt.group, rt.kind) in RETURN_DELETED:
        return obj
    details: Obj = {"name": obj["metadata"]["name"]}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = obj["metadata"].get("uid", "")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _pod_grace_period(rt: ResourceType, live: Obj, requested: Any) -> int:
    """Return the seconds a pod's deletion waits for its kubelet (0: delete now).

    As the pod registry decides: a pod bound to no node, or already Succeeded or
    Failed, goes at once; otherwise the requested ``gracePeriodSeconds`` or the pod's
    ``terminationGracePeriodSeconds`` (30 by default). Other kinds: 0.
    """
    if rt.kind != "Pod" or rt.group:
        return 0
    spec = live.get("spec") or {}
    if not spec.get("nodeName") or (live.get("status") or {}).get("phase") in (
        "Succeeded",
        "Failed",
    ):
        return 0
    value = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
