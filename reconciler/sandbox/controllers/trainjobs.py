"""The simulated Kubeflow Trainer controller: TrainJobs (trainer.kubeflow.org/v1alpha1).

Driven by :class:`~reconciler.sandbox.controllers.Controllers` with the same step delay
and programmed outcomes as Jobs and PyTorchJobs. What Trainer v2
and JobSet do to a TrainJob, as seen through the API:

- A suspended TrainJob (``spec.suspend: true``, what Kueue's webhook sets until admission)
  gets condition ``Suspended`` (True, reason ``Suspended``) and nothing runs.
- Otherwise, at once: one pod per node, ``<name>-node-0-<i>-<5 chars>``, labelled as
  JobSet labels them (``jobset.sigs.k8s.io/jobset-name``, ``replicatedjob-name: node``,
  ``job-index: "0"``, ``batch.kubernetes.io/job-name: <name>-node-0``,
  ``batch.kubernetes.io/job-completion-index: "<i>"``) plus the labels of the TrainJob's
  runtime patch for ``node``; its container is the ``trainer`` (image, command, args, env,
  resources) with the patch's security context and mounts. ``status.jobsStatus`` shows the
  one ``node`` Job active.
- After the delay: the pods terminate (rank 0 carries the termination message) and the
  TrainJob gets ``Complete`` (reason ``AllJobsCompleted``) or ``Failed`` (reason
  ``FailedJobs``), the JobSet's conditions renamed as Trainer does.

A TrainJob that already has a terminal condition (set by a test through the status
subresource) is left alone.
"""

from __future__ import annotations

import secrets
from typing import Any

from reconciler.sandbox.controllers import events, kubelet
from reconciler.sandbox.controllers.outcomes import Outcome, outcome_for
from reconciler.sandbox.controllers.resources import TRAINJOBS
from reconciler.sandbox.controllers.runtime import Runtime, clone

Obj = dict[str, Any]
MANAGER = "trainer-controller-manager"
NODE = "node"


def _node_patch(obj: Obj) -> tuple[dict[str, str], Obj]:
    """Return the pod labels and pod spec patch the TrainJob's runtime patches give ``node``."""
    pod_labels: dict[str, str] = {}
    pod: Obj = {}
    for patch in (obj.get("spec") or {}).get("runtimePatches") or []:
        tmpl = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {}
        for rjob in tmpl.get("replicatedJobs") or []:
            if rjob.get("name") != NODE:
                continue
            pod_tmpl = ((rjob.get("template") or {}).get("spec") or {}).get("template") or {}
            pod_labels.update(((pod_tmpl.get("metadata") or {}).get("labels")) or {})
            pod.update(pod_tmpl.get("spec") or {})
    return pod_labels, pod


def _pod_template(obj: Obj) -> tuple[dict[str, str], Obj]:
    trainer = (obj.get("spec") or {}).get("trainer") or {}
    pod_labels, pod = _node_patch(obj)
    patch_ctr: Obj = next((c for c in pod.get("containers") or [] if c.get("name") == NODE), {})
    ctr: Obj = {"name": NODE, "image": trainer.get("image", "unknown")}
    for key in ("command", "args", "env"):
        if key in trainer:
            ctr[key] = trainer[key]
    if trainer.get("resourcesPerNode"):
        ctr["resources"] = trainer["resourcesPerNode"]
    ctr.update({k: v for k, v in patch_ctr.items() if k != "name"})
    # A patch of the runtime's init containers has no image: they are not simulated.
    spec = {k: v for k, v in pod.items() if k not in ("containers", "initContainers")}
    spec["restartPolicy"] = "Never"
    spec["containers"] = [ctr]
    return pod_labels, {"spec": spec}


def _condition(type_: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


def _jobs_status(active: int = 0, succeeded: int = 0, failed: int = 0) -> list[Obj]:
    return [
        {
            "name": NODE,
            "active": active,
            "ready": active,
            "succeeded": succeeded,
            "failed": failed,
            "suspended": 0,
        }
    ]


def step(rt: Runtime, obj: Obj) -> None:
    """Advance one TrainJob if something is due (see the module docstring)."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        return
    status = obj.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    if any(conds.get(t, {}).get("status") == "True" for t in ("Complete", "Failed")):
        return
    if (obj.get("spec") or {}).get("suspend"):
        if conds.get("Suspended", {}).get("status") != "True":
            new = clone(obj)
            new["status"] = {
                "conditions": [
                    _condition("Suspended", "Suspended", "TrainJob is suspended", rt.port.now())
                ]
            }
            rt.port.write_status(TRAINJOBS, obj, new, manager=MANAGER)
        return
    if not status.get("jobsStatus"):
        _start(rt, obj)
        return
    outcome = outcome_for(rt.port, obj)
    delay = outcome.delay if outcome.delay is not None else rt.step_delay
    if rt.elapsed(obj) >= delay:
        _finish(rt, obj, outcome)


def _start(rt: Runtime, obj: Obj) -> None:
    rt.elapsed(obj)
    name = obj["metadata"]["name"]
    status = obj.get("status") or {}
    new = clone(obj)
    kept = [c for c in status.get("conditions") or [] if c.get("type") != "Suspended"]
    new["status"] = {"conditions": kept, "jobsStatus": _jobs_status(active=1)}
    written = rt.port.write_status(TRAINJOBS, obj, new, manager=MANAGER)
    if written is None:
        return
    pod_labels, template = _pod_template(written)
    nodes = int(((obj.get("spec") or {}).get("trainer") or {}).get("numNodes") or 1)
    for i in range(nodes):
        labels = {
            **pod_labels,
            "jobset.sigs.k8s.io/jobset-name": name,
            "jobset.sigs.k8s.io/replicatedjob-name": NODE,
            "jobset.sigs.k8s.io/job-index": "0",
            "batch.kubernetes.io/job-name": f"{name}-{NODE}-0",
            "job-name": f"{name}-{NODE}-0",
            "batch.kubernetes.io/job-completion-index": str(i),
            "trainer.kubeflow.org/trainjob-ancestor-step": "trainer",
        }
        pod = f"{name}-{NODE}-0-{i}-{secrets.token_hex(3)[:5]}"
        if kubelet.start_pod(rt, TRAINJOBS, written, pod, labels, template):
            events.record(
                rt.port,
                TRAINJOBS,
                written,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {pod}",
                MANAGER,
            )


def _rank_zero_pod(rt: Runtime, obj: Obj) -> str | None:
    uid = obj["metadata"]["uid"]
    for pod in rt.owned_pods(obj["metadata"].get("namespace", ""), uid):
        lab = pod["metadata"].get("labels") or {}
        if lab.get("batch.kubernetes.io/job-completion-index") == "0":
            return str(pod["metadata"]["name"])
    return None


def _finish(rt: Runtime, obj: Obj, outcome: Outcome) -> None:
    meta = obj["metadata"]
    kubelet.finish_pods(rt, obj, outcome, only=_rank_zero_pod(rt, obj))
    cur = rt.port.get(TRAINJOBS, meta.get("namespace", ""), meta["name"])
    if cur is None:
        return
    now = rt.port.now()
    new = clone(cur)
    st = new.setdefault("status", {})
    if outcome.failed:
        cond = _condition(
            "Failed", "FailedJobs", "jobset failed due to one or more job failures", now
        )
        st["jobsStatus"] = _jobs_status(failed=1)
    else:
        cond = _condition("Complete", "AllJobsCompleted", "jobset completed successfully", now)
        st["jobsStatus"] = _jobs_status(succeeded=1)
    st["conditions"] = [*(st.get("conditions") or []), cond]
    if rt.port.write_status(TRAINJOBS, cur, new, manager=MANAGER):
        kind = "Warning" if outcome.failed else "Normal"
        events.record(rt.port, TRAINJOBS, cur, kind, cond["reason"], cond["message"], MANAGER)
