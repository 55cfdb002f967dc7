"""Simulated workload controllers (kwok-like): Jobs, PyTorchJobs, Deployments, InferenceServices.

Nothing runs: each controller moves its objects' status (and, for Jobs and PyTorchJobs,
the pods that carry termination messages) the way the real controller would, after a
configurable step delay (``Sandbox(step_delay=...)``, ``reconciler sandbox --step-delay``).

Job (batch/v1)
    At once: ``status.startTime``, ``active: 1``, ``ready: 0``, ``terminating: 0`` and
    one Pod ``<job>-<5 chars>`` (labels from the template, which carry ``job-name`` and
    ``batch.kubernetes.io/job-name``; an ownerReference to the Job, controller=true),
    phase Running. After the delay, per the outcome:
    Succeeded: ``succeeded: 1``, ``completionTime``, conditions SuccessCriteriaMet and
    Complete (True, reason CompletionsReached); the pod's phase Succeeded with
    ``containerStatuses[0].state.terminated`` {exitCode 0, reason Completed, message}.
    Failed: ``failed: 1``, conditions FailureTarget and Failed (True, reason
    BackoffLimitExceeded, "Job has reached the specified backoff limit"); the pod's
    phase Failed, terminated {exitCode 1, reason Error, message}.
    A Job still running past ``spec.activeDeadlineSeconds`` fails with reason
    DeadlineExceeded. A suspended Job (``spec.suspend: true``) gets condition Suspended
    and is not started.
PyTorchJob (kubeflow.org/v1)
    At once: condition Created (reason PyTorchJobCreated), ``startTime``, a master pod
    ``<name>-master-0`` (labels ``training.kubeflow.org/job-name=<name>``,
    ``training.kubeflow.org/replica-type=master``, ``training.kubeflow.org/replica-index``,
    ``training.kubeflow.org/job-role=master``) and ``<name>-worker-<i>`` pods for
    ``Worker.replicas``; at half the delay condition Running (PyTorchJobRunning); at the
    delay Succeeded (PyTorchJobSucceeded) or Failed (PyTorchJobFailed), Running turned
    False, ``completionTime``, ``replicaStatuses``; pods terminated as for Jobs (the
    termination message on the master pod).
Deployment (apps/v1)
    On a new generation: ``observedGeneration``, ``replicas``, ``updatedReplicas``,
    ``unavailableReplicas``, condition Progressing (ReplicaSetUpdated). After the delay:
    ``readyReplicas``/``availableReplicas`` = replicas, Available True
    (MinimumReplicasAvailable), Progressing True (NewReplicaSetAvailable).
InferenceService (serving.kserve.io/v1beta1)
    After the delay: ``status.url`` ``http://<name>.<namespace>.example.com``,
    ``address.url``, conditions IngressReady, PredictorReady and Ready True,
    ``observedGeneration``; outcome Failed makes Ready False (reason
    ``PredictorConfigurationReady``... ``Failed``) with the termination message.

Programming outcomes (how a test or the demo makes a step fail or report metrics)
    1. Annotations on the Job or PyTorchJob: ``sandbox.reconciler.ml/outcome:
       Failed|Succeeded``, ``sandbox.reconciler.ml/termination-message: '<text>'`` and
       optionally ``sandbox.reconciler.ml/delay: '<seconds>'``.
    2. The ConfigMap ``sandbox-outcomes`` in ``kube-system``: each value JSON
       ``{"match": "<fnmatch pattern>", "outcome": "Succeeded"|"Failed", "message":
       "<text>", "delay": <seconds, optional>}``, ``match`` tried against
       ``<namespace>/<name>`` of a Job or PyTorchJob (ConfigMap keys cannot hold ``*`` or
       ``/``, so the key is only a rule name, e.g. ``10-resnet-eval``; without ``match``
       the key itself is the pattern); the first matching rule in key order wins.
       Read when the step finishes, so it can be written before or after the Job.
    3. Otherwise: Succeeded with an empty message, after the step delay.
    A test may also finish a step itself through the status subresource
    (``kubectl patch job X --subresource=status ...``): a Job or PyTorchJob that already
    has a terminal condition is left alone.

Callers: :class:`reconciler.sandbox.Sandbox` (start/stop).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.handlers import Api
from reconciler.sandbox.kinds import ResourceType

log = logging.getLogger(__name__)
Obj = dict[str, Any]

OUTCOME = "sandbox.reconciler.ml/outcome"
MESSAGE = "sandbox.reconciler.ml/termination-message"
DELAY = "sandbox.reconciler.ml/delay"
OUTCOMES_CONFIGMAP = ("kube-system", "sandbox-outcomes")
NODE = "sandbox-node"


@dataclass
class Outcome:
    """How a step ends: Succeeded or Failed, its termination message, after how long."""

    outcome: str = "Succeeded"
    message: str = ""
    delay: float | None = None


def _clone(o: Obj) -> Obj:
    out: Obj = json.loads(json.dumps(o))
    return out


def _now(api: Api) -> str:
    return api.now()


class Controllers:
    """The simulated controllers, in one background thread ticking every few ms."""

    def __init__(self, api: Api, step_delay: float = 2.0, interval: float | None = None) -> None:
        self.api = api
        self.step_delay = step_delay
        self.interval = interval if interval is not None else max(0.02, min(0.25, step_delay / 5))
        self._started: dict[str, float] = {}  # uid -> monotonic start
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        api.store.listeners.append(lambda ev: self._wake.set())

    def start(self) -> None:
        """Start the controller thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="sandbox-controllers", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the controller thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except Exception:
                log.exception("sandbox: controller pass failed")
            self._stop.wait(self.interval)

    def _type(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self.api.registry.get(group, version, plural)

    def run_once(self) -> None:
        """Advance every simulated object one step if it is due."""
        jobs = self._type("batch", "v1", "jobs")
        if jobs is not None:
            for job in self.api.store.list(jobs.key):
                self._job(jobs, job)
        pt = self._type("kubeflow.org", "v1", "pytorchjobs")
        if pt is not None:
            for obj in self.api.store.list(pt.key):
                self._pytorchjob(pt, obj)
        deps = self._type("apps", "v1", "deployments")
        if deps is not None:
            for obj in self.api.store.list(deps.key):
                self._deployment(deps, obj)
        isvc = self._type("serving.kserve.io", "v1beta1", "inferenceservices")
        if isvc is not None:
            for obj in self.api.store.list(isvc.key):
                self._inferenceservice(isvc, obj)
        live = {
            o["metadata"].get("uid")
            for t in (jobs, pt, deps, isvc)
            if t is not None
            for o in self.api.store.list(t.key)
        }
        for key in [k for k in self._started if k.split("/", 1)[0] not in live]:
            del self._started[key]

    # ------------------------------------------------------------------ outcomes

    def outcome_for(self, obj: Obj) -> Outcome:
        """Return the programmed outcome of a Job/PyTorchJob (see the module docstring)."""
        meta = obj.get("metadata") or {}
        ann = meta.get("annotations") or {}
        out = Outcome()
        if OUTCOME in ann or MESSAGE in ann:
            out.outcome = "Failed" if str(ann.get(OUTCOME, "")).lower() == "failed" else "Succeeded"
            out.message = str(ann.get(MESSAGE, ""))
            if DELAY in ann:
                with contextlib.suppress(ValueError):
                    out.delay = float(ann[DELAY])
            return out
        cm = self.api.store.get("configmaps", *OUTCOMES_CONFIGMAP)
        target = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        data = (cm or {}).get("data") or {}
        for key in sorted(data):
            try:
                spec = json.loads(data[key])
            except ValueError:
                log.warning("sandbox-outcomes: rule %r is not JSON", key)
                continue
            if not isinstance(spec, dict):
                continue
            pattern = str(spec.get("match") or key)
            if not fnmatch.fnmatchcase(target, pattern):
                continue
            out.outcome = (
                "Failed" if str(spec.get("outcome", "")).lower() == "failed" else ("Succeeded")
            )
            out.message = str(spec.get("message", ""))
            if spec.get("delay") is not None:
                with contextlib.suppress(TypeError, ValueError):
                    out.delay = float(spec["delay"])
            return out
        if DELAY in ann:
            with contextlib.suppress(ValueError):
                out.delay = float(ann[DELAY])
        return out

    def _elapsed(self, obj: Obj) -> float:
        uid = obj["metadata"].get("uid", "")
        start = self._started.get(uid)
        if start is None:
            start = time.monotonic()
            self._started[uid] = start
        return time.monotonic() - start

    def _delay(self, obj: Obj) -> float:
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        if DELAY in ann:
            try:
                return float(ann[DELAY])
            except ValueError:
                pass
        return self.step_delay

    # --------------------------------------------------------------------- events

    def event(
        self,
        owner_rt: ResourceType,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str,
    ) -> None:
        """Record a core/v1 Event about ``obj`` as its controller would."""
        events = self._type("", "v1", "events")
        assert events is not None
        meta = obj["metadata"]
        now = _now(self.api)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{secrets.token_hex(8)}",
                "namespace": meta.get("namespace", "default"),
            },
            "involvedObject": {
                "kind": owner_rt.kind,
                "namespace": meta.get("namespace", ""),
                "name": meta["name"],
                "uid": meta.get("uid", ""),
                "apiVersion": owner_rt.api_version,
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": "",
        }
        self.api.system_write(events, None, body, manager=component)

    # ----------------------------------------------------------------------- pods

    def _pod(
        self, owner_rt: ResourceType, owner: Obj, name: str, labels: dict[str, str], template: Obj
    ) -> Obj | None:
        pods = self._type("", "v1", "pods")
        assert pods is not None
        meta = owner["metadata"]
        if self.api.store.get(pods.key, meta.get("namespace", ""), name) is not None:
            return None
        spec = _clone((template or {}).get("spec") or {})
        spec["nodeName"] = NODE
        now = _now(self.api)
        containers = spec.get("containers") or [{"name": "main", "image": "unknown"}]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": meta.get("namespace", ""),
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": owner_rt.api_version,
                        "kind": owner_rt.kind,
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
        }
        created = self.api.system_write(pods, None, pod, manager="kube-controller-manager")
        if created is None:
            return None
        status = {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "hostIP": "10.0.0.1",
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
            "qosClass": "BestEffort",
        }
        new = _clone(created)
        new["status"] = status
        return self.api.system_write(pods, created, new, manager="kubelet", sub="status")

    def _finish_pods(self, owner: Obj, outcome: Outcome, only: str | None = None) -> None:
        pods = self._type("", "v1", "pods")
        assert pods is not None
        uid = owner["metadata"]["uid"]
        now = _now(self.api)
        for pod in self.api.store.list(pods.key, owner["metadata"].get("namespace", "")):
            refs = pod["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == uid for r in refs):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            is_target = only is None or pod["metadata"]["name"] == only
            failed = outcome.outcome == "Failed" and is_target
            new = _clone(pod)
            st = new.setdefault("status", {})
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
            if is_target and outcome.message:
                term["message"] = outcome.message
            for i, cs in enumerate(st.get("containerStatuses") or []):
                cs["ready"] = False
                cs["started"] = False
                cs["state"] = {
                    "terminated": dict(term)
                    if i == 0
                    else {
                        **{k: v for k, v in term.items() if k != "message"},
                        "exitCode": 0,
                        "reason": "Completed",
                    }
                }
            self.api.system_write(pods, pod, new, manager="kubelet", sub="status")

    # ------------------------------------------------------------------------ Job

    def _job(self, rt: ResourceType, job: Obj) -> None:
        meta = job["metadata"]
        if meta.get("deletionTimestamp"):
            return
        status = job.get("status") or {}
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        if any(conds.get(t, {}).get("status") == "True" for t in ("Complete", "Failed")):
            return
        spec = job.get("spec") or {}
        now = _now(self.api)
        if spec.get("suspend"):
            if conds.get("Suspended", {}).get("status") != "True":
                new = _clone(job)
                new.setdefault("status", {}).setdefault("conditions", []).append(
                    {
                        "type": "Suspended",
                        "status": "True",
                        "lastProbeTime": now,
                        "lastTransitionTime": now,
                        "reason": "JobSuspended",
                        "message": "Job suspended",
                    }
                )
                self.api.system_write(rt, job, new, manager="kube-controller-manager", sub="status")
            return
        if not status.get("startTime"):
            self._elapsed(job)
            new = _clone(job)
            new["status"] = {
                "startTime": now,
                "active": 1,
                "ready": 0,
                "terminating": 0,
                "uncountedTerminatedPods": {},
            }
            written = self.api.system_write(
                rt, job, new, manager="kube-controller-manager", sub="status"
            )
            if written is not None:
                tpl = spec.get("template") or {}
                labels = dict((tpl.get("metadata") or {}).get("labels") or {})
                labels.setdefault("job-name", meta["name"])
                labels.setdefault("batch.kubernetes.io/job-name", meta["name"])
                name = f"{meta['name']}-{_suffix()}"
                if self._pod(rt, written, name, labels, tpl) is not None:
                    self.event(
                        rt,
                        written,
                        "Normal",
                        "SuccessfulCreate",
                        f"Created pod: {name}",
                        "job-controller",
                    )
            return
        outcome = self.outcome_for(job)
        delay = outcome.delay if outcome.delay is not None else self.step_delay
        elapsed = self._elapsed(job)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and elapsed >= float(deadline) and elapsed < delay:
            self._job_done(
                rt,
                job,
                Outcome("Failed", outcome.message),
                reason="DeadlineExceeded",
                message="Job was active longer than specified deadline",
            )
            return
        if elapsed < delay:
            return
        if outcome.outcome == "Failed":
            self._job_done(
                rt,
                job,
                outcome,
                reason="BackoffLimitExceeded",
                message="Job has reached the specified backoff limit",
            )
        else:
            self._job_done(
                rt,
                job,
                outcome,
                reason="CompletionsReached",
                message="Reached expected number of succeeded pods",
            )

    def _job_done(
        self, rt: ResourceType, job: Obj, outcome: Outcome, *, reason: str, message: str
    ) -> None:
        self._finish_pods(job, outcome)
        cur = self.api.store.get(rt.key, job["metadata"]["namespace"], job["metadata"]["name"])
        if cur is None:
            return
        now = _now(self.api)
        new = _clone(cur)
        st = new.setdefault("status", {})
        st.pop("active", None)
        st["ready"] = 0
        st["terminating"] = 0
        st["uncountedTerminatedPods"] = {}
        conds = [c for c in st.get("conditions") or [] if c.get("type") != "Suspended"]
        if outcome.outcome == "Failed":
            st["failed"] = int(st.get("failed") or 0) + 1
            types = ("FailureTarget", "Failed")
        else:
            st["succeeded"] = int(st.get("succeeded") or 0) + 1
            st["completionTime"] = now
            types = ("SuccessCriteriaMet", "Complete")
        for t in types:
            conds.append(
                {
                    "type": t,
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            )
        st["conditions"] = conds
        if self.api.system_write(rt, cur, new, manager="kube-controller-manager", sub="status"):
            if outcome.outcome == "Failed":
                self.event(rt, cur, "Warning", reason, message, "job-controller")
            else:
                self.event(rt, cur, "Normal", "Completed", "Job completed", "job-controller")

    # ----------------------------------------------------------------- PyTorchJob

    def _pytorchjob(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        status = obj.get("status") or {}
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        if any(conds.get(t, {}).get("status") == "True" for t in ("Succeeded", "Failed")):
            return
        name, ns = meta["name"], meta.get("namespace", "")
        specs = (obj.get("spec") or {}).get("pytorchReplicaSpecs") or {}
        now = _now(self.api)

        def cond(t: str, st: str, reason: str, msg: str) -> Obj:
            return {
                "type": t,
                "status": st,
                "reason": reason,
                "message": msg,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            }

        if "Created" not in conds:
            self._elapsed(obj)
            new = _clone(obj)
            new["status"] = {
                "conditions": [
                    cond("Created", "True", "PyTorchJobCreated", f"PyTorchJob {name} is created.")
                ],
                "replicaStatuses": {
                    rtype: {"active": int((s or {}).get("replicas") or 1)}
                    for rtype, s in specs.items()
                },
                "startTime": now,
            }
            written = self.api.system_write(
                rt, obj, new, manager="pytorchjob-controller", sub="status"
            )
            if written is None:
                return
            for rtype, s in specs.items():
                count = int((s or {}).get("replicas") or 1)
                for i in range(count):
                    role = rtype.lower()
                    labels = dict(
                        (((s or {}).get("template") or {}).get("metadata") or {}).get("labels")
                        or {}
                    )
                    labels.update(
                        {
                            "training.kubeflow.org/job-name": name,
                            "training.kubeflow.org/operator-name": "pytorchjob-controller",
                            "training.kubeflow.org/replica-type": role,
                            "training.kubeflow.org/replica-index": str(i),
                        }
                    )
                    if role == "master":
                        labels["training.kubeflow.org/job-role"] = "master"
                    pod = f"{name}-{role}-{i}"
                    if self._pod(rt, written, pod, labels, (s or {}).get("template") or {}):
                        self.event(
                            rt,
                            written,
                            "Normal",
                            "SuccessfulCreatePod",
                            f"Created pod: {pod}",
                            "pytorchjob-controller",
                        )
            return
        outcome = self.outcome_for(obj)
        delay = outcome.delay if outcome.delay is not None else self.step_delay
        elapsed = self._elapsed(obj)
        if "Running" not in conds and elapsed >= delay / 2:
            new = _clone(obj)
            new["status"]["conditions"].append(
                cond("Running", "True", "PyTorchJobRunning", f"PyTorchJob {name} is running.")
            )
            self.api.system_write(rt, obj, new, manager="pytorchjob-controller", sub="status")
            return
        if elapsed < delay:
            return
        master = f"{name}-master-0"
        self._finish_pods(obj, outcome, only=master)
        cur = self.api.store.get(rt.key, ns, name)
        if cur is None:
            return
        new = _clone(cur)
        st = new["status"]
        st["conditions"] = [
            dict(c, status="False", lastUpdateTime=now, lastTransitionTime=now)
            if c.get("type") == "Running"
            else c
            for c in st.get("conditions") or []
        ]
        if outcome.outcome == "Failed":
            st["conditions"].append(
                cond(
                    "Failed",
                    "True",
                    "PyTorchJobFailed",
                    f"PyTorchJob {name} is failed because 1 Master replica(s) failed.",
                )
            )
            st["replicaStatuses"] = {
                rtype: (
                    {"failed": 1}
                    if rtype == "Master"
                    else {"succeeded": int((s or {}).get("replicas") or 1)}
                )
                for rtype, s in specs.items()
            }
        else:
            st["conditions"].append(
                cond(
                    "Succeeded",
                    "True",
                    "PyTorchJobSucceeded",
                    f"PyTorchJob {name} is successfully completed.",
                )
            )
            st["replicaStatuses"] = {
                rtype: {"succeeded": int((s or {}).get("replicas") or 1)}
                for rtype, s in specs.items()
            }
        st["completionTime"] = now
        if self.api.system_write(rt, cur, new, manager="pytorchjob-controller", sub="status"):
            last = st["conditions"][-1]
            kind = "Warning" if outcome.outcome == "Failed" else "Normal"
            self.event(rt, cur, kind, last["reason"], last["message"], "pytorchjob-controller")

    # ----------------------------------------------------------------- Deployment

    def _deployment(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        gen = int(meta.get("generation") or 1)
        replicas = int(spec["replicas"]) if spec.get("replicas") is not None else 1
        now = _now(self.api)
        uid = meta.get("uid", "")
        key = f"{uid}/{gen}"
        rs_name = f"{meta['name']}-{_hash(json.dumps(spec.get('template'), sort_keys=True))}"
        if status.get("observedGeneration") != gen:
            self._started[key] = time.monotonic()
            old_replicas = int(status.get("replicas") or 0)
            if old_replicas != replicas or gen == 1:
                self.event(
                    rt,
                    obj,
                    "Normal",
                    "ScalingReplicaSet",
                    f"Scaled {'up' if replicas >= old_replicas else 'down'} replica set "
                    f"{rs_name} from {old_replicas} to {replicas}",
                    "deployment-controller",
                )
            new = _clone(obj)
            st: Obj = {"observedGeneration": gen}
            if replicas:
                st.update(
                    {
                        "replicas": replicas,
                        "updatedReplicas": replicas,
                        "unavailableReplicas": replicas,
                    }
                )
            conds = [c for c in status.get("conditions") or [] if c.get("type") == "Available"]
            if not conds:
                conds = [
                    {
                        "type": "Available",
                        "status": "False",
                        "lastUpdateTime": now,
                        "lastTransitionTime": now,
                        "reason": "MinimumReplicasUnavailable",
                        "message": "Deployment does not have minimum availability.",
                    }
                ]
            conds.append(
                {
                    "type": "Progressing",
                    "status": "True",
                    "lastUpdateTime": now,
                    "lastTransitionTime": now,
                    "reason": "ReplicaSetUpdated",
                    "message": f'ReplicaSet "{rs_name}" is progressing.',
                }
            )
            st["conditions"] = conds
            new["status"] = st
            self.api.system_write(rt, obj, new, manager="kube-controller-manager", sub="status")
            return
        if (
            status.get("availableReplicas", 0) == replicas
            and not status.get("unavailableReplicas")
            and any(
                c.get("reason") == "NewReplicaSetAvailable" for c in status.get("conditions") or []
            )
        ):
            return
        started = self._started.setdefault(key, time.monotonic())
        if time.monotonic() - started < self._delay(obj):
            return
        new = _clone(obj)
        st = {"observedGeneration": gen}
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
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
                "reason": "NewReplicaSetAvailable",
                "message": f'ReplicaSet "{rs_name}" has successfully progressed.',
            },
        ]
        new["status"] = st
        self.api.system_write(rt, obj, new, manager="kube-controller-manager", sub="status")

    # ----------------------------------------------------------- InferenceService

    def _inferenceservice(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        status = obj.get("status") or {}
        gen = int(meta.get("generation") or 1)
        uid = meta.get("uid", "")
        key = f"{uid}/{gen}"
        if status.get("observedGeneration") == gen and any(
            c.get("type") == "Ready" for c in status.get("conditions") or []
        ):
            return
        started = self._started.setdefault(key, time.monotonic())
        outcome = self.outcome_for(obj)
        delay = outcome.delay if outcome.delay is not None else self.step_delay
        if time.monotonic() - started < delay:
            return
        now = _now(self.api)
        name, ns = meta["name"], meta.get("namespace", "")
        ok = outcome.outcome != "Failed"
        new = _clone(obj)
        url = f"http://{name}.{ns}.example.com"
        st: Obj = {
            "observedGeneration": gen,
            "conditions": [
                {
                    "type": t,
                    "status": "True" if ok else "False",
                    "lastTransitionTime": now,
                    **(
                        {}
                        if ok
                        else {"reason": "Failed", "message": outcome.message or "predictor failed"}
                    ),
                }
                for t in ("IngressReady", "PredictorReady", "Ready")
            ],
        }
        if ok:
            st["url"] = url
            st["address"] = {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"}
            st["components"] = {
                "predictor": {
                    "latestReadyRevision": f"{name}-predictor-00001",
                    "url": f"http://{name}-predictor.{ns}.example.com",
                }
            }
            st["modelStatus"] = {
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "transitionStatus": "UpToDate",
            }
        new["status"] = st
        self.api.system_write(rt, obj, new, manager="kserve-controller", sub="status")


def _suffix() -> str:
    return "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


def _hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:10]
