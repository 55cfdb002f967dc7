"""Hash, drift, diff and masking of manifests (pure functions, no cluster)."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from reconciler.apply import fields
from reconciler.structs import labels, quantities

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "resnet50", "namespace": "ml-prod", "labels": {"app": "resnet50"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "resnet50"}},
        "template": {
            "metadata": {"labels": {"app": "resnet50"}},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": "registry.example.com/vision/resnet-serve:1.4.2",
                        "args": [],
                        "stdin": False,
                        "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    }
                ]
            },
        },
    },
}


APPLIED_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"server"}': {
                        ".": {},
                        "f:args": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {},
                        "f:resources": {"f:requests": {"f:cpu": {}, "f:memory": {}}},
                        "f:stdin": {},
                    }
                }
            },
        },
    },
}
"""Our field manager's ``fieldsV1`` after applying DEPLOYMENT (as a server records it)."""


def live_of(desired: dict) -> dict:
    """The object as a server returns it: defaults added, quantities canonical, empties dropped.

    The server omits ``args: []`` and ``stdin: false`` when printing (Go ``omitempty``); our
    managedFields entry still lists both.
    """
    live = copy.deepcopy(desired)
    managed = [
        {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {}}},
        {
            "manager": labels.FIELD_MANAGER,
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": copy.deepcopy(APPLIED_FIELDS),
        },
    ]
    live["metadata"].update(uid="u1", resourceVersion="7", generation=3, managedFields=managed)
    spec = live["spec"]
    spec["strategy"] = {"type": "RollingUpdate"}
    ctr = spec["template"]["spec"]["containers"][0]
    del ctr["args"]
    del ctr["stdin"]
    ctr["resources"]["requests"] = {"cpu": "500m", "memory": "1073741824"}
    ctr["imagePullPolicy"] = "IfNotPresent"
    ctr["terminationMessagePath"] = "/dev/termination-log"
    live["status"] = {"replicas": 2}
    return live


def test_server_defaults_are_not_drift() -> None:
    assert not fields.drifted(DEPLOYMENT, live_of(DEPLOYMENT))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicas"), 5),
        (("metadata", "labels", "app"), "edited"),
        (("spec", "template", "spec", "containers", 0, "image"), "evil:latest"),
        (("spec", "template", "spec", "containers", 0, "resources", "requests", "cpu"), "2"),
    ],
)
def test_hand_edits_are_drift(path: tuple, value: object) -> None:
    live = live_of(DEPLOYMENT)
    node = live
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert fields.drifted(DEPLOYMENT, live)


def test_removed_field_is_drift() -> None:
    live = live_of(DEPLOYMENT)
    del live["spec"]["replicas"]
    assert fields.drifted(DEPLOYMENT, live)


def test_an_omitted_empty_value_is_unchanged_only_while_we_own_it() -> None:
    live = live_of(DEPLOYMENT)
    assert not fields.drifted(DEPLOYMENT, live)  # the server holds stdin: false for us
    # Another manager removed the field: it is gone from our entry, and that is drift.
    ours = live["metadata"]["managedFields"][1]["fieldsV1"]
    del ours["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"server"}']["f:stdin"]
    assert fields.drifted(DEPLOYMENT, live)
    # Without any managedFields of ours nothing says the server holds it: changed.
    live = live_of(DEPLOYMENT)
    live["metadata"]["managedFields"] = [live["metadata"]["managedFields"][0]]
    assert fields.drifted(DEPLOYMENT, live)
    assert fields.drifted(DEPLOYMENT, live_of(DEPLOYMENT), field_manager="someone-else")


def test_compacted_managed_fields_keep_what_is_read() -> None:
    """A held object keeps our applied fields as JSON text and other managers' names."""
    live = live_of(DEPLOYMENT)
    compact = fields.compact_managed_fields(copy.deepcopy(live), labels.FIELD_MANAGER)
    theirs, ours = compact["metadata"]["managedFields"]
    assert theirs == {"manager": "kubectl-edit", "operation": "Update"}
    assert isinstance(ours["fieldsV1"], str)
    assert fields.owned_fields(compact, labels.FIELD_MANAGER) == APPLIED_FIELDS
    assert {k: v for k, v in ours.items() if k != "fieldsV1"} == {
        k: v for k, v in live["metadata"]["managedFields"][1].items() if k != "fieldsV1"
    }
    # The drift answer is the same, with the field ours and once another manager took it.
    assert not fields.drifted(DEPLOYMENT, compact)
    taken = copy.deepcopy(live)
    owned = taken["metadata"]["managedFields"][1]["fieldsV1"]
    del owned["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"server"}']["f:stdin"]
    assert fields.drifted(DEPLOYMENT, taken)
    assert fields.drifted(DEPLOYMENT, fields.compact_managed_fields(taken, labels.FIELD_MANAGER))
    # Compacting twice changes nothing; text that is not JSON is no ownership.
    again = fields.compact_managed_fields(copy.deepcopy(compact), labels.FIELD_MANAGER)
    assert again == compact
    compact["metadata"]["managedFields"][1]["fieldsV1"] = "{not json"
    assert fields.owned_fields(compact, labels.FIELD_MANAGER) is None
    assert fields.drifted(DEPLOYMENT, compact)


@pytest.mark.parametrize(
    ("desired", "live"),
    [
        ({"a": False}, {"a": ""}),
        ({"a": ""}, {"a": False}),
        ({"a": {}}, {"a": []}),
        ({"a": False}, {}),
        ({"a": ""}, {}),
        ({"a": 0}, {"a": False}),
    ],
)
def test_false_empty_and_absent_are_not_alike(desired: dict, live: dict) -> None:
    assert not fields.contains(desired, live)
    assert fields.contains(desired, desired)


def test_a_desired_null_is_an_absent_field() -> None:
    assert fields.contains({"a": None}, {})
    assert not fields.contains({"a": None}, {"a": 1})


def test_extra_named_item_from_another_manager_is_not_drift() -> None:
    live = live_of(DEPLOYMENT)
    live["spec"]["template"]["spec"]["containers"].insert(0, {"name": "sidecar", "image": "x"})
    assert not fields.drifted(DEPLOYMENT, live)


def test_status_is_ignored() -> None:
    desired = {**DEPLOYMENT, "status": {"replicas": 9}}
    assert not fields.drifted(desired, live_of(DEPLOYMENT))


def test_secret_string_data_compares_as_data() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"k": "v"},
    }
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}}
    assert not fields.drifted(desired, live)


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("1Gi", Decimal(2**30)), ("1e3", Decimal(1000)), (4, Decimal(4))],
)
def test_quantities_compare_by_value(text: object, value: Decimal) -> None:
    assert quantities.quantity_value(text) == value
    assert fields.contains({"limits": {"cpu": text}}, {"limits": {"cpu": str(value)}})


def test_quantities_only_compare_by_value_under_resource_maps() -> None:
    assert not fields.contains({"labels": {"size": "1k"}}, {"labels": {"size": "1000"}})


def test_hash_ignores_its_own_annotation_and_changes_with_content() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    before = fields.desired_hash(obj)
    obj["metadata"]["annotations"] = {labels.SPEC_HASH: before}
    assert fields.desired_hash(obj) == before
    obj["spec"]["replicas"] = 3
    assert fields.desired_hash(obj) != before


def test_diff_shows_only_changed_fields() -> None:
    after = live_of(DEPLOYMENT)
    after["spec"]["replicas"] = 3
    after["metadata"]["resourceVersion"] = "8"
    diff = fields.diff_objects(live_of(DEPLOYMENT), after, name="Deployment/ml-prod/resnet50")
    assert diff.splitlines()[2:] == [
        "@@ -1,2 +1,2 @@",
        " spec:",
        "-  replicas: 2",
        "+  replicas: 3",
    ]


def test_diff_of_a_named_list_item_keeps_its_name() -> None:
    after = live_of(DEPLOYMENT)
    after["spec"]["template"]["spec"]["containers"][0]["image"] = "new:2"
    diff = fields.diff_objects(live_of(DEPLOYMENT), after)
    assert "  - name: server" in diff and "+        image: new:2" in diff and "ports" not in diff


def test_identical_objects_have_no_diff() -> None:
    assert fields.diff_objects(live_of(DEPLOYMENT), live_of(DEPLOYMENT)) == ""


def test_secret_values_never_appear_in_a_diff() -> None:
    before = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": "c2VjcmV0MQ=="},
    }
    after = copy.deepcopy(before)
    after["data"]["k"] = "c2VjcmV0Mg=="
    diff = fields.diff_objects(before, after)
    assert "c2VjcmV0" not in diff and "*** (changed)" in diff


def test_same_state_ignores_server_fields_and_bookkeeping() -> None:
    a = live_of(DEPLOYMENT)
    b = copy.deepcopy(a)
    b["metadata"]["resourceVersion"] = "99"
    b["metadata"]["annotations"] = {labels.SPEC_HASH: "other"}
    assert fields.same_state(a, b)
