"""The simulated Job controller (batch/v1).

At once: ``status.startTime``, ``active: 1``, ``ready: 0``, ``terminating: 0`` and one
Pod ``<job>-<5 chars>`` (the template's labels, which carry ``job-name`` and
``batch.kubernetes.io/job-name``; an ownerReference to the Job, controller=true),
Running. After the delay, per the programmed outcome (:mod:`.outcomes`):

- Succeeded: ``succeeded: 1``, ``completionTime``, conditions SuccessCriteriaMet and
  Complete (True, reason CompletionsReached); the pod Succeeded with
  ``state.terminated`` {exitCode 0, reason Completed, message}.
- Failed: ``failed: 1``, conditions FailureTarget and Failed (True, reason
  BackoffLimitExceeded, "Job has reached the specified backoff limit"); the pod Failed,
  terminated {exitCode 1, reason Error, message}.

A Job still running past ``spec.activeDeadlineSeconds`` fails with reason
DeadlineExceeded. A suspended Job (``spec.suspend: true``) gets condition Suspended and
is not started. A Job that already has a terminal condition (a test may finish one
itself through the status subresource) is left alone. If the server refuses the pod (a
quota, a LimitRange), the Job stays active without one and the controller tries again,
as the real one does.

Callers: :class:`~reconciler.sandbox.controllers.Controllers`.
"""

from __future__ import annotations

import secrets
from typing import Any

from reconciler.sandbox.controllers import events, kubelet
from reconciler.sandbox.controllers.outcomes import Outcome, outcome_for
from reconciler.sandbox.controllers.resources import JOBS
from reconciler.sandbox.controllers.runtime import Runtime, clone

Obj = dict[str, Any]
MANAGER = "kube-controller-manager"
COMPONENT = "job-controller"


def _condition(type_: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": type_,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def at_rest(job: Obj) -> bool:
    """True if nothing is due for the Job until it is written again: being deleted, or
    finished (:func:`step` returns at once for it)."""
    if job["metadata"].get("deletionTimestamp"):
        return True
    conds = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conds)


def step(rt: Runtime, job: Obj) -> None:
    """Advance one Job if something is due."""
    if at_rest(job):
        return
    meta = job["metadata"]
    status = job.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    spec = job.get("spec") or {}
    if spec.get("suspend"):
        _suspend(rt, job, conds)
    elif not status.get("startTime"):
        _start(rt, job)
    elif meta["uid"] in rt.without_pod:
        _create_pod(rt, job)
    else:
        _maybe_finish(rt, job)


def _suspend(rt: Runtime, job: Obj, conds: dict[Any, Obj]) -> None:
    if conds.get("Suspended", {}).get("status") == "True":
        return
    new = clone(job)
    new.setdefault("status", {}).setdefault("conditions", []).append(
        _condition("Suspended", "JobSuspended", "Job suspended", rt.port.now())
    )
    rt.port.write_status(JOBS, job, new, manager=MANAGER)


def _start(rt: Runtime, job: Obj) -> None:
    rt.elapsed(job)
    new = clone(job)
    new["status"] = {
        "startTime": rt.port.now(),
        "active": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    written = rt.port.write_status(JOBS, job, new, manager=MANAGER)
    if written is not None:
        _create_pod(rt, written)


def _create_pod(rt: Runtime, job: Obj) -> None:
    meta = job["metadata"]
    tpl = (job.get("spec") or {}).get("template") or {}
    labels = dict((tpl.get("metadata") or {}).get("labels") or {})
    labels.setdefault("job-name", meta["name"])
    labels.setdefault("batch.kubernetes.io/job-name", meta["name"])
    name = f"{meta['name']}-{_suffix()}"
    if kubelet.start_pod(rt, JOBS, job, name, labels, tpl) is None:
        rt.without_pod.add(meta["uid"])
        return
    rt.without_pod.discard(meta["uid"])
    events.record(
        rt.port, JOBS, job, "Normal", "SuccessfulCreate", f"Created pod: {name}", COMPONENT
    )


def _maybe_finish(rt: Runtime, job: Obj) -> None:
    outcome = outcome_for(rt.port, job)
    delay = outcome.delay if outcome.delay is not None else rt.step_delay
    elapsed = rt.elapsed(job)
    deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
    if deadline is not None and float(deadline) <= elapsed < delay:
        _finish(
            rt,
            job,
            Outcome("Failed", outcome.message),
            reason="DeadlineExceeded",
            message="Job was active longer than specified deadline",
        )
    elif elapsed < delay:
        return
    elif outcome.failed:
        _finish(
            rt,
            job,
            outcome,
            reason="BackoffLimitExceeded",
            message="Job has reached the specified backoff limit",
        )
    else:
        _finish(
            rt,
            job,
            outcome,
            reason="CompletionsReached",
            message="Reached expected number of succeeded pods",
        )


def _finish(rt: Runtime, job: Obj, outcome: Outcome, *, reason: str, message: str) -> None:
    kubelet.finish_pods(rt, job, outcome)
    cur = rt.port.get(JOBS, job["metadata"]["namespace"], job["metadata"]["name"])
    if cur is None:
        return
    now = rt.port.now()
    new = clone(cur)
    st = new.setdefault("status", {})
    st.pop("active", None)
    st["ready"] = 0
    st["terminating"] = 0
    st["uncountedTerminatedPods"] = {}
    conds = [c for c in st.get("conditions") or [] if c.get("type") != "Suspended"]
    if outcome.failed:
        st["failed"] = int(st.get("failed") or 0) + 1
        types = ("FailureTarget", "Failed")
    else:
        st["succeeded"] = int(st.get("succeeded") or 0) + 1
        st["completionTime"] = now
        types = ("SuccessCriteriaMet", "Complete")
    st["conditions"] = conds + [_condition(t, reason, message, now) for t in types]
    if rt.port.write_status(JOBS, cur, new, manager=MANAGER) is None:
        return
    if outcome.failed:
        events.record(rt.port, JOBS, cur, "Warning", reason, message, COMPONENT)
    else:
        events.record(rt.port, JOBS, cur, "Normal", "Completed", "Job completed", COMPONENT)


def _suffix() -> str:
    return "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
