"""Sync against the sandbox API server: ownership, minimal requests, drift, prune safety."""

from __future__ import annotations

import copy
import itertools
import time
from collections import Counter
from typing import Any

import pytest

from reconciler.apply import fields, manager_apply, ordering
from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import SyncOptions, sync_objects
from reconciler.cluster import api
from reconciler.structs import labels
from reconciler.structs.changesets import Action
from reconciler.structs.manifests import ObjectRef
from tests.apply import objects

ENV, NS = "dev", "ml-dev"
APPLYSET = applyset_for(ENV, NS)
FAST = api.RetryPolicy(attempts=2, initial=0.01, maximum=0.05, timeout=10)
FOREIGN_SETTINGS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {NS}}}
data: {{owner: someone}}
"""
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}


def counts(sandbox: Any) -> Counter[str]:
    """API requests so far by verb, from the sandbox's /metrics.

    A server counts a request once its answer is sent, so the count of the last request
    may land a moment after the client has its answer: read until two reads agree.
    """

    def read() -> Counter[str]:
        out: Counter[str] = Counter()
        for (verb, resource, _code), n in sandbox.request_counts().items():
            if resource:  # API requests only, not /metrics itself
                out[verb.upper()] += n
        return out

    last = read()
    while True:
        time.sleep(0.05)
        now = read()
        if now == last:
            return now
        last = now


def delta(before: Counter[str], after: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before[k] for k in after if after[k] - before[k]})


def writes(c: Counter[str]) -> int:
    return sum(n for verb, n in c.items() if verb in WRITE_VERBS)


def actions(result: Any) -> dict[str, str]:
    return {str(e.subject): str(e.action) for e in result.changeset.entries}


@pytest.fixture
def manager(sandbox: Any) -> ResourceManager:
    return ResourceManager(sandbox.api_client(), retry=FAST)


def sync(manager: ResourceManager, desired: list[dict], **options: Any) -> Any:
    return sync_objects(manager, applyset=APPLYSET, desired=desired, options=SyncOptions(**options))


def test_first_sync_creates_everything_with_ownership(
    manager: ResourceManager, kubectl: Any
) -> None:
    desired = objects.environment(ENV, NS, ["resnet50", "bert"])
    before = copy.deepcopy(desired)
    result = sync(manager, desired)
    assert result.ok, result.changeset
    assert {e.action for e in result.changeset.entries} == {Action.CREATED}
    assert desired == before  # the caller's dicts are not modified
    cm = manager.get(ObjectRef("", "ConfigMap", NS, "settings", "v1"))
    assert cm is not None
    assert cm["metadata"]["labels"][labels.APPLYSET_PART_OF] == APPLYSET.id
    assert cm["metadata"]["annotations"][labels.SPEC_HASH]
    parent = manager.get(APPLYSET.parent_ref)
    assert parent is not None
    ann = parent["metadata"]["annotations"]
    assert ann[labels.APPLYSET_CONTAINS_GROUP_KINDS] == (
        "ConfigMap,Deployment.apps,Job.batch,Namespace,ResourceQuota,Service"
    )
    assert parent["metadata"]["labels"][labels.APPLYSET_ID] == APPLYSET.id
    # Every member is in result.live, as the server returned it.
    assert len(result.live) == len(desired)


def test_noop_sync_makes_no_write_and_one_list_per_kind(
    manager: ResourceManager, sandbox: Any
) -> None:
    desired = objects.environment(ENV, NS, ["resnet50", "bert"])
    sync(manager, desired)
    before = counts(sandbox)
    result = sync(manager, desired)
    made = delta(before, counts(sandbox))
    assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}
    assert writes(made) == 0 and result.writes == 0
    # 6 kinds: one LIST each (one namespace), plus the parent GET.
    assert made == Counter({"LIST": 6, "GET": 1})


def test_one_changed_pipeline_writes_only_its_objects(
    manager: ResourceManager, sandbox: Any
) -> None:
    pipelines = [f"p{i}" for i in range(10)]
    sync(manager, objects.environment(ENV, NS, pipelines))
    changed = objects.environment(ENV, NS, pipelines)
    for obj in changed:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "p3":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = "serve:2"
    before = counts(sandbox)
    result = sync(manager, changed)
    made = delta(before, counts(sandbox))
    assert [str(e) for e in result.changeset.entries if e.action is not Action.UNCHANGED] == [
        "Deployment/ml-dev/p3 configured"
    ]
    assert writes(made) == 1


def test_hand_edits_are_corrected(manager: ResourceManager, kubectl: Any) -> None:
    desired = objects.environment(ENV, NS, ["resnet50"])
    sync(manager, desired)
    kubectl(
        "patch", "deployment/resnet50", "-n", NS, "--type=merge", "-p", '{"spec": {"replicas": 5}}'
    )
    kubectl("label", "configmap/settings", "-n", NS, f"{labels.ENV}=hacked", "--overwrite")
    kubectl("set", "image", "deployment/resnet50", "-n", NS, "main=evil:latest")
    result = sync(manager, desired)
    assert actions(result)["Deployment/ml-dev/resnet50"] == "configured"
    assert actions(result)["ConfigMap/ml-dev/settings"] == "configured"
    dep = manager.get(ObjectRef("apps", "Deployment", NS, "resnet50", "v1"))
    assert dep is not None
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "serve:1"
    cm = manager.get(ObjectRef("", "ConfigMap", NS, "settings", "v1"))
    assert cm is not None and cm["metadata"]["labels"][labels.ENV] == ENV


def test_replicas_owned_by_another_manager_are_not_fought_over(
    manager: ResourceManager, kubectl: Any, sandbox: Any
) -> None:
    desired = [
        objects.namespace(NS, ENV),
        objects.deployment("resnet50", NS, ENV, replicas=None),
    ]
    sync(manager, desired)
    kubectl(
        "patch", "deployment/resnet50", "-n", NS, "--type=merge", "-p", '{"spec": {"replicas": 4}}'
    )
    before = counts(sandbox)
    result = sync(manager, desired)
    assert writes(delta(before, counts(sandbox))) == 0
    assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}
    dep = manager.get(ObjectRef("apps", "Deployment", NS, "resnet50", "v1"))
    assert dep is not None and dep["spec"]["replicas"] == 4


def test_object_we_do_not_own_is_a_conflict_and_left_alone(
    manager: ResourceManager, kubectl: Any
) -> None:
    kubectl("apply", "-f", "-", input=FOREIGN_SETTINGS)
    result = sync(manager, [objects.namespace(NS, ENV), objects.configmap("settings", NS, ENV)])
    entry = next(e for e in result.changeset.entries if e.subject.name == "settings")
    assert entry.action is Action.CONFLICT
    assert "not owned by this environment" in entry.message and "kubectl" in entry.message
    cm = manager.get(ObjectRef("", "ConfigMap", NS, "settings", "v1"))
    assert cm is not None and cm["data"] == {"owner": "someone"}
    assert labels.APPLYSET_PART_OF not in (cm["metadata"].get("labels") or {})


def test_object_of_another_environment_is_a_conflict(manager: ResourceManager) -> None:
    other = applyset_for("other", NS)
    sync_objects(
        manager,
        applyset=other,
        desired=[objects.namespace(NS, "other"), objects.configmap("settings", NS, "other")],
    )
    result = sync(manager, [objects.configmap("settings", NS, ENV)])
    entry = next(e for e in result.changeset.entries if e.subject.name == "settings")
    assert entry.action is Action.CONFLICT
    assert f"part of ApplySet {other.id} of environment 'other'" in entry.message


def test_prune_removes_exactly_a_deleted_pipelines_objects(manager: ResourceManager) -> None:
    sync(manager, objects.environment(ENV, NS, ["a", "b", "c"]))
    result = sync(manager, objects.environment(ENV, NS, ["a", "c"]))
    deleted = sorted(str(e.subject) for e in result.changeset.entries if e.action is Action.DELETED)
    assert deleted == [
        "Deployment/ml-dev/b",
        "Job/ml-dev/b-r1-prepare",
        "Job/ml-dev/b-r1-train",
        "Service/ml-dev/b",
    ]
    assert manager.get(ObjectRef("apps", "Deployment", NS, "b", "v1")) is None
    assert manager.get(ObjectRef("apps", "Deployment", NS, "a", "v1")) is not None


def test_prune_keeps_a_pipeline_that_failed_to_render(manager: ResourceManager) -> None:
    sync(manager, objects.environment(ENV, NS, ["a", "b"]))
    result = sync(manager, objects.environment(ENV, NS, ["a"]), failed_pipelines=frozenset({"b"}))
    kept = [e for e in result.changeset.entries if e.action is Action.SKIPPED]
    assert len(kept) == 4 and all("pipeline 'b' failed to render" in e.message for e in kept)
    assert manager.get(ObjectRef("apps", "Deployment", NS, "b", "v1")) is not None


def test_prune_keeps_what_the_caller_protects(manager: ResourceManager) -> None:
    sync(manager, objects.environment(ENV, NS, ["a"], run="r1"))

    def keep(obj: dict) -> bool | str:
        return "still running" if obj["kind"] == "Job" else False

    result = sync(manager, objects.environment(ENV, NS, ["a"], run="r2"), keep=keep)
    by_action = Counter(str(e.action) for e in result.changeset.entries)
    assert by_action["skipped"] == 2 and by_action["deleted"] == 0
    assert manager.get(ObjectRef("batch", "Job", NS, "a-r1-train", "v1")) is not None


def test_empty_render_prunes_nothing_unless_allowed(manager: ResourceManager) -> None:
    sync(manager, objects.environment(ENV, NS, ["a"]))
    result = sync(manager, [])
    assert {e.action for e in result.changeset.entries} == {Action.SKIPPED}
    assert manager.get(ObjectRef("apps", "Deployment", NS, "a", "v1")) is not None
    result = sync(manager, [], allow_empty=True)
    deleted = [e.subject.name for e in result.changeset.entries if e.action is Action.DELETED]
    # The 7 members; the parent goes too (with its namespace, or deleted after it).
    assert len([n for n in deleted if n != APPLYSET.name]) == 7
    assert manager.get(ObjectRef("apps", "Deployment", NS, "a", "v1")) is None


def test_immutable_field_is_reported_not_recreated(manager: ResourceManager) -> None:
    desired = objects.environment(ENV, NS, ["a"])
    sync(manager, desired)
    job = manager.get(ObjectRef("batch", "Job", NS, "a-r1-train", "v1"))
    assert job is not None
    changed = copy.deepcopy(desired)
    for obj in changed:
        if obj["metadata"]["name"] == "a-r1-train":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = "train:2"
    result = sync(manager, changed)
    entry = next(e for e in result.changeset.entries if e.subject.name == "a-r1-train")
    assert entry.action is Action.FAILED and "immutable" in entry.message
    assert str(entry).startswith("Job/ml-dev/a-r1-train failed: ")
    after = manager.get(ObjectRef("batch", "Job", NS, "a-r1-train", "v1"))
    assert after is not None and after["metadata"]["uid"] == job["metadata"]["uid"]
    assert result.changeset.failed


def test_invalid_object_fails_alone(manager: ResourceManager) -> None:
    bad = objects.deployment("bad", NS, ENV)
    bad["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "other"}
    typo = objects.configmap("typo", NS, ENV)
    typo["dataa"] = typo.pop("data")
    desired = [objects.namespace(NS, ENV), bad, typo, objects.configmap("ok", NS, ENV)]
    result = sync(manager, desired)
    assert actions(result) == {
        "Namespace/ml-dev": "created",
        "ConfigMap/ml-dev/reconciler-applyset-dev": "created",
        "ConfigMap/ml-dev/ok": "created",
        "ConfigMap/ml-dev/typo": "failed",
        "Deployment/ml-dev/bad": "failed",
    }
    messages = {e.subject.name: e.message for e in result.changeset.entries}
    assert messages["bad"].startswith("invalid: ") and "selector" in messages["bad"]
    assert "dataa" in messages["typo"]


def test_missing_crd_is_one_error_naming_the_operator(
    manager: ResourceManager, sandbox: Any
) -> None:
    desired = [
        *objects.environment(ENV, NS, ["a"]),
        objects.pytorchjob("llm", "r1", NS, ENV),
        objects.pytorchjob("gpt", "r1", NS, ENV),
    ]
    result = sync(manager, desired)
    assert len(result.missing_operators) == 1
    assert "Kubeflow training operator" in result.missing_operators[0]
    failed = [e for e in result.changeset.entries if e.action is Action.FAILED]
    assert {e.subject.kind for e in failed} == {"PyTorchJob"} and len(failed) == 2
    assert manager.get(ObjectRef("apps", "Deployment", NS, "a", "v1")) is not None
    again = sync(manager, desired)  # a missing operator costs no write on the next sync
    assert again.writes == 0 and len(again.missing_operators) == 1
    sandbox.install_crds()
    result = sync(manager, desired)
    assert result.missing_operators == [] and result.ok
    assert actions(result)["PyTorchJob/ml-dev/llm-r1-train"] == "created"


def test_discovery_is_not_repeated(manager: ResourceManager, sandbox: Any) -> None:
    desired = objects.environment(ENV, NS, ["a"])
    sync(manager, desired)
    discovery_requests = manager.discovery.stats.total
    sync(manager, objects.environment(ENV, NS, ["a", "b"]))
    assert manager.discovery.stats.total == discovery_requests


def test_second_namespace_is_recorded_and_pruned(manager: ResourceManager) -> None:
    extra = [objects.namespace("ml-dev-extra", ENV), objects.configmap("x", "ml-dev-extra", ENV)]
    sync(manager, objects.environment(ENV, NS, []) + extra)
    parent = manager.get(APPLYSET.parent_ref)
    assert parent is not None
    assert (
        parent["metadata"]["annotations"][labels.APPLYSET_ADDITIONAL_NAMESPACES] == "ml-dev-extra"
    )
    result = sync(manager, objects.environment(ENV, NS, []) + extra[:1])
    assert actions(result)["ConfigMap/ml-dev-extra/x"] == "deleted"


def test_sync_reuses_an_earlier_listing(manager: ResourceManager, sandbox: Any) -> None:
    desired = objects.environment(ENV, NS, ["a"])
    sync(manager, desired)
    before = counts(sandbox)
    live = manager.list_live(APPLYSET, [("batch", "Job"), ("apps", "Deployment")])
    listed = delta(before, counts(sandbox))
    result = sync_objects(manager, applyset=APPLYSET, desired=desired, live=live)
    made = delta(before, counts(sandbox))
    assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}
    # The parent GET and the kinds the parent lists were read once, by list_live.
    assert made == listed == Counter({"LIST": 6, "GET": 1})


def test_a_list_read_in_pages_is_the_same_list(manager: ResourceManager, sandbox: Any) -> None:
    """Lists are paged (``limit``, ``continue``): the same objects, in the same order."""
    desired = objects.environment(ENV, NS, ["a", "b", "c"])
    sync(manager, desired)
    paged = ResourceManager(sandbox.api_client(), retry=FAST, list_chunk=2)
    before = counts(sandbox)
    result = sync(paged, desired)
    made = delta(before, counts(sandbox))
    assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}
    assert writes(made) == 0
    # 3 Deployments, 3 Services, 6 Jobs: 2, 2 and 3 pages; one page for each other kind.
    assert made == Counter({"LIST": 10, "GET": 1})
    whole = manager.list("batch/v1", "Job", namespace=NS)
    pages = paged.list("batch/v1", "Job", namespace=NS)
    assert [o["metadata"]["name"] for o in pages] == [o["metadata"]["name"] for o in whole]
    assert pages == whole and len(pages) == 6
    # Compacted as every list is: our apply's fieldsV1 as JSON text, the same fields.
    served = pages[0]["metadata"]["managedFields"]
    ours = [e for e in served if e["manager"] == manager.field_manager]
    assert [type(e.get("fieldsV1")) for e in ours] == [str]
    assert all("fieldsV1" not in e for e in served if e not in ours)
    owned = fields.owned_fields(pages[0], manager.field_manager)
    assert owned is not None and "f:spec" in owned


def test_an_expired_continue_token_lists_again_whole(sandbox: Any) -> None:
    """A page refused with 410 Expired (the list's version compacted) starts the list again,
    whole and without pages (client-go's pager does the same), and misses nothing."""
    paged = ResourceManager(sandbox.api_client(), retry=FAST, list_chunk=2)
    paged.apply(objects.namespace(NS, ENV), applyset=None)
    for i in range(5):
        paged.apply(objects.configmap(f"c{i}", NS, ENV), applyset=None)
    api = sandbox.server.api
    real_clock, jumps = api.clock, itertools.count()
    api.clock = lambda: real_clock() + 400 * next(jumps)  # every reading 400 s later: past the TTL
    try:
        before = sandbox.request_counts()
        listed = paged.list("v1", "ConfigMap", namespace=NS)
        after = sandbox.request_counts()
    finally:
        api.clock = real_clock
    assert [o["metadata"]["name"] for o in listed] == [f"c{i}" for i in range(5)]
    made = {k: n - before.get(k, 0) for k, n in after.items() if k[0] == "LIST"}
    made = {k: n for k, n in made.items() if n}
    # The first page, its continuation refused, then the whole list in one request.
    assert made == {("LIST", "configmaps", "200"): 2, ("LIST", "configmaps", "410"): 1}


def test_single_object_verbs(manager: ResourceManager, kubectl: Any) -> None:
    kubectl("apply", "-f", "-", input=FOREIGN_SETTINGS)
    entry = manager.apply(objects.configmap("settings", NS, ENV), applyset=APPLYSET)
    assert entry.action is Action.CONFLICT
    mine = manager.apply(objects.configmap("mine", NS, ENV), applyset=APPLYSET)
    again = manager.apply(objects.configmap("mine", NS, ENV), applyset=APPLYSET)
    assert (mine.action, again.action) == (Action.CREATED, Action.UNCHANGED)
    ref = ObjectRef("", "ConfigMap", NS, "mine", "v1")
    assert str(manager.delete(ref)) == "ConfigMap/ml-dev/mine deleted"
    assert manager.get(ref) is None
    assert manager.delete(ref).message == "already gone"


def test_an_owned_false_removed_by_hand_is_drift_and_an_omitted_empty_value_is_not(
    manager: ResourceManager, kubectl: Any, sandbox: Any
) -> None:
    desired = objects.environment(ENV, NS, ["resnet50"])
    for obj in desired:
        if obj["kind"] == "Deployment":
            obj["spec"]["paused"] = False  # a value, not an absence
            obj["spec"]["template"]["spec"]["containers"][0]["args"] = []  # printed as absent
    assert sync(manager, desired).ok
    live = manager.get(ObjectRef("apps", "Deployment", NS, "resnet50", "v1"))
    assert live is not None and "args" not in live["spec"]["template"]["spec"]["containers"][0]
    before = counts(sandbox)
    again = sync(manager, desired)  # the server holds args: [] for us: nothing to do
    assert {e.action for e in again.changeset.entries} == {Action.UNCHANGED}
    assert writes(delta(before, counts(sandbox))) == 0
    # Someone removes paused: false by hand; our ownership of it goes with it.
    kubectl(
        "patch", "deployment/resnet50", "-n", NS, "--type=merge", "-p", '{"spec": {"paused": null}}'
    )
    edited = manager.get(ObjectRef("apps", "Deployment", NS, "resnet50", "v1"))
    assert edited is not None and "paused" not in edited["spec"]
    result = sync(manager, desired)
    assert actions(result)["Deployment/ml-dev/resnet50"] == "configured"
    restored = manager.get(ObjectRef("apps", "Deployment", NS, "resnet50", "v1"))
    assert restored is not None and restored["spec"]["paused"] is False


def test_objects_found_in_sync_are_remembered_and_hand_edits_still_corrected(
    sandbox: Any, kubectl: Any
) -> None:
    """``verified``: a (desired, live resourceVersion) pair found in sync is not compared
    again, and any write to the live object (a new resourceVersion) is compared afresh."""
    verified: dict[str, Any] = {}
    manager = ResourceManager(sandbox.api_client(), retry=FAST, verified=verified)
    desired = objects.environment(ENV, NS, ["resnet50"])
    sync(manager, desired)
    assert verified == {}  # everything was written: nothing compared yet
    second = sync(manager, desired)
    assert {e.action for e in second.changeset.entries} == {Action.UNCHANGED}
    remembered = len(verified)
    assert remembered == len(desired)
    third = sync(manager, desired)
    assert {e.action for e in third.changeset.entries} == {Action.UNCHANGED}
    # Only objects written since (a controller's status update) were compared again.
    moved = sum(
        1
        for key, obj in third.live.items()
        if obj["metadata"]["resourceVersion"] != second.live[key]["metadata"]["resourceVersion"]
    )
    assert len(verified) == remembered + moved
    kubectl("set", "image", "deployment/resnet50", "-n", NS, "main=evil:latest")
    result = sync(manager, desired)
    assert actions(result)["Deployment/ml-dev/resnet50"] == "configured"
    dep = manager.get(ObjectRef("apps", "Deployment", NS, "resnet50", "v1"))
    assert dep is not None
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "serve:1"


def test_an_object_known_in_sync_is_prepared_without_a_whole_copy(sandbox: Any) -> None:
    """With the memo holding the pair, ``prepare`` hashes the object and labels a shallow
    copy: the same object as the whole copy, the caller's dict untouched; any other live
    state (another resourceVersion) gets the whole copy."""
    verified: dict[str, Any] = {}
    manager = ResourceManager(sandbox.api_client(), retry=FAST, verified=verified)
    desired = objects.environment(ENV, NS, ["resnet50"])
    sync(manager, desired)
    live = sync(manager, desired).live  # compared once: now in the memo
    before = copy.deepcopy(desired)
    for obj in desired:
        current = live[ObjectRef.of(obj).key]
        whole = manager_apply.prepare(obj, APPLYSET)
        known = manager_apply.prepare(obj, APPLYSET, live=current, verified=verified)
        assert fields.canonical_json(known) == fields.canonical_json(whole)
        if "spec" in obj and not ordering.is_stage_one(obj):
            assert known["spec"] is obj["spec"]  # not copied: never sent nor compared
        moved = copy.deepcopy(current)
        moved["metadata"]["resourceVersion"] += "0"
        other = manager_apply.prepare(obj, APPLYSET, live=moved, verified=verified)
        assert other == whole and ("spec" not in obj or other["spec"] is not obj["spec"])
    assert desired == before
    result = sync(manager, desired)
    assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}


def parent_writes(sandbox: Any) -> int:
    """Return the writes to ConfigMaps so far (the ApplySet parent is one; ours are others)."""
    time.sleep(0.1)  # a request is counted once its answer is sent
    return sum(
        n
        for (verb, resource, _code), n in sandbox.request_counts().items()
        if resource == "configmaps" and verb.upper() in WRITE_VERBS
    )


def test_a_foreign_object_costs_no_parent_write_once_recorded(
    manager: ResourceManager, kubectl: Any, sandbox: Any
) -> None:
    """A conflicting object of a kind only it has: the parent is not rewritten every sync.

    (The parent used to list its kind before applying and drop it after the conflict, two
    writes per sync for as long as the conflict lasted.)
    """
    kubectl("apply", "-f", "-", input=FOREIGN_SETTINGS)
    desired = [objects.service("resnet50", NS, ENV), objects.configmap("settings", NS, ENV)]
    before = parent_writes(sandbox)
    first = sync(manager, desired)
    assert parent_writes(sandbox) - before == 1  # the parent, once; nothing to "settings"
    assert actions(first)[str(APPLYSET.parent_ref)] == "created"
    assert actions(first)[f"ConfigMap/{NS}/settings"] == "conflict"
    assert actions(first)[f"Service/{NS}/resnet50"] == "created"
    for _ in range(2):
        before = parent_writes(sandbox)
        again = sync(manager, desired)
        assert actions(again)[f"ConfigMap/{NS}/settings"] == "conflict"
        assert str(APPLYSET.parent_ref) not in actions(again)
        assert parent_writes(sandbox) - before == 0
    parent = manager.get(APPLYSET.parent_ref)
    assert parent is not None
    kinds = parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
    assert "Service" in kinds
    cm = manager.get(ObjectRef("", "ConfigMap", NS, "settings", "v1"))
    assert cm is not None and cm["data"] == {"owner": "someone"}  # never taken over
