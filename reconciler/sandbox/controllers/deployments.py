"""The simulated Deployment controller (apps/v1).

On a new generation: ``observedGeneration``, ``replicas``, ``updatedReplicas``,
``unavailableReplicas``, condition Progressing (ReplicaSetUpdated), Available False
(MinimumReplicasUnavailable) until then, and a ScalingReplicaSet event. After the delay:
``readyReplicas``/``availableReplicas`` = replicas, Available True
(MinimumReplicasAvailable), Progressing True (NewReplicaSetAvailable). No ReplicaSet or
pod is created (nothing would run them).

Callers: :class:`~reconciler.sandbox.controllers.Controllers`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.sandbox.controllers import events
from reconciler.sandbox.controllers.resources import DEPLOYMENTS
from reconciler.sandbox.controllers.runtime import Runtime, clone

Obj = dict[str, Any]
MANAGER = "kube-controller-manager"


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _replicas(obj: Obj) -> int:
    spec = obj.get("spec") or {}
    return int(spec["replicas"]) if spec.get("replicas") is not None else 1


def at_rest(obj: Obj) -> bool:
    """True if nothing is due for the Deployment until it is written again: being
    deleted, or its generation observed and rolled out (:func:`step` returns at once)."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        return True
    status = obj.get("status") or {}
    return (
        status.get("observedGeneration") == int(meta.get("generation") or 1)
        and status.get("availableReplicas", 0) == _replicas(obj)
        and not status.get("unavailableReplicas")
        and any(c.get("reason") == "NewReplicaSetAvailable" for c in status.get("conditions") or [])
    )


def step(rt: Runtime, obj: Obj) -> None:
    """Advance one Deployment if something is due."""
    if at_rest(obj):
        return
    meta = obj["metadata"]
    status = obj.get("status") or {}
    gen = int(meta.get("generation") or 1)
    replicas = _replicas(obj)
    key = f"{meta.get('uid', '')}/{gen}"
    if status.get("observedGeneration") != gen:
        rt.restart(key)
        _observe(rt, obj, gen, replicas, _replica_set_name(obj))
        return
    if rt.elapsed(obj, key) < rt.delay(obj):
        return
    rs_name = _replica_set_name(obj)
    now = rt.port.now()
    new = clone(obj)
    st: Obj = {"observedGeneration": gen}
    if replicas:
        st.update(
            {
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
            }
        )
    st["conditions"] = [
        _condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        ),
        _condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
            now,
        ),
    ]
    new["status"] = st
    rt.port.write_status(DEPLOYMENTS, obj, new, manager=MANAGER)


def _replica_set_name(obj: Obj) -> str:
    """Return the name of the ReplicaSet of the Deployment's template (a hash of it).

    Only when a condition names it: a Deployment at rest is passed over at every tick,
    and hashing every template each time was most of an idle sandbox's CPU at 10,000.
    """
    template = json.dumps((obj.get("spec") or {}).get("template"), sort_keys=True).encode()
    return f"{obj['metadata']['name']}-{hashlib.sha256(template).hexdigest()[:10]}"


def _observe(rt: Runtime, obj: Obj, gen: int, replicas: int, rs_name: str) -> None:
    status = obj.get("status") or {}
    now = rt.port.now()
    old_replicas = int(status.get("replicas") or 0)
    if old_replicas != replicas or gen == 1:
        direction = "up" if replicas >= old_replicas else "down"
        events.record(
            rt.port,
            DEPLOYMENTS,
            obj,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {rs_name} from {old_replicas} to {replicas}",
            "deployment-controller",
        )
    st: Obj = {"observedGeneration": gen}
    if replicas:
        st.update(
            {"replicas": replicas, "updatedReplicas": replicas, "unavailableReplicas": replicas}
        )
    conds = [c for c in status.get("conditions") or [] if c.get("type") == "Available"]
    if not conds:
        conds = [
            _condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        ]
    conds.append(
        _condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
            now,
        )
    )
    st["conditions"] = conds
    new = clone(obj)
    new["status"] = st
    rt.port.write_status(DEPLOYMENTS, obj, new, manager=MANAGER)
