"""What every simulated controller shares: the port, the step delay and per-object clocks.

A step's clock starts the first time a controller sees the object (or, for a
Deployment or InferenceService, a new generation of it); the step is due once its delay
has passed. Clocks live in this process: a restarted simulator starts them again, as a
restarted controller would re-observe its objects.

The pods of an owner are found through an index by owner uid built from one list of the
namespace's pods per controller pass (as a real controller reads its informer's index):
finding them by listing the namespace for every finishing owner made a pass quadratic
(10,000 Jobs finishing: ~15 minutes, and longer with every step's pods kept).

Callers: the per-kind modules and :class:`~reconciler.sandbox.controllers.Controllers`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Set as AbstractSet
from typing import Any

from reconciler.sandbox.controllers.ports import Port
from reconciler.sandbox.controllers.resources import PODS

Obj = dict[str, Any]
DELAY = "sandbox.reconciler.ml/delay"


def clone(obj: Obj) -> Obj:
    """Return a deep copy of a JSON object."""
    out: Obj = json.loads(json.dumps(obj))
    return out


class Runtime:
    """The port, the default step delay and the clocks of the objects in flight."""

    def __init__(self, port: Port, step_delay: float) -> None:
        self.port = port
        self.step_delay = step_delay
        self._started: dict[str, float] = {}
        self.without_pod: set[str] = set()  # uids of owners whose pod the server refused
        self._pods: dict[str, dict[str, list[str]]] = {}  # this pass: ns -> owner uid -> names

    def new_pass(self) -> None:
        """Forget the pod index: the next pass reads the pods again (once per namespace)."""
        self._pods.clear()

    def owned_pods(self, namespace: str, uid: str) -> list[Obj]:
        """The pods in ``namespace`` whose ownerReferences name ``uid``, as stored now.

        The namespace's pods are listed on the first call of a pass and indexed by owner
        uid; each pod is then read again, so a pod changed or deleted since the list is
        seen as it is now (a deleted one is left out). Pods created during the pass are
        added by :meth:`pod_created`.
        """
        index = self._pods.get(namespace)
        if index is None:
            index = {}
            for listed in self.port.list(PODS, namespace):
                self._index(index, listed)
            self._pods[namespace] = index
        out: list[Obj] = []
        for name in index.get(uid, []):
            pod = self.port.get(PODS, namespace, name)
            refs = (pod or {}).get("metadata", {}).get("ownerReferences") or []
            if pod is not None and any(r.get("uid") == uid for r in refs):
                out.append(pod)
        return out

    def pod_created(self, pod: Obj) -> None:
        """Add a pod created during this pass to the index (if its namespace is indexed)."""
        index = self._pods.get((pod.get("metadata") or {}).get("namespace", ""))
        if index is not None:
            self._index(index, pod)

    @staticmethod
    def _index(index: dict[str, list[str]], pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            names = index.setdefault(str(ref.get("uid", "")), [])
            if meta.get("name") not in names:
                names.append(str(meta.get("name", "")))

    def elapsed(self, obj: Obj, key: str = "") -> float:
        """Seconds since this object (or ``key``: uid/generation) was first seen."""
        k = key or (obj.get("metadata") or {}).get("uid", "")
        start = self._started.setdefault(k, time.monotonic())
        return time.monotonic() - start

    def restart(self, key: str) -> None:
        """Start ``key``'s clock again (a Deployment's new generation)."""
        self._started[key] = time.monotonic()

    def delay(self, obj: Obj) -> float:
        """The object's ``sandbox.reconciler.ml/delay`` annotation, else the step delay."""
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        if DELAY in ann:
            with contextlib.suppress(ValueError):
                return float(ann[DELAY])
        return self.step_delay

    def forget_except(self, live: AbstractSet[str]) -> None:
        """Drop the clocks of objects that are gone: not among the ``live`` uids (keys start
        with their uid)."""
        self.without_pod &= live
        for key in [k for k in self._started if k.split("/", 1)[0] not in live]:
            del self._started[key]
