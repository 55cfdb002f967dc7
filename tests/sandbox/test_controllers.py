"""Simulated controllers: Jobs, PyTorchJobs, Deployments and InferenceServices finish as
their real controllers report it (conditions and fields from the Job, Deployment and
training-operator documentation), with outcomes programmed in advance.

- https://kubernetes.io/docs/concepts/workloads/controllers/job/ (Complete/Failed,
  BackoffLimitExceeded, succeeded/failed counts, pods labelled job-name)
- https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/
  (the termination message in state.terminated.message)
- https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status
"""

from __future__ import annotations

import json
import time
from typing import Any

from reconciler.sandbox.controllers import Controllers
from reconciler.sandbox.controllers.ports import InProcessPort
from reconciler.sandbox.controllers.resources import JOBS as JOBS_RESOURCE
from reconciler.sandbox.controllers.resources import PODS as PODS_RESOURCE
from reconciler.sandbox.controllers.resources import Resource
from reconciler.sandbox.sandbox import Sandbox
from tests.conftest import SandboxHandle
from tests.sandbox.http import call

JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)


def job(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "trainer:1"}],
                }
            }
        },
    }


def wait_for(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def finished_job(sandbox: SandboxHandle, name: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = call(sandbox.url, "GET", f"{JOBS}/{name}").body
        c = conditions(obj)
        if (
            c.get("Complete", {}).get("status") == "True"
            or c.get("Failed", {}).get("status") == "True"
        ):
            return obj
        return None

    return wait_for(done)


def pod_of(sandbox: SandboxHandle, selector: str) -> dict[str, Any]:
    items = call(sandbox.url, "GET", f"{PODS}?labelSelector={selector}").body["items"]
    assert len(items) == 1, items
    return items[0]


def test_job_runs_then_completes(sandbox: SandboxHandle) -> None:
    created = call(sandbox.url, "POST", JOBS, job("ok")).body
    running = wait_for(
        lambda: (call(sandbox.url, "GET", f"{JOBS}/ok").body.get("status") or {}).get("active") == 1
    )
    assert running
    done = finished_job(sandbox, "ok")
    st = done["status"]
    assert st["succeeded"] == 1 and "active" not in st
    assert st["completionTime"] and st["startTime"]
    assert conditions(done)["Complete"]["reason"] == "CompletionsReached"
    pod = pod_of(sandbox, "job-name%3Dok")
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "ok"
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("Job", created["metadata"]["uid"], True)
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Succeeded"
    assert (term["exitCode"], term["reason"]) == (0, "Completed")


def test_job_outcome_from_annotations(sandbox: SandboxHandle) -> None:
    metrics = json.dumps({"accuracy": 0.91})
    call(
        sandbox.url,
        "POST",
        JOBS,
        job(
            "bad",
            {
                "sandbox.reconciler.ml/outcome": "Failed",
                "sandbox.reconciler.ml/termination-message": "CUDA out of memory",
            },
        ),
    )
    call(
        sandbox.url,
        "POST",
        JOBS,
        job("good", {"sandbox.reconciler.ml/termination-message": metrics}),
    )
    bad = finished_job(sandbox, "bad")
    assert bad["status"]["failed"] == 1
    failed = conditions(bad)["Failed"]
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    pod = pod_of(sandbox, "job-name%3Dbad")
    assert pod["status"]["phase"] == "Failed"
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"], term["message"]) == (1, "Error", "CUDA out of memory")
    finished_job(sandbox, "good")
    term = pod_of(sandbox, "job-name%3Dgood")["status"]["containerStatuses"][0]["state"][
        "terminated"
    ]
    assert json.loads(term["message"]) == {"accuracy": 0.91}


def test_outcomes_configmap_first_sorted_match_wins(sandbox: SandboxHandle) -> None:
    outcomes = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "sandbox-outcomes", "namespace": "kube-system"},
        "data": {
            "30-train": json.dumps(
                {"match": "default/train-*", "outcome": "Failed", "message": "diverged"}
            ),
            "20-all": json.dumps(
                {"match": "default/*", "outcome": "Succeeded", "message": '{"loss": 1}'}
            ),
            "10-slow": json.dumps({"match": "default/slow", "delay": 30}),
            "default.eval": json.dumps({"outcome": "Failed"}),
        },
    }
    assert (
        call(sandbox.url, "POST", "/api/v1/namespaces/kube-system/configmaps", outcomes).code == 201
    )
    call(sandbox.url, "POST", JOBS, job("train-1"))
    call(sandbox.url, "POST", JOBS, job("eval"))
    call(sandbox.url, "POST", JOBS, job("slow"))
    assert conditions(finished_job(sandbox, "eval"))["Complete"]["status"] == "True"
    # "20-all" sorts before "30-train" (and before "default.eval"): it wins.
    assert conditions(finished_job(sandbox, "train-1"))["Complete"]["status"] == "True"
    term = pod_of(sandbox, "job-name%3Dtrain-1")["status"]["containerStatuses"][0]["state"][
        "terminated"
    ]
    assert term["message"] == '{"loss": 1}'
    slow = call(sandbox.url, "GET", f"{JOBS}/slow").body
    assert "Complete" not in conditions(slow) and slow["status"]["active"] == 1


def test_pytorchjob_conditions_and_master_pod(sandbox: SandboxHandle) -> None:
    sandbox.install_crds()
    spec = {
        "replicas": 1,
        "restartPolicy": "OnFailure",
        "template": {"spec": {"containers": [{"name": "pytorch", "image": "train:1"}]}},
    }
    body = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "name": "pt",
            "annotations": {
                "sandbox.reconciler.ml/outcome": "Failed",
                "sandbox.reconciler.ml/termination-message": "NCCL timeout",
            },
        },
        "spec": {"pytorchReplicaSpecs": {"Master": spec, "Worker": dict(spec, replicas=2)}},
    }
    path = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
    call(sandbox.url, "POST", path, body)

    def failed() -> dict[str, Any] | None:
        obj = call(sandbox.url, "GET", f"{path}/pt").body
        return obj if "Failed" in conditions(obj) else None

    obj = wait_for(failed)
    c = conditions(obj)
    assert c["Created"]["status"] == "True"
    assert c["Running"]["status"] == "False"
    assert (c["Failed"]["status"], c["Failed"]["reason"]) == ("True", "PyTorchJobFailed")
    master = pod_of(
        sandbox, "training.kubeflow.org/job-name%3Dpt,training.kubeflow.org/replica-type%3Dmaster"
    )
    assert master["metadata"]["name"] == "pt-master-0"
    term = master["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (master["status"]["phase"], term["message"]) == ("Failed", "NCCL timeout")
    workers = call(
        sandbox.url, "GET", f"{PODS}?labelSelector=training.kubeflow.org/replica-type%3Dworker"
    ).body["items"]
    assert sorted(p["metadata"]["name"] for p in workers) == ["pt-worker-0", "pt-worker-1"]


def test_deployment_and_inferenceservice_become_ready(sandbox: SandboxHandle) -> None:
    sandbox.install_crds()
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i:1"}]},
            },
        },
    }
    call(sandbox.url, "POST", "/apis/apps/v1/namespaces/default/deployments", dep)

    def available() -> dict[str, Any] | None:
        obj = call(sandbox.url, "GET", "/apis/apps/v1/namespaces/default/deployments/web").body
        ok = conditions(obj).get("Available", {}).get("status") == "True"
        return obj if ok else None

    st = wait_for(available)["status"]
    assert (
        st["observedGeneration"],
        st["replicas"],
        st["updatedReplicas"],
        st["readyReplicas"],
        st["availableReplicas"],
    ) == (1, 3, 3, 3, 3)
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "m"},
        "spec": {
            "predictor": {"model": {"modelFormat": {"name": "pytorch"}, "storageUri": "s3://m/1"}}
        },
    }
    path = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/m"
    call(sandbox.url, "POST", path.rsplit("/", 1)[0], isvc)
    ready = wait_for(lambda: conditions(call(sandbox.url, "GET", path).body).get("Ready"))
    assert ready["status"] == "True"
    assert call(sandbox.url, "GET", path).body["status"]["url"] == "http://m.default.example.com"


class CountingPort(InProcessPort):
    """The sandbox's in-process port, counting the reads of all pods (the store is real)."""

    def __init__(self, api: Any) -> None:
        super().__init__(api)
        self.pod_lists = 0

    def list(self, res: Resource, namespace: str | None = None) -> list[dict[str, Any]]:
        if res == PODS_RESOURCE:
            self.pod_lists += 1
        return super().list(res, namespace)

    def scan(self, res: Resource) -> list[dict[str, Any]]:
        if res == PODS_RESOURCE:
            self.pod_lists += 1
        return super().scan(res)


def test_a_pass_lists_the_pods_once_however_many_jobs_finish() -> None:
    """Finishing N Jobs in one pass reads the namespace's pods once (an index by owner),
    not once per Job: that made a pass quadratic, and 10,000 Jobs never finished."""
    server = Sandbox(port=0, step_delay=0.0, controllers=False)
    port = CountingPort(server.api)
    port.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "bulk"}}, manager="test")  # fmt: skip
    for i in range(50):
        body = job(f"j{i:02d}")
        body["metadata"]["namespace"] = "bulk"
        assert port.create(JOBS_RESOURCE, body, manager="test") is not None
    controllers = Controllers(port, step_delay=0.0)
    controllers.run_once()  # starts every Job: one pod each, Running
    assert len(port.list(PODS_RESOURCE, "bulk")) == 50
    port.pod_lists = 0
    controllers.run_once()  # finishes every Job and its pod
    assert port.pod_lists <= 2  # the namespace once, and finalize_deleting's list of all pods
    jobs = port.list(JOBS_RESOURCE, "bulk")
    assert [(j["status"].get("succeeded"), conditions(j)["Complete"]["status"]) for j in jobs] == [
        (1, "True")
    ] * 50
    pods = port.list(PODS_RESOURCE, "bulk")
    assert sorted(p["status"]["phase"] for p in pods) == ["Succeeded"] * 50
    owners = {p["metadata"]["ownerReferences"][0]["uid"] for p in pods}
    assert owners == {j["metadata"]["uid"] for j in jobs}  # each Job's own pod ended


def test_jobs_refused_as_kube_apiserver_refuses_them(sandbox: SandboxHandle) -> None:
    """Job rules a step's author can break: requests over limits (and a GPU's not equal to
    its limit), a quantity that does not parse (400), an env var with both a value and a
    source, restartPolicy Always, negative counts, an unknown completionMode, a changed
    selector; and the status rules a controller must keep: counts not negative nor going
    back, a finished Job with its startTime. (A status that is taken is not compared: the
    Job controllers of the two servers write their own conditions meanwhile.)"""
    jobs = "/apis/batch/v1/namespaces/default/jobs"

    def job(name: str, container: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
        pod = {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "i", **(container or {})}],
        }
        pod.update(spec.pop("pod", {}))
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {"suspend": True, "template": {"spec": pod}, **spec},
        }

    refused = {
        "cpu-over": job("a", {"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}}),
        "gpu-under": job(
            "b",
            {"resources": {"limits": {"nvidia.com/gpu": "2"}, "requests": {"nvidia.com/gpu": "1"}}},
        ),
        "gpu-no-limit": job("c", {"resources": {"requests": {"nvidia.com/gpu": "1"}}}),
        "env-both": job(
            "d",
            {
                "env": [
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            },
        ),
        "always": job("e", pod={"restartPolicy": "Always"}),
        "negative": job("f", backoffLimit=-1),
        "mode": job("g", completionMode="Bogus"),
    }
    for why, body in refused.items():
        answer = call(sandbox.url, "POST", jobs, body)
        assert (answer.code, answer.body["reason"]) == (422, "Invalid"), why
    for bad in ("abc", "1Ki2", "1.2.3"):
        undecoded = call(
            sandbox.url, "POST", jobs, job("h", {"resources": {"requests": {"cpu": bad}}})
        )
        assert (undecoded.code, undecoded.body["reason"]) == (400, "BadRequest"), bad
    fine = job(
        "ok",
        {
            "resources": {
                "limits": {"cpu": "2", "nvidia.com/gpu": "1"},
                "requests": {"cpu": "500m", "nvidia.com/gpu": "1"},
            }
        },
    )
    assert call(sandbox.url, "POST", jobs, fine).code == 201
    merge = "application/merge-patch+json"
    for patch in (
        {"spec": {"ttlSecondsAfterFinished": -5}},
        {"spec": {"selector": {"matchLabels": {"a": "b"}}}},
    ):
        answer = call(sandbox.url, "PATCH", f"{jobs}/ok", patch, content_type=merge)
        assert answer.code == 422, patch
    for status in ({"succeeded": -1}, {"conditions": [{"type": "Complete", "status": "True"}]}):
        answer = call(
            sandbox.url, "PATCH", f"{jobs}/ok/status", {"status": status}, content_type=merge
        )
        assert answer.code == 422, status
