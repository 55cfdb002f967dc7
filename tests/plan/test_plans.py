"""Plan against the sandbox: server-side dry run, diffs of changed fields only, no changes made."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import SyncOptions, sync_objects
from reconciler.cluster import api
from reconciler.plan import formatting
from reconciler.plan.plans import plan_objects, plan_result
from reconciler.structs.changesets import Action
from reconciler.structs.manifests import ObjectRef
from tests.apply import objects

ENV, NS = "dev", "ml-dev"
APPLYSET = applyset_for(ENV, NS)
TAKEN = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: taken, namespace: {NS}}}
data: {{k: v}}
"""
FAST = api.RetryPolicy(attempts=2, initial=0.01, maximum=0.05, timeout=10)


@pytest.fixture
def manager(sandbox: Any) -> ResourceManager:
    return ResourceManager(sandbox.api_client(), retry=FAST)


def secret(value: str) -> dict[str, Any]:
    obj = objects.configmap("creds", NS, ENV)
    obj["kind"] = "Secret"
    del obj["data"]
    obj["stringData"] = {"token": value}
    return obj


def test_plan_on_an_empty_cluster_creates_everything_and_changes_nothing(
    manager: ResourceManager,
) -> None:
    desired = objects.environment(ENV, NS, ["a"])
    changes = plan_objects(manager, applyset=APPLYSET, desired=desired)
    created = {str(e.subject) for e in changes.entries if e.action is Action.CREATED}
    assert {str(ObjectRef.of(o)) for o in desired} <= created
    assert manager.get(ObjectRef("", "Namespace", "", NS, "v1")) is None


def test_plan_shows_only_changed_fields(manager: ResourceManager) -> None:
    desired = objects.environment(ENV, NS, ["a"])
    sync_objects(manager, applyset=APPLYSET, desired=desired)
    changed = copy.deepcopy(desired)
    dep = next(o for o in changed if o["kind"] == "Deployment")
    dep["spec"]["replicas"] = 3
    changes = plan_objects(manager, applyset=APPLYSET, desired=changed)
    entry = next(e for e in changes.entries if e.action is Action.CONFIGURED)
    assert str(entry.subject) == "Deployment/ml-dev/a"
    assert entry.diff.splitlines()[2:] == [
        "@@ -1,2 +1,2 @@",
        " spec:",
        "-  replicas: 2",
        "+  replicas: 3",
    ]
    live = manager.get(ObjectRef("apps", "Deployment", NS, "a", "v1"))
    assert live is not None and live["spec"]["replicas"] == 2


def test_plan_detects_drift_and_prunes_and_conflicts(
    manager: ResourceManager, kubectl: Any
) -> None:
    sync_objects(manager, applyset=APPLYSET, desired=objects.environment(ENV, NS, ["a", "b"]))
    kubectl("patch", "deployment/a", "-n", NS, "--type=merge", "-p", '{"spec": {"replicas": 7}}')
    kubectl("apply", "-f", "-", input=TAKEN)
    desired = [*objects.environment(ENV, NS, ["a"]), objects.configmap("taken", NS, ENV)]
    changes = plan_objects(manager, applyset=APPLYSET, desired=desired)
    by_subject = {str(e.subject): e for e in changes.entries}
    assert by_subject["Deployment/ml-dev/a"].action is Action.CONFIGURED
    assert "-  replicas: 7\n+  replicas: 2" in by_subject["Deployment/ml-dev/a"].diff
    assert by_subject["Deployment/ml-dev/b"].action is Action.DELETED
    assert by_subject["ConfigMap/ml-dev/taken"].action is Action.CONFLICT
    assert manager.get(ObjectRef("apps", "Deployment", NS, "b", "v1")) is not None


def test_secret_values_never_appear(manager: ResourceManager) -> None:
    sync_objects(
        manager,
        applyset=APPLYSET,
        desired=[objects.namespace(NS, ENV), secret("hunter2-old")],
    )
    changes = plan_objects(
        manager, applyset=APPLYSET, desired=[objects.namespace(NS, ENV), secret("hunter2-new")]
    )
    entry = next(e for e in changes.entries if e.subject.kind == "Secret")
    text = formatting.format_text(changes) + formatting.format_json(changes)
    text += formatting.format_markdown(changes)
    assert entry.action is Action.CONFIGURED and "***" in entry.diff
    assert "hunter2" not in text and "aHVudGVyMi" not in text


def test_plan_reports_missing_operator(manager: ResourceManager) -> None:
    desired = [objects.namespace(NS, ENV), objects.pytorchjob("llm", "r1", NS, ENV)]
    result = plan_result(manager, applyset=APPLYSET, desired=desired)
    assert len(result.missing_operators) == 1
    assert "Kubeflow training operator" in formatting.format_text(result.changeset)


def test_plan_keeps_the_prune_guards(manager: ResourceManager) -> None:
    sync_objects(manager, applyset=APPLYSET, desired=objects.environment(ENV, NS, ["a", "b"]))
    changes = plan_objects(
        manager,
        applyset=APPLYSET,
        desired=objects.environment(ENV, NS, ["a"]),
        options=SyncOptions(failed_pipelines=frozenset({"b"})),
    )
    assert not [e for e in changes.entries if e.action is Action.DELETED]
