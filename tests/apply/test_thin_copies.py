"""Thin copies against the sandbox: members known in sync are held without managedFields
or pod templates by a full pass, and read whole again wherever they must be compared."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from reconciler.apply import in_sync, thin_copies
from reconciler.apply.manager import LiveObjects, ResourceManager
from reconciler.apply.sync import SyncOptions, sync_objects
from reconciler.health import health_of
from reconciler.runs import trimming
from reconciler.structs.changesets import Action
from reconciler.structs.manifests import ObjectRef
from tests.apply import objects
from tests.apply.test_sync import APPLYSET, ENV, FAST, NS, actions, counts, delta, writes

KINDS = [("", "Namespace"), ("", "ResourceQuota"), ("", "ConfigMap"), ("apps", "Deployment")]
KINDS += [("", "Service"), ("batch", "Job")]
DEPLOYMENT = ObjectRef("apps", "Deployment", NS, "resnet50", "v1")


def settled(sandbox: Any, verified: dict[str, Any]) -> tuple[ResourceManager, list[dict]]:
    """Sync one pipeline's environment until the cluster's controllers stop writing status
    (no member's resourceVersion moved over three syncs 0.4 s apart, twice the sandbox's
    controller step): then every member's resourceVersion is one the memo knows in sync."""
    manager = ResourceManager(sandbox.api_client(), retry=FAST, verified=verified)
    desired = objects.environment(ENV, NS, ["resnet50"])
    assert sync_objects(manager, applyset=APPLYSET, desired=desired).ok
    versions: dict[Any, str] = {}
    still = 0
    for _ in range(100):
        result = sync_objects(manager, applyset=APPLYSET, desired=desired)
        assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}
        now = {k: o["metadata"]["resourceVersion"] for k, o in result.live.items()}
        still = still + 1 if now == versions else 0
        if still == 3:
            return manager, desired
        versions = now
        time.sleep(0.4)
    raise AssertionError("the cluster's controllers kept writing status")


def full_pass(manager: ResourceManager) -> LiveObjects:
    """List the members as the engine's full pass does (with its trim)."""
    return manager.list_live(APPLYSET, KINDS, trim=trimming.trim)


def test_a_member_known_in_sync_is_listed_thin_by_a_full_pass_only(sandbox: Any) -> None:
    verified: dict[str, Any] = {}
    manager, desired = settled(sandbox, verified)
    listed = full_pass(manager)
    dep = listed[DEPLOYMENT.key]
    assert thin_copies.is_thin(dep) and "managedFields" not in dep["metadata"]
    assert "template" not in dep["spec"] and dep["spec"]["replicas"] == 2
    whole = manager.get(DEPLOYMENT)
    assert whole is not None and whole["spec"]["template"] and whole["metadata"]["managedFields"]
    assert health_of(dep) == health_of(whole)  # health reads what a thin copy keeps
    service = listed[("", "Service", NS, "resnet50")]
    assert thin_copies.is_thin(service) and service["spec"] == {}  # no pass reads its ports
    whole_service = manager.get(ObjectRef("", "Service", NS, "resnet50", "v1"))
    assert whole_service is not None and whole_service["spec"]["ports"]
    assert health_of(service) == health_of(whole_service)
    quota = listed[("", "ResourceQuota", NS, "gpu-quota")]  # not a serving kind: spec kept
    assert thin_copies.is_thin(quota) and quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "8"
    # A list without a trim (a plan's, a status query's) keeps every member whole.
    plain = manager.list_kinds(
        [("apps", "Deployment")], namespaces=[NS], label_selector=APPLYSET.selector
    )
    assert plain[DEPLOYMENT.key]["spec"]["template"]
    assert not thin_copies.is_thin(plain[DEPLOYMENT.key])
    # The no-op over thin copies: every object unchanged, no write, nothing read again.
    before = counts(sandbox)
    result = sync_objects(manager, applyset=APPLYSET, desired=desired, live=listed)
    assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}
    spent = delta(before, counts(sandbox))
    assert writes(spent) == 0 and spent["GET"] == 0


def test_a_hand_edit_makes_the_member_whole_again_and_is_corrected(
    sandbox: Any, kubectl: Any
) -> None:
    verified: dict[str, Any] = {}
    manager, desired = settled(sandbox, verified)
    kubectl("set", "image", "deployment/resnet50", "-n", NS, "main=evil:latest")
    listed = full_pass(manager)  # a new resourceVersion: the memo does not know it
    assert not thin_copies.is_thin(listed[DEPLOYMENT.key])
    result = sync_objects(manager, applyset=APPLYSET, desired=desired, live=listed)
    assert actions(result)[str(DEPLOYMENT)] == "configured"
    dep = manager.get(DEPLOYMENT)
    assert dep is not None
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "serve:1"


def test_a_changed_object_is_read_whole_before_it_is_applied_and_its_diff_is_exact(
    sandbox: Any,
) -> None:
    verified: dict[str, Any] = {}
    manager, desired = settled(sandbox, verified)
    listed = full_pass(manager)
    assert thin_copies.is_thin(listed[DEPLOYMENT.key])
    changed = [
        objects.deployment("resnet50", NS, ENV, image="serve:2") if o["kind"] == "Deployment" else o
        for o in desired
    ]
    before = counts(sandbox)
    result = sync_objects(
        manager, applyset=APPLYSET, desired=changed, live=listed, options=SyncOptions(diff=True)
    )
    spent = delta(before, counts(sandbox))
    entry = next(e for e in result.changeset.entries if e.subject == DEPLOYMENT)
    assert entry.action is Action.CONFIGURED
    changes = [
        line
        for line in entry.diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    # Compared with the whole live object: the image and the applied hash, not a template
    # that looks added because the thin copy had none.
    assert any("serve:2" in line for line in changes), entry.diff
    assert any("serve:1" in line for line in changes), entry.diff
    assert not any("containers" in line or "managedFields" in line for line in changes)
    assert spent["GET"] == 1 and writes(spent) == 1  # one read whole, one apply
    assert {e.action for e in result.changeset.entries if e.subject != DEPLOYMENT} == {
        Action.UNCHANGED
    }


def test_a_thin_copy_the_memo_dropped_is_read_whole_and_costs_no_write(sandbox: Any) -> None:
    verified: dict[str, Any] = {}
    manager, desired = settled(sandbox, verified)
    listed = full_pass(manager)
    thin = [key for key, obj in listed.items() if thin_copies.is_thin(obj)]
    assert DEPLOYMENT.key in thin
    verified.clear()  # the memo's limit dropped them between the list and the sync
    before = counts(sandbox)
    result = sync_objects(manager, applyset=APPLYSET, desired=desired, live=listed)
    spent = delta(before, counts(sandbox))
    assert {e.action for e in result.changeset.entries} == {Action.UNCHANGED}
    assert writes(spent) == 0
    frozen_steps = {k for k in thin if k[1] == "Job"}  # trimmed, compared like the rest
    assert spent["GET"] == len(thin) and frozen_steps
    assert not thin_copies.is_thin(result.live[DEPLOYMENT.key])  # held whole from now on
    assert len(verified) == len(thin)  # and known in sync again


def test_a_thin_serving_object_keeps_only_the_spec_fields_its_health_reads() -> None:
    dep = objects.deployment("resnet50", NS, ENV)
    dep["metadata"]["managedFields"] = [{"manager": "reconciler", "operation": "Apply"}]
    dep["spec"]["paused"] = True
    assert thin_copies.thin(dep) is dep
    assert dep["spec"] == {"replicas": 2, "paused": True}  # no selector, no template
    assert thin_copies.is_thin(dep)
    service = objects.service("resnet50", NS, ENV)
    assert thin_copies.thin(service)["spec"] == {}
    quota = objects.quota(NS, ENV)  # not a serving kind: its spec is kept
    assert thin_copies.thin(quota)["spec"] == objects.quota(NS, ENV)["spec"]
    odd = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": "oops"}
    assert thin_copies.thin(odd)["spec"] == "oops"  # not a mapping: left as it is


def test_pages_parsed_in_part_hold_what_thinning_each_whole_member_gives(sandbox: Any) -> None:
    verified: dict[str, Any] = {}
    manager, _ = settled(sandbox, verified)
    listed = full_pass(manager)  # pages parsed in part (Deployments, Services, Jobs)
    whole = manager.list_kinds(KINDS, namespaces=[NS], label_selector=APPLYSET.selector)
    expected = {}
    for key, obj in whole.items():  # what trimming and thinning each whole member gives
        one = trimming.trim(copy.deepcopy(obj))
        if in_sync.known_in_sync(one, verified, manager.field_manager):
            one = thin_copies.thin(one)
        expected[key] = one
    assert dict(listed) == expected
    assert thin_copies.is_thin(listed[DEPLOYMENT.key])


def test_a_page_parser_thins_only_what_the_memo_knows() -> None:
    known = objects.deployment("known", NS, ENV)
    other = objects.deployment("other", NS, ENV)
    odd = objects.deployment("odd", NS, ENV) | {"spec": "not a mapping"}
    for obj in (known, other, odd):
        obj["metadata"]["managedFields"] = [{"manager": "reconciler", "operation": "Apply"}]
        obj["status"] = {"readyReplicas": 2}
    parse = thin_copies.page_parser(
        "apps", "Deployment", lambda o: o["metadata"]["name"] in ("known", "odd")
    )
    assert parse is not None
    items = [known, other, odd]
    page = json.dumps({"kind": "DeploymentList", "metadata": {}, "items": items}).encode()
    got = parse(page)
    assert got["kind"] == "DeploymentList" and got["metadata"] == {}
    assert got["items"][0] == thin_copies.thin(copy.deepcopy(known))
    assert got["items"][0]["spec"] == {"replicas": known["spec"]["replicas"]}
    assert got["items"][1] == other  # not known in sync: whole
    assert got["items"][2] == odd  # a spec that is no mapping: parsed whole
    assert thin_copies.page_parser("", "ResourceQuota", lambda o: True) is None  # spec kept
