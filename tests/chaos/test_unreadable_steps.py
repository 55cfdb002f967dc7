"""A finished run whose step objects cannot be read again waits for its record, kept.

The full pass holds step objects trimmed (no pod templates: ``reconciler.runs.trimming``),
so recording a run reads its steps again, whole. While the API server refuses those
reads, the run is not recorded (a record without its steps' images would be a lost
fact), the reconcile reports it, and nothing of the run is pruned; once the reads work,
the run is recorded with every step's image. The sandbox behind :class:`FaultProxy`,
which refuses every GET of one Job or PyTorchJob while told to.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from reconciler import engine
from reconciler.apply.manager import ResourceManager
from reconciler.cluster import api, clients
from tests.chaos import support
from tests.chaos.faultproxy import FaultProxy
from tests.workflows.world import GOOD, make_world, status

ONE_STEP_OBJECT = re.compile(
    r"^/apis/(batch/v1|kubeflow\.org/v1)/namespaces/[^/]+/(jobs|pytorchjobs)/[^/?]+$"
)


def test_a_run_waits_for_its_record_until_its_steps_can_be_read(
    tmp_path: Path, sandbox: Any
) -> None:
    proxy = FaultProxy(sandbox.url, rate=0.0).start()
    try:
        world = make_world(tmp_path, sandbox)
        world.outcomes(GOOD)
        kubeconfig = support.kubeconfig_for(proxy.url, tmp_path / "proxy-kubeconfig")
        retry = api.RetryPolicy(attempts=2, initial=0.05, maximum=0.1, timeout=5)
        manager = ResourceManager(clients.load_client(kubeconfig=str(kubeconfig)), retry=retry)
        world.ctx = engine.Context(
            repo=world.work, manager_for=lambda _c: manager, provenance=world.ctx.provenance
        )
        proxy.refuse = lambda method, path: (
            method == "GET" and bool(ONE_STEP_OBJECT.match(path.split("?", 1)[0]))
        )

        first = engine.reconcile(world.ctx, "dev")
        run = status(first, "fraud-detector").run
        deadline = time.monotonic() + 60
        refused = None
        while refused is None:
            assert time.monotonic() < deadline, "no run finished"
            out = engine.reconcile(world.ctx, "dev")
            refused = next(
                (e for e in out.errors if "cannot read its step objects" in str(e)), None
            )
            time.sleep(0.2)

        # Reported, not recorded, and every step object of the run is still there.
        assert refused.to_dict()["kind"] == "provenance"
        _, _, pipeline, name = refused.path.removesuffix(".yaml").split("/")
        assert not support.record_files(world, pipeline)
        assert proxy.counts["500"] > 0
        live = [*world.jobs(), *world.pytorchjobs()]
        assert any(n.startswith(f"{pipeline}-{name}-") for n in live), live

        # The reads work again: every run is recorded, with its steps' images.
        proxy.refuse = None
        out = world.until(
            lambda o: all(p.status in ("Succeeded", "Failed", "Cancelled") for p in o.pipelines),
            timeout=60,
        )
        record = world.origin_record(
            "experiments/fraud-detector", f"runs/dev/fraud-detector/{run}.yaml"
        )
        assert {s.name: s.image for s in record.steps} == {
            "prepare": "registry.example.com/risk/fraud-prepare:0.9.0",
            "train": "registry.example.com/risk/fraud-train:0.9.0",
            "evaluate": "registry.example.com/risk/fraud-train:0.9.0",
        }
        assert not out.errors
    finally:
        proxy.stop()
