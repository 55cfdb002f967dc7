"""The simulated node and its kubelet: pods start, report a termination message, and go.

Like kwok, the simulator registers one Node (``sandbox-node``, Ready) and plays its
kubelet for the pods bound to it:

- :func:`start_pod` creates a workload's pod bound to the node (as the workload's
  controller would, with an ownerReference, controller=true) and reports it Running
  (status written by ``kubelet``);
- :func:`finish_pods` ends an owner's pods: phase Succeeded or Failed,
  ``containerStatuses[].state.terminated`` with exit code, reason and, on the first
  container of the target pod, the termination message;
- :func:`finalize_deleting` completes the graceful deletion of pods bound to the node
  (an API server keeps such a pod with a ``deletionTimestamp`` until its kubelet
  confirms), deleting them with grace period 0.

Callers: :mod:`.jobs`, :mod:`.pytorchjobs`, :class:`~reconciler.sandbox.controllers.Controllers`.
"""

from __future__ import annotations

import secrets
from typing import Any

from reconciler.sandbox.controllers.outcomes import Outcome
from reconciler.sandbox.controllers.ports import Port
from reconciler.sandbox.controllers.resources import NODES, PODS, Resource
from reconciler.sandbox.controllers.runtime import Runtime, clone

Obj = dict[str, Any]
NODE = "sandbox-node"
_READY_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


def register_node(port: Port) -> bool:
    """Create the node ``sandbox-node`` (Ready) if missing; True once it exists."""
    live = port.get(NODES, "", NODE)
    if live is None:
        live = port.create(
            NODES,
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE,
                    "labels": {
                        "kubernetes.io/hostname": NODE,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
            },
            manager="kubelet",
        )
        if live is None:
            return False
    if (live.get("status") or {}).get("conditions"):
        return True
    now = port.now()
    new = clone(live)
    new["status"] = {
        "capacity": {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "8"},
        "allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "8"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }
        ],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "kubeletVersion": "sandbox",
            "containerRuntimeVersion": "sandbox://0",
            "kernelVersion": "",
            "osImage": "",
            "bootID": "",
            "machineID": "",
            "systemUUID": "",
            "kubeProxyVersion": "",
        },
    }
    return port.write_status(NODES, live, new, manager="kubelet") is not None


def start_pod(
    rt: Runtime, owner_res: Resource, owner: Obj, name: str, labels: dict[str, str], template: Obj
) -> Obj | None:
    """Create pod ``name`` for ``owner`` from its pod template and report it Running.

    Returns the pod, or None if it exists already or the server refused it (a quota, a
    LimitRange, a namespace being deleted): the owner's controller tries again later.
    """
    port = rt.port
    meta = owner["metadata"]
    if port.get(PODS, meta.get("namespace", ""), name) is not None:
        return None
    spec = clone((template or {}).get("spec") or {})
    spec["nodeName"] = NODE
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace", ""),
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": owner_res.api_version,
                    "kind": owner_res.kind,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }
    created = port.create(PODS, pod, manager="kube-controller-manager")
    if created is None:
        return None
    rt.pod_created(created)
    now = port.now()
    new = clone(created)
    new["status"] = _running_status(created, now)
    return port.write_status(PODS, created, new, manager="kubelet") or created


def _running_status(pod: Obj, now: str) -> Obj:
    containers = (pod.get("spec") or {}).get("containers") or []
    status = clone(pod.get("status") or {})
    status.update(
        {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in _READY_CONDITIONS
            ],
            "hostIP": "10.0.0.1",
            "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": f"10.244.0.{secrets.randbelow(250) + 2}",
            "startTime": now,
            "containerStatuses": [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": f"{c.get('image', '')}@sha256:" + "0" * 64,
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
                for c in containers
            ],
        }
    )
    status["podIPs"] = [{"ip": status["podIP"]}]
    status.setdefault("qosClass", "BestEffort")
    return status


def finish_pods(rt: Runtime, owner: Obj, outcome: Outcome, only: str | None = None) -> None:
    """End every running pod of ``owner``; ``only`` names the pod that carries the outcome
    (the others succeed), else every pod does. The pods come from the pass's index by
    owner (:meth:`~.runtime.Runtime.owned_pods`), not a list of the namespace each time."""
    port = rt.port
    uid = owner["metadata"]["uid"]
    now = port.now()
    for pod in rt.owned_pods(owner["metadata"].get("namespace", ""), uid):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        is_target = only is None or pod["metadata"]["name"] == only
        new = clone(pod)
        new["status"] = _terminated_status(pod, outcome.failed and is_target, now)
        if is_target and outcome.message:
            first = new["status"]["containerStatuses"][0]["state"]["terminated"]
            first["message"] = outcome.message
        port.write_status(PODS, pod, new, manager="kubelet")


def _terminated_status(pod: Obj, failed: bool, now: str) -> Obj:
    st = clone(pod.get("status") or {})
    st["phase"] = "Failed" if failed else "Succeeded"
    st["conditions"] = [
        dict(c, status="False", reason="PodCompleted")
        if c.get("type") in ("Ready", "ContainersReady")
        else c
        for c in st.get("conditions") or []
    ]
    term: Obj = {
        "exitCode": 1 if failed else 0,
        "reason": "Error" if failed else "Completed",
        "startedAt": st.get("startTime", now),
        "finishedAt": now,
        "containerID": "containerd://" + secrets.token_hex(32),
    }
    statuses = st.get("containerStatuses") or [
        {"name": c.get("name", ""), "image": c.get("image", ""), "restartCount": 0}
        for c in (pod.get("spec") or {}).get("containers") or [{"name": "main"}]
    ]
    for i, cs in enumerate(statuses):
        cs["ready"] = False
        cs["started"] = False
        cs["state"] = {
            "terminated": dict(term) if i == 0 else dict(term, exitCode=0, reason="Completed")
        }
    st["containerStatuses"] = statuses
    return st


def finalize_deleting(port: Port) -> None:
    """Delete at once the pods on ``sandbox-node`` that are being deleted gracefully."""
    for pod in port.scan(PODS):
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") and (pod.get("spec") or {}).get("nodeName") == NODE:
            port.delete_now(PODS, pod)
