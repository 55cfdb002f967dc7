"""Git faults: the remote down and back, and many processes racing on provenance branches.

- Remote down: the origin disappears while runs finish. Reconciles go on (records wait in
  the outbox, nothing is lost, nothing pruned before it is recorded); when the origin is
  back, every record is pushed exactly once.
- Concurrent pushes: separate processes (each its own ProvenanceStore and clone) write
  records to the same provenance branch at once; every record lands once, in a linear
  history.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.provenance.records import RunRecord
from reconciler.structs.errors import ReconcilerError
from tests.chaos import support
from tests.chaos.conftest import Figures
from tests.provenance.conftest import clone_of, record_factory, remote  # noqa: F401 (fixtures)
from tests.provenance.test_races import (
    assert_each_record_once_and_linear,
    results_of,
    start_workers,
)
from tests.workflows.world import GOOD, World, make_world, status


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes(GOOD)
    return w


def test_remote_down_and_back(world: World, figures: Figures) -> None:
    first = world.reconcile()
    runs = {p.name: p.run for p in first.pipelines}
    down = world.origin.with_name(world.origin.name + ".down")
    world.origin.rename(down)
    reconciles = errors = 0
    pending_max = 0
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            reconciles += 1
            try:
                out = engine.reconcile(world.ctx, "dev")
            except ReconcilerError:
                errors += 1
                time.sleep(0.3)
                continue
            pending_max = max(pending_max, len(world.ctx.provenance.pending()))
            if all(p.status in ("Succeeded", "Failed") for p in out.pipelines):
                break
            time.sleep(0.3)
        assert all(p.status in ("Succeeded", "Failed") for p in out.pipelines), out.pipelines
        jobs_while_down = world.jobs()
    finally:
        down.rename(world.origin)
    out = support.converge(world)
    seen = {p: {r} for p, r in runs.items()}
    records = support.check_records(world, seen)
    figures.update(reconciles_while_down=reconciles, failed_reconciles=errors,
                   records_waiting_max=pending_max, **records)  # fmt: skip
    figures.report()
    assert pending_max > 0  # the records really waited for the remote
    assert records["lost_records"] == 0 and records["doubled_records"] == 0
    assert status(out, "fraud-detector").serving is not None
    assert jobs_while_down  # nothing pruned while records were not pushed


WORKERS = 8
RECORDS_EACH = 5


def test_concurrent_pushes_to_provenance_branches(
    remote: Path,  # noqa: F811
    clone_of: Callable[[Path, str], Path],  # noqa: F811
    record_factory: Callable[..., RunRecord],  # noqa: F811
    tmp_path: Path,
    figures: Figures,
) -> None:
    clones = [clone_of(remote, f"c{i}") for i in range(WORKERS)]
    records = [[record_factory(f"w{i}r{j}") for j in range(RECORDS_EACH)] for i in range(WORKERS)]
    jobs = [(clones[i], "origin", records[i]) for i in range(WORKERS)]
    started = time.monotonic()
    results = results_of(start_workers(tmp_path, jobs))
    flat = [r for rs in results for r in rs]
    attempts = sorted(int(r["attempts"]) for r in flat)
    figures.update(processes=WORKERS, records=len(flat), pending=sum(r["outcome"] == "pending" for r in flat),
                   push_cycles_max=attempts[-1], push_cycles_median=attempts[len(attempts) // 2],
                   seconds=round(time.monotonic() - started, 1))  # fmt: skip
    figures.report()
    assert figures["pending"] == 0
    assert_each_record_once_and_linear(remote, {rec.path for recs in records for rec in recs})
