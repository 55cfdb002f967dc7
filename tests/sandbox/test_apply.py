"""Server-side apply: ownership, conflicts, removal of dropped fields, keyed lists.

Expected behaviour from https://kubernetes.io/docs/reference/using-api/server-side-apply/
(field management, conflicts, "Merge strategy" with list-type/list-map-keys, "Transferring
ownership") and the managedFields format of the API reference (ManagedFieldsEntry).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import SandboxHandle
from tests.sandbox.http import Response, call

CM = "/api/v1/namespaces/default/configmaps"
DEPS = "/apis/apps/v1/namespaces/default/deployments"
APPLY = "application/apply-patch+yaml"


def apply(
    sandbox: SandboxHandle, path: str, body: Any, manager: str, force: bool = False, extra: str = ""
) -> Response:
    q = f"?fieldManager={manager}" + ("&force=true" if force else "") + extra
    return call(sandbox.url, "PATCH", path + q, body, content_type=APPLY)


def cm(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["manager"]: m for m in obj["metadata"].get("managedFields", [])}


def deployment(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": containers}},
            **spec,
        },
    }


def test_apply_creates_and_records_managed_fields(sandbox: SandboxHandle) -> None:
    out = apply(sandbox, f"{CM}/a", cm("a", {"k": "v"}, {"team": "x"}), "alice")
    assert out.code == 201
    entry = managers(out.body)["alice"]
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:team": {}}}}
    again = apply(sandbox, f"{CM}/a", cm("a", {"k": "v"}, {"team": "x"}), "alice")
    assert again.code == 200
    assert again.body["metadata"]["resourceVersion"] == out.body["metadata"]["resourceVersion"]
    no_manager = call(sandbox.url, "PATCH", f"{CM}/a", cm("a", {}), content_type=APPLY)
    assert (no_manager.code, no_manager.body["reason"]) == (422, "Invalid")
    assert no_manager.body["details"] == {
        "group": "meta.k8s.io",
        "kind": "PatchOptions",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: is required for apply patch",
                "field": "fieldManager",
            }
        ],
    }


def test_conflicts_list_every_field_and_force_takes_ownership(sandbox: SandboxHandle) -> None:
    apply(sandbox, f"{CM}/a", cm("a", {"x": "1", "y": "1"}), "alice")
    clash = apply(sandbox, f"{CM}/a", cm("a", {"x": "2", "y": "2"}), "bob")
    assert clash.code == 409
    assert clash.body["reason"] == "Conflict"
    assert clash.body["message"] == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n- .data.x\n- .data.y'
    )
    assert clash.body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".data.x"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".data.y"},
    ]
    same = apply(sandbox, f"{CM}/a", cm("a", {"x": "1"}), "bob")
    assert same.code == 200  # same value: shared ownership, no conflict
    assert "f:x" in managers(same.body)["bob"]["fieldsV1"]["f:data"]
    assert "f:x" in managers(same.body)["alice"]["fieldsV1"]["f:data"]
    forced = apply(sandbox, f"{CM}/a", cm("a", {"x": "1", "y": "3"}), "bob", force=True)
    assert forced.code == 200 and forced.body["data"] == {"x": "1", "y": "3"}
    assert managers(forced.body)["alice"]["fieldsV1"] == {"f:data": {"f:x": {}}}

    call(
        sandbox.url,
        "PATCH",
        f"{CM}/a?fieldManager=editor",
        {"data": {"x": "9"}},
        content_type="application/merge-patch+json",
    )
    vs_update = apply(sandbox, f"{CM}/a", cm("a", {"x": "1", "y": "3"}), "bob")
    assert vs_update.code == 409
    assert vs_update.body["message"] == (
        'Apply failed with 1 conflict: conflict with "editor" using v1: .data.x'
    )


def test_dropped_fields_are_removed_only_when_unshared(sandbox: SandboxHandle) -> None:
    apply(sandbox, f"{CM}/a", cm("a", {"mine": "1", "shared": "1"}, {"l": "1"}), "alice")
    apply(sandbox, f"{CM}/a", cm("a", {"shared": "1"}), "bob")
    call(
        sandbox.url,
        "PATCH",
        f"{CM}/a?fieldManager=editor",
        {"data": {"edited": "1"}},
        content_type="application/merge-patch+json",
    )
    bare = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    out = apply(sandbox, f"{CM}/a", bare, "alice").body
    assert out["data"] == {"shared": "1", "edited": "1"}
    assert "labels" not in out["metadata"]
    assert "alice" not in managers(out)


def test_keyed_lists_merge_by_key(sandbox: SandboxHandle) -> None:
    a = deployment(
        [
            {
                "name": "app",
                "image": "app:1",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "A", "value": "1"}],
            }
        ]
    )
    out = apply(sandbox, f"{DEPS}/d", a, "alice").body
    f = managers(out)["alice"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    item = f['k:{"name":"app"}']
    assert item["."] == {}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in item["f:ports"]
    assert 'k:{"name":"A"}' in item["f:env"]
    b = deployment([{"name": "sidecar", "image": "side:1"}])
    del b["spec"]["template"]["metadata"]
    out = apply(sandbox, f"{DEPS}/d", b, "bob").body
    names = [c["name"] for c in out["spec"]["template"]["spec"]["containers"]]
    assert names == ["app", "sidecar"]
    a2 = deployment(
        [
            {
                "name": "app",
                "image": "app:1",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            }
        ]
    )
    out = apply(sandbox, f"{DEPS}/d", a2, "alice").body
    app = out["spec"]["template"]["spec"]["containers"][0]
    assert [e["name"] for e in app["env"]] == ["A", "B"]
    a3 = deployment([{"name": "app2", "image": "app:2"}])
    out = apply(sandbox, f"{DEPS}/d", a3, "alice").body
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["sidecar", "app2"]


def test_status_and_unknown_fields_in_applied_config(sandbox: SandboxHandle) -> None:
    dep = deployment([{"name": "app", "image": "app:1"}])
    dep["status"] = {"replicas": 99}
    out = apply(sandbox, f"{DEPS}/d", dep, "alice").body
    assert out["status"].get("replicas") != 99
    assert "f:status" not in managers(out)["alice"]["fieldsV1"]
    bad = deployment([{"name": "app", "image": "app:1", "colour": "red"}])
    refused = apply(sandbox, f"{DEPS}/d", bad, "alice")
    # Whatever fieldValidation says, an applied configuration that cannot be typed is a
    # bare 500 from kube-apiserver, list items named by their keys.
    assert refused.code == 500
    assert "reason" not in refused.body
    assert refused.body["message"] == (
        "failed to create typed patch object (/d; apps/v1, Kind=Deployment): "
        '.spec.template.spec.containers[name="app"].colour: field not declared in schema'
    )
    sandbox.install_crds()
    queue = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "LocalQueue",
        "metadata": {"name": "q", "namespace": "default"},
        "spec": {"clusterQueue": "a", "colour": "red"},
    }
    custom = apply(
        sandbox, "/apis/kueue.x-k8s.io/v1beta1/namespaces/default/localqueues/q", queue, "alice"
    )
    assert (custom.code, custom.body["message"]) == (
        500,
        "failed to create typed patch object (default/q; kueue.x-k8s.io/v1beta1, "
        "Kind=LocalQueue): .spec.colour: field not declared in schema",
    )


def test_field_validation_modes(sandbox: SandboxHandle) -> None:
    body = cm("v", {"a": "1"})
    body["extra"] = True
    strict = call(sandbox.url, "POST", f"{CM}?fieldValidation=Strict", body)
    assert strict.code == 400
    assert 'strict decoding error: unknown field "extra"' in strict.body["message"]
    warn = call(sandbox.url, "POST", f"{CM}?fieldValidation=Warn", body)
    assert warn.code == 201
    assert "extra" not in warn.body
    assert any(
        'unknown field \\"extra\\"' in w or 'unknown field "extra"' in w for w in warn.warnings
    )


def test_update_operations_are_recorded(sandbox: SandboxHandle) -> None:
    created = call(sandbox.url, "POST", f"{CM}?fieldManager=maker", cm("u", {"a": "1"})).body
    entry = managers(created)["maker"]
    assert entry["operation"] == "Update"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    apply(sandbox, f"{CM}/u", cm("u", {"b": "2"}), "alice")
    out = call(sandbox.url, "GET", f"{CM}/u").body
    assert [m["operation"] for m in out["metadata"]["managedFields"]] == ["Apply", "Update"]


ISVCS = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"


def test_yaml_scalars_json_has_not_in_fields_kept_as_they_come(sandbox: SandboxHandle) -> None:
    """An applied YAML body into fields the schema keeps unchecked (KServe's predictor): a
    timestamp-looking scalar reads back as the string it was written as; ``.nan`` and
    ``.inf``, which JSON cannot carry, are refused and nothing is stored."""
    sandbox.install_crds()
    head = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: %s}\n"
    dated = head % "dated" + "spec:\n  predictor:\n    since: 2020-01-02\n    at: 10:20:30\n"
    made = call(sandbox.url, "PATCH", f"{ISVCS}/dated?fieldManager=t", dated, content_type=APPLY)
    assert made.code == 201, made.body
    assert made.body["spec"]["predictor"] == {"since": "2020-01-02", "at": "10:20:30"}
    read = call(sandbox.url, "GET", f"{ISVCS}/dated").body
    assert read["spec"]["predictor"] == {"since": "2020-01-02", "at": "10:20:30"}
    for token in (".nan", ".inf", "-.inf"):
        odd = head % "odd" + f"spec:\n  predictor:\n    weight: {token}\n"
        refused = call(sandbox.url, "PATCH", f"{ISVCS}/odd?fieldManager=t", odd, content_type=APPLY)
        assert (refused.code, refused.body["reason"]) == (400, "BadRequest"), (token, refused.body)
    assert call(sandbox.url, "GET", f"{ISVCS}/odd").code == 404


def test_a_yaml_alias_bomb_is_refused_without_being_expanded(sandbox: SandboxHandle) -> None:
    """Nine levels of nine aliases (387 million nodes once expanded) in an applied body:
    refused at once with 400, nothing stored; one alias used twice is taken."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}"]
    lines.append("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]")
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = call(
        sandbox.url, "PATCH", f"{CM}/bomb?fieldManager=t", "\n".join(lines), content_type=APPLY
    )
    assert (bomb.code, bomb.body["reason"]) == (400, "BadRequest"), bomb.body
    assert call(sandbox.url, "GET", f"{CM}/bomb").code == 404
    shared = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, labels: &l {a: b}}\n"
    shared += "data: *l\n"
    taken = call(sandbox.url, "PATCH", f"{CM}/shared?fieldManager=t", shared, content_type=APPLY)
    assert taken.code == 201, taken.body
    assert taken.body["data"] == taken.body["metadata"]["labels"] == {"a": "b"}


def test_applied_bodies_decoded_as_kube_apiserver_decodes_them(sandbox: SandboxHandle) -> None:
    """An applied configuration without a name, or not an object, is 400; another uid is
    422 (an update's is a 409 precondition); of a YAML stream the first document counts; a
    label set to null is stored empty and a map set to null not at all; a ConfigMap made
    immutable stays so."""

    def cm_applied(name: str, **fields: Any) -> Response:
        body = {"apiVersion": "v1", "kind": "ConfigMap", **fields}
        return apply(sandbox, f"{CM}/{name}", body, "m")

    assert cm_applied("nameless").code == 400
    assert cm_applied("a", metadata={"name": "a"}).code == 201
    for raw in ("[]", "null", '"text"'):
        refused = call(sandbox.url, "PATCH", f"{CM}/a?fieldManager=m", raw, content_type=APPLY)
        assert (refused.code, refused.body["reason"]) == (400, "BadRequest"), raw
    other_uid = cm_applied("a", metadata={"name": "a", "uid": "not-its-uid"})
    assert (other_uid.code, other_uid.body["reason"]) == (422, "Invalid")
    put = cm("a", {})
    put["metadata"]["uid"] = "not-its-uid"
    assert call(sandbox.url, "PUT", f"{CM}/a", put).code == 409
    stream = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {first: '1'}\n---\n"
    stream += "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
    first = call(sandbox.url, "PATCH", f"{CM}/a?fieldManager=m", stream, content_type=APPLY)
    assert first.code == 200 and first.body["data"] == {"first": "1"}
    assert call(sandbox.url, "GET", f"{CM}/b").code == 404
    nulls = cm_applied("a", metadata={"name": "a", "labels": {"l": None}}, data=None)
    assert nulls.code == 200 and nulls.body["metadata"]["labels"] == {"l": ""}
    assert "data" not in nulls.body
    assert cm_applied("a", metadata={"name": "a"}, immutable=True, data={"q": "1"}).code == 200
    assert cm_applied("a", metadata={"name": "a"}, immutable=True, data={"q": "2"}).code == 422
    assert cm_applied("a", metadata={"name": "a"}, immutable=False, data={"q": "1"}).code == 422


def test_another_uid_is_refused_for_custom_resources_and_missing_objects(
    sandbox: SandboxHandle,
) -> None:
    """A custom resource patched to another uid: 422 (its metadata validated twice over,
    both causes listed); an update naming a uid is a precondition, even for an object that
    does not exist (409, not 404)."""
    sandbox.install_crds()
    queues = "/apis/kueue.x-k8s.io/v1beta2/namespaces/default/localqueues"
    queue = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "LocalQueue",
        "metadata": {"name": "q"},
        "spec": {"clusterQueue": "team"},
    }
    assert call(sandbox.url, "POST", queues, queue).code == 201
    moved = call(
        sandbox.url, "PATCH", f"{queues}/q", {"metadata": {"uid": "not-its-uid"}},
        content_type="application/merge-patch+json",
    )  # fmt: skip
    assert (moved.code, len(moved.body["details"]["causes"])) == (422, 2)
    put = {**queue, "metadata": {"name": "q", "uid": "not-its-uid"}}
    assert call(sandbox.url, "PUT", f"{queues}/q", put).code == 409
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "uid": "x"}}
    service["spec"] = {"ports": [{"port": 80}]}
    missing = call(sandbox.url, "PUT", "/api/v1/namespaces/default/services/s", service)
    assert (missing.code, missing.body["reason"]) == (409, "Conflict")
