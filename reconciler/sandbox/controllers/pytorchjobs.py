"""The simulated Kubeflow training operator for PyTorchJobs (kubeflow.org/v1).

At once: condition Created (reason PyTorchJobCreated), ``startTime``,
``replicaStatuses`` (active), a master pod ``<name>-master-0`` (labels
``training.kubeflow.org/job-name=<name>``, ``training.kubeflow.org/replica-type=master``,
``training.kubeflow.org/replica-index``, ``training.kubeflow.org/job-role=master``) and
``<name>-worker-<i>`` pods for ``Worker.replicas``. At half the delay: condition Running
(PyTorchJobRunning). At the delay, per the programmed outcome: Succeeded
(PyTorchJobSucceeded) or Failed (PyTorchJobFailed), Running turned False,
``completionTime``, ``replicaStatuses``; pods terminated as for Jobs, the termination
message on the master pod.

Callers: :class:`~reconciler.sandbox.controllers.Controllers`.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.controllers import events, kubelet
from reconciler.sandbox.controllers.outcomes import Outcome, outcome_for
from reconciler.sandbox.controllers.resources import PYTORCHJOBS
from reconciler.sandbox.controllers.runtime import Runtime, clone

Obj = dict[str, Any]
MANAGER = "pytorchjob-controller"


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }


def _replicas(spec: Any) -> int:
    return int((spec or {}).get("replicas") or 1)


def step(rt: Runtime, obj: Obj) -> None:
    """Advance one PyTorchJob if something is due."""
    if obj["metadata"].get("deletionTimestamp"):
        return
    conds = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    if any(conds.get(t, {}).get("status") == "True" for t in ("Succeeded", "Failed")):
        return
    if "Created" not in conds:
        _create(rt, obj)
        return
    outcome = outcome_for(rt.port, obj)
    delay = outcome.delay if outcome.delay is not None else rt.step_delay
    elapsed = rt.elapsed(obj)
    if "Running" not in conds and elapsed >= delay / 2:
        name = obj["metadata"]["name"]
        new = clone(obj)
        new["status"]["conditions"].append(
            _condition(
                "Running",
                "True",
                "PyTorchJobRunning",
                f"PyTorchJob {name} is running.",
                rt.port.now(),
            )
        )
        rt.port.write_status(PYTORCHJOBS, obj, new, manager=MANAGER)
    elif elapsed >= delay:
        _finish(rt, obj, outcome)


def _create(rt: Runtime, obj: Obj) -> None:
    rt.elapsed(obj)
    name = obj["metadata"]["name"]
    specs = (obj.get("spec") or {}).get("pytorchReplicaSpecs") or {}
    now = rt.port.now()
    new = clone(obj)
    new["status"] = {
        "conditions": [
            _condition(
                "Created", "True", "PyTorchJobCreated", f"PyTorchJob {name} is created.", now
            )
        ],
        "replicaStatuses": {rtype: {"active": _replicas(s)} for rtype, s in specs.items()},
        "startTime": now,
    }
    written = rt.port.write_status(PYTORCHJOBS, obj, new, manager=MANAGER)
    if written is None:
        return
    for rtype, s in specs.items():
        role = rtype.lower()
        template = (s or {}).get("template") or {}
        for i in range(_replicas(s)):
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels.update(
                {
                    "training.kubeflow.org/job-name": name,
                    "training.kubeflow.org/operator-name": MANAGER,
                    "training.kubeflow.org/replica-type": role,
                    "training.kubeflow.org/replica-index": str(i),
                }
            )
            if role == "master":
                labels["training.kubeflow.org/job-role"] = "master"
            pod = f"{name}-{role}-{i}"
            if kubelet.start_pod(rt, PYTORCHJOBS, written, pod, labels, template):
                events.record(
                    rt.port,
                    PYTORCHJOBS,
                    written,
                    "Normal",
                    "SuccessfulCreatePod",
                    f"Created pod: {pod}",
                    MANAGER,
                )


def _finish(rt: Runtime, obj: Obj, outcome: Outcome) -> None:
    meta = obj["metadata"]
    name = meta["name"]
    specs = (obj.get("spec") or {}).get("pytorchReplicaSpecs") or {}
    kubelet.finish_pods(rt, obj, outcome, only=f"{name}-master-0")
    cur = rt.port.get(PYTORCHJOBS, meta.get("namespace", ""), name)
    if cur is None:
        return
    now = rt.port.now()
    new = clone(cur)
    st = new["status"]
    st["conditions"] = [
        dict(c, status="False", lastUpdateTime=now, lastTransitionTime=now)
        if c.get("type") == "Running"
        else c
        for c in st.get("conditions") or []
    ]
    if outcome.failed:
        st["conditions"].append(
            _condition(
                "Failed",
                "True",
                "PyTorchJobFailed",
                f"PyTorchJob {name} is failed because 1 Master replica(s) failed.",
                now,
            )
        )
        st["replicaStatuses"] = {
            rtype: {"failed": 1} if rtype == "Master" else {"succeeded": _replicas(s)}
            for rtype, s in specs.items()
        }
    else:
        st["conditions"].append(
            _condition(
                "Succeeded",
                "True",
                "PyTorchJobSucceeded",
                f"PyTorchJob {name} is successfully completed.",
                now,
            )
        )
        st["replicaStatuses"] = {rtype: {"succeeded": _replicas(s)} for rtype, s in specs.items()}
    st["completionTime"] = now
    if rt.port.write_status(PYTORCHJOBS, cur, new, manager=MANAGER):
        last = st["conditions"][-1]
        kind = "Warning" if outcome.failed else "Normal"
        events.record(rt.port, PYTORCHJOBS, cur, kind, last["reason"], last["message"], MANAGER)
