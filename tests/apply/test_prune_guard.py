"""Prune safety beyond an empty render: every pipeline gone, or too large a share at once.

Regression: ``resources: []`` in ``pipelines/kustomization.yaml`` still renders the
environment's namespace, quotas and queues, so the empty-render guard did not hold and
every serving Deployment, Service, HPA, Ingress and InferenceService was pruned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import MAX_PRUNE_SHARE_ENV, SyncOptions, sync_objects
from reconciler.cluster import api
from reconciler.structs.changesets import Action
from reconciler.structs.manifests import ObjectRef
from tests.apply import objects
from tests.workflows.world import GOOD, World, make_world, status

ENV, NS = "dev", "ml-dev"
APPLYSET = applyset_for(ENV, NS)
FAST = api.RetryPolicy(attempts=2, initial=0.01, maximum=0.05, timeout=10)


@pytest.fixture
def manager(sandbox: Any) -> ResourceManager:
    return ResourceManager(sandbox.api_client(), retry=FAST)


def sync(manager: ResourceManager, desired: list[dict], **options: Any) -> Any:
    return sync_objects(manager, applyset=APPLYSET, desired=desired, options=SyncOptions(**options))


def by_action(result: Any, action: Action) -> list[str]:
    return sorted(e.subject.name for e in result.changeset.entries if e.action is action)


def deployment(manager: ResourceManager, name: str) -> Any:
    return manager.get(ObjectRef("apps", "Deployment", NS, name, "v1"))


def test_every_pipeline_gone_prunes_nothing_unless_allowed(manager: ResourceManager) -> None:
    sync(manager, objects.environment(ENV, NS, ["a", "b"]))
    # The environment still renders its namespace, quota and settings: not empty.
    result = sync(manager, objects.environment(ENV, NS, []))
    assert by_action(result, Action.DELETED) == []
    kept = [e for e in result.changeset.entries if e.action is Action.SKIPPED]
    assert len(kept) == 8
    assert all("every pipeline would be pruned (a, b)" in e.message for e in kept)
    assert deployment(manager, "a") is not None and deployment(manager, "b") is not None
    result = sync(manager, objects.environment(ENV, NS, []), allow_empty=True)
    assert len(by_action(result, Action.DELETED)) == 8
    assert deployment(manager, "a") is None


def test_more_than_the_share_prunes_nothing_unless_allowed(
    manager: ResourceManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(manager, objects.environment(ENV, NS, ["a", "b", "c", "d"]))
    keep_one = objects.environment(ENV, NS, ["a"])
    result = sync(manager, keep_one)  # 12 of 19 owned objects would go
    assert by_action(result, Action.DELETED) == []
    message = next(e.message for e in result.changeset.entries if e.action is Action.SKIPPED)
    assert "12 of 19 owned objects would be pruned, more than 50%" in message
    assert deployment(manager, "d") is not None
    # A share the operator allows, from the documented setting.
    monkeypatch.setenv(MAX_PRUNE_SHARE_ENV, "0.75")
    result = sync(manager, keep_one)
    assert len(by_action(result, Action.DELETED)) == 12
    assert deployment(manager, "d") is None


def test_removing_one_pipeline_of_several_still_prunes(manager: ResourceManager) -> None:
    sync(manager, objects.environment(ENV, NS, ["a", "b", "c"]))
    result = sync(manager, objects.environment(ENV, NS, ["a", "c"]))
    assert by_action(result, Action.DELETED) == ["b", "b", "b-r1-prepare", "b-r1-train"]


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes(GOOD)
    return w


def test_empty_pipeline_list_in_git_keeps_serving(world: World) -> None:
    world.until(
        lambda o: (
            status(o, "fraud-detector").serving is not None
            and status(o, "resnet50").serving is not None
        )
    )
    text = (world.work / "pipelines/kustomization.yaml").read_text()
    head, _, _ = text.partition("resources:")
    (world.work / "pipelines/kustomization.yaml").write_text(head + "resources: []\n")
    before = engine.reconcile(world.ctx, "dev", dry_run=True).applied_commit
    emptied = world.commit_and_push("Remove every pipeline")
    out = engine.reconcile(world.ctx, "dev")
    assert not [e for e in out.changeset.entries if e.action is Action.DELETED]
    # A refused prune leaves the cluster unlike Git: that commit is not applied in full.
    assert out.applied_commit == before != emptied
    assert not out.in_sync and out.synced_commit == before  # what the daemon's status shows
    skipped = {str(e.subject) for e in out.changeset.entries if e.action is Action.SKIPPED}
    assert "Deployment/ml-dev/fraud-detector" in skipped
    assert "InferenceService/ml-dev/resnet50" in skipped
    assert world.deployment("fraud-detector") is not None
    assert world.inference_service("resnet50") is not None
    out = engine.reconcile(world.ctx, "dev", allow_empty=True)
    assert out.applied_commit == emptied and out.in_sync
    assert world.deployment("fraud-detector") is None
    assert world.inference_service("resnet50") is None
