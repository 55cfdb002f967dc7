"""The sandbox's own control loops at rest: what they cost, not what they answer.

Not part of the API contract, so not among the scenarios the cluster suite runs against
kube-apiserver (``tests/cluster/test_scenarios.py`` imports the contract's modules only).
"""

from __future__ import annotations

import time

from tests.conftest import SandboxHandle
from tests.sandbox.http import call
from tests.sandbox.test_api import CM, cm, wait_for


def test_the_garbage_collector_walks_the_store_only_after_a_write_that_may_give_it_work(
    sandbox: SandboxHandle,
) -> None:
    lifecycle = sandbox.server.lifecycle
    call(sandbox.url, "POST", CM, cm("quiet"))
    time.sleep(1.5)  # a pass the start-up or an earlier test left due, at the latest now
    passes = lifecycle.passes
    # Writes of objects with no owner, or owners that are stored: nothing to collect, no
    # walk of the store (a sync's thousands of writes each held every request up).
    for i in range(20):
        call(sandbox.url, "POST", CM, cm(f"plain-{i}"))
        call(sandbox.url, "PATCH", f"{CM}/plain-{i}", {"data": {"n": str(i)}},
             content_type="application/merge-patch+json")  # fmt: skip
    owner = call(sandbox.url, "GET", f"{CM}/quiet").body["metadata"]
    owned = cm("owned")
    owned["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "quiet", "uid": owner["uid"]}
    ]
    assert call(sandbox.url, "POST", CM, owned).code == 201
    time.sleep(2.5)  # two ticks
    assert lifecycle.passes == passes
    assert call(sandbox.url, "GET", f"{CM}/owned").code == 200
    # A write that wakes nothing but names an owner that was never stored: the next tick
    # walks the store and collects it.
    body = cm("stray")
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "no-such-uid"}
    ]
    assert call(sandbox.url, "POST", CM, body).code == 201
    assert wait_for(lambda: call(sandbox.url, "GET", f"{CM}/stray").code == 404)
    assert lifecycle.passes > passes
    # Its owner deleted (a deletion wakes the loop): the dependent is collected.
    assert call(sandbox.url, "DELETE", f"{CM}/quiet").code == 200
    assert wait_for(lambda: call(sandbox.url, "GET", f"{CM}/owned").code == 404)


def test_a_deleting_claim_goes_once_the_pod_using_it_has_stopped(sandbox: SandboxHandle) -> None:
    """PVC protection waits for a pod, then a write of that pod (no deletion, no owner)
    is what lets the loop drop the finalizer."""
    claims, pods = (
        "/api/v1/namespaces/default/persistentvolumeclaims",
        "/api/v1/namespaces/default/pods",
    )
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    assert call(sandbox.url, "POST", claims, claim).code == 201
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "uses-data"},
        "spec": {
            "containers": [{"name": "c", "image": "i"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }
    assert call(sandbox.url, "POST", pods, pod).code == 201
    assert call(sandbox.url, "DELETE", f"{claims}/data").code == 200
    time.sleep(1.5)
    held = call(sandbox.url, "GET", f"{claims}/data").body["metadata"]
    assert held["deletionTimestamp"] and held["finalizers"] == ["kubernetes.io/pvc-protection"]
    status = {"status": {"phase": "Succeeded"}}
    done = call(sandbox.url, "PATCH", f"{pods}/uses-data/status", status,
                content_type="application/merge-patch+json")  # fmt: skip
    assert done.code == 200
    assert wait_for(lambda: call(sandbox.url, "GET", f"{claims}/data").code == 404)


def test_the_simulated_controllers_pass_over_finished_jobs_until_they_are_written() -> None:
    """A finished Job has nothing due: the controllers stop looking at it (an idle sandbox
    of thousands of them spent a core doing so), and look again once it is written."""
    from reconciler.sandbox import Sandbox
    from tests.sandbox.test_controllers import JOBS, job

    with Sandbox(port=0, step_delay=0.1) as server:
        controllers = server.controllers
        assert controllers is not None
        for name in ("a", "b"):
            assert call(server.url, "POST", JOBS, job(name)).code == 201

        def complete(name: str) -> bool:
            got = call(server.url, "GET", f"{JOBS}/{name}")
            conds = (got.body.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Complete" and c["status"] == "True" for c in conds)

        assert wait_for(lambda: complete("a") and complete("b"))

        def at_rest() -> int:
            """Wait until the controllers look at nothing for two windows of ten ticks or
            more (a tick is 0.02 s at this step delay); return the count."""
            quiet, seen = 0, controllers.looked_at
            for _ in range(40):
                time.sleep(0.3)
                now = controllers.looked_at
                quiet, seen = (quiet + 1 if now == seen else 0), now
                if quiet == 2:
                    return seen
            raise AssertionError("the controllers kept looking at finished Jobs")

        rested = at_rest()  # each finished Job found at rest once, then passed over
        passes = controllers.passes
        time.sleep(0.5)  # 25 ticks: every object at rest, nothing written, no pass at all
        assert controllers.passes == passes
        patch = {"metadata": {"labels": {"touched": "yes"}}}
        code = call(server.url, "PATCH", f"{JOBS}/a", patch,
                    content_type="application/merge-patch+json").code  # fmt: skip
        assert code == 200
        assert wait_for(lambda: controllers.looked_at > rested)
        assert at_rest() == rested + 1  # the written one, looked at once again, and no other
