"""The control loops every cluster has, whatever workloads it runs.

Always on (unlike the simulated workload controllers of :mod:`.controllers`), as they
are part of the API contract:

- garbage collection: an object whose every owner (``ownerReferences`` by uid) is gone
  is deleted (``Background``); one that still has a live owner loses only the dangling
  reference. An owner deleted with ``Foreground`` keeps its ``deletionTimestamp`` and
  ``foregroundDeletion`` finalizer until its dependents are gone; an ``orphan``
  finalizer is honoured by removing the owner's references from its dependents.
- namespace deletion: a Terminating namespace has every object in it deleted, then is
  removed itself.
- CRD deletion: the CRD's custom resources are deleted, then its
  ``customresourcecleanup.apiextensions.k8s.io`` finalizer is removed and its kinds stop
  being served.
- PVC protection: a deleting PersistentVolumeClaim loses its
  ``kubernetes.io/pvc-protection`` finalizer once no running Pod mounts it.

The loop wakes on deletions and on writes that set a deletionTimestamp, and looks again
on the next one-second tick after a write that may have left it work without either: an
object written with an owner the store does not hold (by uid, kept from events), or a pod
written while a deleting claim waits for pods to stop using it. Any other write cannot
give a pass anything to do, so it runs none: a pass walks the whole store under its lock,
and a sandbox of 100,000 objects walked once a second while a sync's thousands of writes
(and the simulated controllers' status writes after them) went on held every request that
needed the lock for half of each second (py-spy on a 10,000-pipeline sync: three quarters
of the request threads' time was spent waiting for it).
Callers: :class:`reconciler.sandbox.Sandbox` (start/stop).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from reconciler.sandbox.handlers import Api
from reconciler.sandbox.kinds import ResourceType
from reconciler.sandbox.storage import Event

log = logging.getLogger(__name__)
Obj = dict[str, Any]
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
PVC_PROTECTION = "kubernetes.io/pvc-protection"


def _clone(o: Obj) -> Obj:
    out: Obj = json.loads(json.dumps(o))
    return out


class Lifecycle:
    """Garbage collector, namespace and CRD finalization, in one background thread."""

    def __init__(self, api: Api, interval: float = 0.05) -> None:
        self.api = api
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._due = False  # a write since the last pass may have left it work
        self._uids: set[str] = set()  # every stored object's uid (rebuilt by each pass)
        self._claims_waiting = False  # a deleting claim waits for pods to stop using it
        self.passes = 0
        """Passes run so far (tests read it)."""
        api.store.listeners.append(self._on_event)

    def _on_event(self, ev: Event) -> None:
        """Note what a write may have left to do (called under the store's lock)."""
        meta = ev.obj.get("metadata") or {}
        uid = meta.get("uid")
        if ev.type == "DELETED" or meta.get("deletionTimestamp"):
            if ev.type == "DELETED" and uid:
                self._uids.discard(uid)
            self._wake.set()
            return
        if uid:
            self._uids.add(uid)
        refs = meta.get("ownerReferences")
        if refs and any(not isinstance(r, dict) or r.get("uid") not in self._uids for r in refs):
            self._due = True  # an owner it names is not stored: collect it
        elif self._claims_waiting and ev.key == "pods":
            self._due = True  # the pod may have stopped using a deleting claim

    def start(self) -> None:
        """Start the loop thread (idempotent)."""
        if self._thread is None:
            self._wake.set()
            self._thread = threading.Thread(target=self._run, name="sandbox-lifecycle", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the loop thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(timeout=1.0)
            if self._stop.is_set():
                return
            self._wake.clear()
            if not woken and not self._due:
                continue  # nothing written since the last pass could give this one work
            try:
                again = self.run_once()
            except Exception:  # keep collecting; a bug here must not stop the server
                log.exception("sandbox: lifecycle pass failed")
                again = True
            if again:
                self._stop.wait(self.interval)
                self._wake.set()

    # --------------------------------------------------------------------- passes

    def run_once(self) -> bool:
        """Run one pass; True if work remains (another pass soon)."""
        api = self.api
        with api.store.lock:
            self.passes += 1
            self._due = False
            index = self._index()
            self._uids = set(index)
            pending = self._collect_garbage(index)
            pending |= self._namespaces(index)
            pending |= self._crds()
            pending |= self._claims()
        return pending

    def _claims(self) -> bool:
        """The PVC protection controller: a deleting PersistentVolumeClaim loses its
        ``kubernetes.io/pvc-protection`` finalizer once no running Pod mounts it."""
        api = self.api
        pvc_rt = api.registry.get("", "v1", "persistentvolumeclaims")
        if pvc_rt is None:
            return False
        pending = False
        self._claims_waiting = False
        for pvc in api.store.list(pvc_rt.key):
            meta = pvc["metadata"]
            if not meta.get("deletionTimestamp") or PVC_PROTECTION not in (
                meta.get("finalizers") or []
            ):
                continue
            ns, name = meta.get("namespace") or "", meta["name"]
            if any(
                (v.get("persistentVolumeClaim") or {}).get("claimName") == name
                for pod in api.store.list("pods", ns)
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                for v in (pod.get("spec") or {}).get("volumes") or []
                if isinstance(v, dict)
            ):
                self._claims_waiting = True
                continue
            self._drop_finalizer(pvc_rt, pvc, PVC_PROTECTION)
            pending = True
        return pending

    def _index(self) -> dict[str, tuple[ResourceType, Obj]]:
        """Map uid -> (type, object) of every stored object."""
        out: dict[str, tuple[ResourceType, Obj]] = {}
        for key in self.api.store.resource_keys():
            types = self.api.registry.by_key(key)
            if not types:
                continue
            for obj in self.api.store.values(key):  # unsorted: sorting 100,000 keys is work
                uid = obj["metadata"].get("uid")
                if uid:
                    out[uid] = (types[0], obj)
        return out

    def _collect_garbage(self, index: dict[str, tuple[ResourceType, Obj]]) -> bool:
        api = self.api
        pending = False
        dependents: dict[str, list[str]] = {}
        for uid, (rt, obj) in list(index.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if not refs:
                continue
            for r in refs:
                dependents.setdefault(str(r.get("uid")), []).append(uid)
            alive = [r for r in refs if r.get("uid") in index]
            if obj["metadata"].get("deletionTimestamp"):
                continue
            if not alive:
                api.system_delete(rt, obj, "Background")
                pending = True
            elif len(alive) != len(refs):
                new = _clone(obj)
                new["metadata"]["ownerReferences"] = alive
                api.system_write(rt, obj, new, manager="generic-garbage-collector")
        for uid, (rt, obj) in list(index.items()):
            meta = obj["metadata"]
            fins = meta.get("finalizers") or []
            if not meta.get("deletionTimestamp"):
                continue
            if "orphan" in fins:
                for dep_uid in dependents.get(uid, []):
                    if dep_uid in index:
                        drt, dep = index[dep_uid]
                        new = _clone(dep)
                        kept = [
                            r
                            for r in dep["metadata"].get("ownerReferences") or []
                            if r.get("uid") != uid
                        ]
                        if kept:
                            new["metadata"]["ownerReferences"] = kept
                        else:
                            new["metadata"].pop("ownerReferences", None)
                        api.system_write(drt, dep, new, manager="generic-garbage-collector")
                self._drop_finalizer(rt, obj, "orphan")
                pending = True
            elif "foregroundDeletion" in fins:
                live_deps = [d for d in dependents.get(uid, []) if d in index]
                if live_deps:
                    for dep_uid in live_deps:
                        drt, dep = index[dep_uid]
                        if not dep["metadata"].get("deletionTimestamp"):
                            api.system_delete(drt, dep, "Foreground")
                    pending = True
                else:
                    self._drop_finalizer(rt, obj, "foregroundDeletion")
                    pending = True
        return pending

    def _drop_finalizer(self, rt: ResourceType, obj: Obj, name: str) -> None:
        cur = self.api.store.get(
            rt.key, obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
        )
        if cur is None:
            return
        new = _clone(cur)
        new["metadata"]["finalizers"] = [
            f for f in cur["metadata"].get("finalizers") or [] if f != name
        ]
        if not new["metadata"]["finalizers"]:
            new["metadata"].pop("finalizers")
        self.api.system_write(rt, cur, new, manager="generic-garbage-collector")

    def _namespaces(self, index: dict[str, tuple[ResourceType, Obj]]) -> bool:
        api = self.api
        ns_rt = api.registry.get("", "v1", "namespaces")
        assert ns_rt is not None
        pending = False
        for ns in api.store.list("namespaces"):
            if not ns["metadata"].get("deletionTimestamp"):
                continue
            name = ns["metadata"]["name"]
            remaining = 0
            for key in api.store.resource_keys():
                types = api.registry.by_key(key)
                if not types or not types[0].namespaced:
                    continue
                for obj in api.store.list(key, name):
                    remaining += 1
                    if not obj["metadata"].get("deletionTimestamp"):
                        api.system_delete(types[0], obj, "Background")
            if remaining:
                pending = True
                continue
            if ns["metadata"].get("finalizers"):
                continue
            api.store.remove(ns_rt.key, ns)
        return pending

    def _crds(self) -> bool:
        api = self.api
        crd_rt = api.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd_rt is not None
        pending = False
        for crd in api.store.list(crd_rt.key):
            if not crd["metadata"].get("deletionTimestamp"):
                continue
            name = crd["metadata"]["name"]
            types = api.registry.crd_types(name)
            left = 0
            for t in types:
                for obj in api.store.list(t.key):
                    left += 1
                    if not obj["metadata"].get("deletionTimestamp"):
                        api.system_delete(t, obj, "Background")
            if left:
                pending = True
                continue
            if CRD_FINALIZER in (crd["metadata"].get("finalizers") or []):
                self._drop_finalizer(crd_rt, crd, CRD_FINALIZER)
                pending = True
        return pending
