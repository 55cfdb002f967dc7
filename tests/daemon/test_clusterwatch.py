"""The cluster watch against the sandbox over HTTP: what wakes an environment and what not."""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes import client

from reconciler.cluster import api as cluster_api
from reconciler.daemon import clusterwatch
from reconciler.structs import labels
from tests.daemon.helpers import wait_for

NS = "ml-watched"


def job(name: str, *, ours: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if ours:
        meta["labels"] = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
                }
            },
        },
    }


def test_finished_steps_and_retry_requests_wake_their_environment(sandbox: Any) -> None:
    api = sandbox.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    woken: list[str] = []
    lock = threading.Lock()

    def on_change(key: str) -> None:
        with lock:
            woken.append(key)

    told: list[tuple[str, dict[str, Any]]] = []

    def on_object(path: str, obj: dict[str, Any]) -> None:
        with lock:
            told.append((path, obj))

    watch = clusterwatch.ClusterWatch(api, on_change, on_object=on_object)
    watch.start()
    watch.set_namespaces({NS: "dev"})
    try:
        assert wait_for(lambda: watch.healthy("dev"), 20)
        assert not watch.healthy("prod")  # not a namespace it watches
        batch.create_namespaced_job(NS, job("theirs", ours=False))
        batch.create_namespaced_job(NS, job("train"))
        # The sandbox finishes the Job after its step delay: a status change wakes "dev".
        assert wait_for(lambda: "dev" in woken, 30), woken
        finished = batch.read_namespaced_job("train", NS)
        assert any(c.type == "Complete" for c in finished.status.conditions or [])
        # What woke it is told first, by the path the API serves it at (the live cache's key).
        job_path = f"/apis/batch/v1/namespaces/{NS}/jobs/train"
        with lock:
            assert told and {path for path, _ in told} == {job_path}, told
            assert any(
                ("Complete", "True") in [(c["type"], c["status"]) for c in conds]
                for conds in (obj["status"].get("conditions") or [] for _, obj in told)
            ), told
        assert cluster_api.call(api, "GET", job_path).data["metadata"]["name"] == "train"
        time.sleep(0.5)  # the finished Job's own events are in
        with lock:
            woken.clear()
        batch.delete_namespaced_job("train", NS)  # a finished step removed: nothing new
        core.patch_namespace(NS, {"metadata": {"annotations": {"unrelated": "x"}}})
        time.sleep(1.0)
        assert woken == []
        core.patch_namespace(
            NS, {"metadata": {"annotations": {"reconciler.ml/retry.fraud": "abc:2"}}}
        )
        assert wait_for(lambda: woken == ["dev"], 10), woken
        assert told[-1][0] == f"/api/v1/namespaces/{NS}"
        watch.set_namespaces({})
        assert not watch.healthy("dev")
    finally:
        watch.stop()


def test_a_list_read_in_pages_knows_every_finished_step(sandbox: Any) -> None:
    """The list comes in pages (here of 2 objects) and every page counts: the deletion of a
    step it listed finished wakes nothing, on the first page as on the last."""
    api = sandbox.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    names = [f"step-{i}" for i in range(5)]
    for name in names:
        batch.create_namespaced_job(NS, job(name))

    def all_finished() -> bool:
        jobs = batch.list_namespaced_job(NS).items
        return len(jobs) == 5 and all(
            any(c.type == "Complete" and c.status == "True" for c in j.status.conditions or [])
            for j in jobs
        )

    assert wait_for(all_finished, 30)
    woken: list[str] = []
    watch = clusterwatch.ClusterWatch(api, woken.append, list_page=2)
    watch.start()
    watch.set_namespaces({NS: "dev"})
    try:
        assert wait_for(lambda: watch.healthy("dev"), 20)
        with watch._lock:
            known = {ident[2]: state for ident, state in watch._steps.items()}
        assert sorted(known) == names  # three pages, every object summarised
        assert all(terminal for _, terminal in known.values())
        # Each item was parsed without its template: its summary is the whole object's.
        listed = cluster_api.call(api, "GET", f"/apis/batch/v1/namespaces/{NS}/jobs").data
        assert known == {
            clusterwatch.name_of(j): clusterwatch.step_summary(j)[1] for j in listed["items"]
        }
        for name in names:
            batch.delete_namespaced_job(name, NS)
        time.sleep(1.0)
        assert woken == []  # each was known finished: its removal changes nothing
        batch.create_namespaced_job(NS, job("step-5"))  # the watch still follows
        assert wait_for(lambda: woken == ["dev"], 30), woken
    finally:
        watch.stop()


def test_signatures() -> None:
    running = {"status": {"active": 1, "startTime": "t"}}
    more_pods = {"status": {"active": 2, "startTime": "t2"}}
    done = {"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}
    assert clusterwatch.step_signature(running) == clusterwatch.step_signature(more_pods)
    assert clusterwatch.step_signature(running) != clusterwatch.step_signature(done)
    assert clusterwatch.is_terminal(done) and not clusterwatch.is_terminal(running)
    ns = {"metadata": {"annotations": {"reconciler.ml/retry.a": "r:2", "other": "x"}}}
    assert clusterwatch.retry_signature(ns) == '[["reconciler.ml/retry.a", "r:2"]]'
