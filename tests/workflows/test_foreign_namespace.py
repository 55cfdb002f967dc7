"""A Namespace a platform team created is used as it is: a note, never a conflict.

Against the sandbox with the example repository: ``plan`` and ``sync`` of an environment
whose Namespace already exists (made with kubectl's API, not by us) report it once as a
note and exit as if it were ours (2: changes pending, 0: synced); its labels are left
alone (no ApplySet membership, so no prune can ever delete it); only the commit annotation
``status`` reads is written.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from kubernetes import client

from reconciler.apply.ownership import FOREIGN_NAMESPACE_NOTE
from reconciler.cli.main import cli
from reconciler.engine import reporting
from tests.support.clirunner import cli_runner
from tests.workflows.world import NS, World, make_world


def run(world: World, command: str, *args: str) -> Result:
    return cli_runner().invoke(
        cli,
        [
            command,
            "--env",
            "dev",
            "--repo",
            str(world.work),
            "--kubeconfig",
            str(world.sandbox.kubeconfig),
            "--state-dir",
            str(world.work.parent / "cli-state"),
            *args,
        ],
    )


def test_a_namespace_made_by_a_platform_team_is_used_as_it_is(
    tmp_path: Path, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.engine.reporting")
    reporting._NOTED_NAMESPACES.discard(("dev", NS))
    world = make_world(tmp_path, sandbox)
    core = client.CoreV1Api(world.api)
    labels = {"team": "platform", "kubernetes.io/metadata.name": NS}
    core.create_namespace({"metadata": {"name": NS, "labels": {"team": "platform"}}})

    plan = run(world, "plan")
    assert plan.exit_code == 2, plan.output
    assert f"Namespace/{NS} skipped: {FOREIGN_NAMESPACE_NOTE}" in plan.stdout
    assert plan.stdout.count(f"Namespace/{NS}") == 1
    assert "0 conflicts" in plan.stdout and "Namespace/ml-dev created" not in plan.stdout

    sync = run(world, "sync", "-o", "json")
    assert sync.exit_code == 0, sync.output
    changes = json.loads(sync.stdout)["changes"]
    (ns_entry,) = [c for c in changes if c["kind"] == "Namespace"]
    assert ns_entry["action"] == "skipped" and ns_entry["message"] == FOREIGN_NAMESPACE_NOTE
    assert not [c for c in changes if c["action"] in ("conflict", "failed")]

    live = core.read_namespace(NS)
    assert live.metadata.labels == labels  # nothing added: never a member, never pruned
    commit = world.reconcile().commit
    world.reconcile()
    noted = [r for r in caplog.records if r.getMessage() == "namespace used as it is"]
    assert len(noted) == 1, noted  # once per process, not at every sync
    live = core.read_namespace(NS)
    assert live.metadata.annotations["reconciler.ml/commit"] == commit
    assert live.metadata.labels == labels

    status = run(world, "status", "-o", "json")
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)
    assert row["appliedCommit"] == commit
