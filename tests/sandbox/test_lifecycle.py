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
