"""The sandbox's own control loops at rest: what they cost, not what they answer.

Not part of the API contract, so not among the scenarios the cluster suite runs against
kube-apiserver (``tests/cluster/test_scenarios.py`` imports the contract's modules only).
"""

from __future__ import annotations

import time

from tests.conftest import SandboxHandle
from tests.sandbox.http import call
from tests.sandbox.test_api import CM, cm, wait_for


def test_the_garbage_collector_walks_the_store_again_only_after_a_write(
    sandbox: SandboxHandle,
) -> None:
    lifecycle = sandbox.server.lifecycle
    call(sandbox.url, "POST", CM, cm("quiet"))
    time.sleep(1.5)  # the write's pass (at the latest on the next tick)
    passes = lifecycle.passes
    time.sleep(2.5)  # two ticks with nothing written: no walk of the store
    assert lifecycle.passes == passes
    # A write that wakes nothing (an object whose owner never existed): the next tick sees
    # that something was written and collects it.
    body = cm("stray")
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "no-such-uid"}
    ]
    assert call(sandbox.url, "POST", CM, body).code == 201
    assert wait_for(lambda: call(sandbox.url, "GET", f"{CM}/stray").code == 404)
    assert lifecycle.passes > passes


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
