"""API semantics over HTTP, checked against the API conventions and concepts pages.

- https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/
  api-conventions.md (Status objects, resourceVersion, generation, error codes)
- https://kubernetes.io/docs/reference/using-api/api-concepts/ (list/watch, chunking,
  resourceVersion semantics, dry run)
- https://kubernetes.io/docs/concepts/architecture/garbage-collection/ (propagation)
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from typing import Any

from kubernetes import client, dynamic

from tests.conftest import SandboxHandle
from tests.sandbox.http import Response, call

CM = "/api/v1/namespaces/default/configmaps"


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def wait_for(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_create_get_conflicts_and_resource_versions(sandbox: SandboxHandle) -> None:
    created = call(sandbox.url, "POST", CM, cm("a", x="1"))
    assert created.code == 201
    meta = created.body["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    rv1 = int(meta["resourceVersion"])

    dup = call(sandbox.url, "POST", CM, cm("a"))
    assert dup.code == 409
    assert dup.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "a" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "a", "kind": "configmaps"},
        "code": 409,
    }

    other = call(sandbox.url, "POST", CM, cm("b"))
    assert int(other.body["metadata"]["resourceVersion"]) > rv1

    put = dict(created.body, data={"x": "2"})
    updated = call(sandbox.url, "PUT", f"{CM}/a", put)
    assert updated.code == 200
    assert int(updated.body["metadata"]["resourceVersion"]) > int(
        other.body["metadata"]["resourceVersion"]
    )
    stale = call(sandbox.url, "PUT", f"{CM}/a", put)
    assert stale.code == 409
    assert stale.body["reason"] == "Conflict"
    assert stale.body["message"] == (
        'Operation cannot be fulfilled on configmaps "a": the object has been modified; please '
        "apply your changes to the latest version and try again"
    )
    with_rv = cm("c")
    with_rv["metadata"]["resourceVersion"] = "5"
    refused = call(sandbox.url, "POST", CM, with_rv)
    # etcd's refusal reaches the client as a bare 500 (no reason, no details).
    assert refused.code == 500
    assert refused.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "resourceVersion should not be set on objects to be created",
        "code": 500,
    }
    missing = call(sandbox.url, "GET", f"{CM}/zzz")
    assert (missing.code, missing.body["reason"], missing.body["message"]) == (
        404,
        "NotFound",
        'configmaps "zzz" not found',
    )


def test_unknown_kind_missing_and_terminating_namespace(sandbox: SandboxHandle) -> None:
    # A group nobody serves has no handler at all: the mux's plain-text 404.
    unknown = call(sandbox.url, "GET", "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs")
    assert (unknown.code, unknown.body) == (404, "404 page not found\n")
    assert unknown.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert call(sandbox.url, "GET", "/apis/kubeflow.org/v1").code == 404
    # An unknown resource of a served group version is a Status.
    no_kind = call(sandbox.url, "GET", "/apis/apps/v1/namespaces/default/pytorchjobs")
    assert (no_kind.code, no_kind.body["reason"]) == (404, "NotFound")
    assert no_kind.body["message"] == "the server could not find the requested resource"

    nons = call(sandbox.url, "POST", "/api/v1/namespaces/ghost/configmaps", cm("x"))
    assert nons.code == 404
    assert nons.body["message"] == 'namespaces "ghost" not found'
    assert nons.body["details"] == {"name": "ghost", "kind": "namespaces"}

    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "going"}}
    assert call(sandbox.url, "POST", "/api/v1/namespaces", ns).code == 201
    # A finalizer keeps one object (and so the namespace) around while it terminates.
    held = cm("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    assert call(sandbox.url, "POST", "/api/v1/namespaces/going/configmaps", held).code == 201
    deleted = call(sandbox.url, "DELETE", "/api/v1/namespaces/going")
    assert deleted.code == 200
    assert deleted.body["status"]["phase"] == "Terminating"
    refused = call(sandbox.url, "POST", "/api/v1/namespaces/going/configmaps", cm("late"))
    assert refused.code == 403
    assert refused.body["reason"] == "Forbidden"
    assert refused.body["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace going '
        "because it is being terminated"
    )
    assert refused.body["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    patch = {"metadata": {"finalizers": None}}
    assert (
        call(
            sandbox.url,
            "PATCH",
            "/api/v1/namespaces/going/configmaps/held",
            patch,
            content_type="application/merge-patch+json",
        ).code
        == 200
    )
    wait_for(lambda: call(sandbox.url, "GET", "/api/v1/namespaces/going").code == 404)
    protected = call(sandbox.url, "DELETE", "/api/v1/namespaces/default")
    assert protected.code == 403


def test_invalid_objects_are_422(sandbox: SandboxHandle) -> None:
    bad = call(sandbox.url, "POST", CM, cm("Not_Valid"))
    assert bad.code == 422
    assert bad.body["reason"] == "Invalid"
    assert bad.body["details"]["kind"] == "ConfigMap"
    assert bad.body["details"]["causes"][0]["field"] == "metadata.name"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
    no_policy = call(sandbox.url, "POST", "/apis/batch/v1/namespaces/default/jobs", job)
    assert no_policy.code == 422
    assert no_policy.body["message"] == (
        'Job.batch "j" is invalid: spec.template.spec.restartPolicy: Required value: '
        'valid values: "OnFailure", "Never"'
    )
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "c"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    mismatch = call(sandbox.url, "POST", "/apis/apps/v1/namespaces/default/deployments", dep)
    assert mismatch.code == 422
    assert "`selector` does not match template `labels`" in mismatch.body["message"]


def test_a_body_with_a_number_json_has_not_is_400(sandbox: SandboxHandle) -> None:
    """``NaN`` and ``Infinity`` are not JSON (Python's decoder takes them): refused, and
    nothing is stored that a list could not encode."""
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        raw = (
            b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"odd"},'
            b'"metadata2":' + token + b"}"
        )
        refused = call(sandbox.url, "POST", CM, raw=raw)
        assert (refused.code, refused.body["reason"]) == (400, "BadRequest"), token
    assert call(sandbox.url, "GET", f"{CM}/odd").code == 404


def test_a_body_nested_deeper_than_json_decoders_go_is_400(sandbox: SandboxHandle) -> None:
    """20,000 nested arrays (Go's decoder stops at 10,000; Python's recursion sooner):
    refused as a bad request, not an internal error, and nothing stored."""
    depth = 20_000
    raw = (
        b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":'
        + b"[" * depth
        + b"]" * depth
        + b"}"
    )
    refused = call(sandbox.url, "POST", CM, raw=raw)
    assert (refused.code, refused.body["reason"]) == (400, "BadRequest"), refused.body
    assert call(sandbox.url, "GET", f"{CM}/deep").code == 404


def test_defaults_are_filled_in(sandbox: SandboxHandle) -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "img"}]},
            },
        },
    }
    out = call(sandbox.url, "POST", "/apis/apps/v1/namespaces/default/deployments", dep).body
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["schedulerName"]) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
    )
    assert pod["terminationGracePeriodSeconds"] == 30
    c = pod["containers"][0]
    assert c["imagePullPolicy"] == "Always"  # no tag means :latest
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"

    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}
            }
        },
    }
    jspec = call(sandbox.url, "POST", "/apis/batch/v1/namespaces/default/jobs", job).body
    uid = jspec["metadata"]["uid"]
    s = jspec["spec"]
    assert (s["completions"], s["parallelism"], s["backoffLimit"]) == (1, 1, 6)
    assert s["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert s["template"]["metadata"]["labels"]["job-name"] == "j"
    assert s["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "j"

    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]},
    }
    sspec = call(sandbox.url, "POST", "/api/v1/namespaces/default/services", svc).body["spec"]
    assert (sspec["type"], sspec["sessionAffinity"]) == ("ClusterIP", "None")
    assert ipaddress.ip_address(sspec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    assert sspec["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}


def test_dry_run_writes_nothing(sandbox: SandboxHandle) -> None:
    before = call(sandbox.url, "GET", CM).body["metadata"]["resourceVersion"]
    dry = call(sandbox.url, "POST", CM + "?dryRun=All", cm("dry", a="1"))
    assert dry.code == 201
    assert dry.body["metadata"]["name"] == "dry"
    assert call(sandbox.url, "GET", f"{CM}/dry").code == 404
    call(sandbox.url, "POST", CM, cm("real", a="1"))
    patched = call(
        sandbox.url,
        "PATCH",
        f"{CM}/real?dryRun=All",
        {"data": {"a": "2"}},
        content_type="application/merge-patch+json",
    )
    assert patched.body["data"] == {"a": "2"}
    assert call(sandbox.url, "GET", f"{CM}/real").body["data"] == {"a": "1"}
    applied = call(
        sandbox.url,
        "PATCH",
        f"{CM}/other?dryRun=All&fieldManager=t",
        cm("other", a="1"),
        content_type="application/apply-patch+yaml",
    )
    assert applied.code == 201
    assert call(sandbox.url, "GET", f"{CM}/other").code == 404
    assert call(sandbox.url, "DELETE", f"{CM}/real?dryRun=All").code == 200
    assert call(sandbox.url, "GET", f"{CM}/real").code == 200
    assert int(call(sandbox.url, "GET", CM).body["metadata"]["resourceVersion"]) > int(before)


def test_list_selectors_and_pagination(sandbox: SandboxHandle) -> None:
    for i in range(7):
        call(sandbox.url, "POST", CM, cm(f"c{i}", {"idx": str(i), "even": str(i % 2 == 0)}))
    sel = call(sandbox.url, "GET", f"{CM}?labelSelector=even%3DTrue,idx%20notin%20(0,2)")
    assert [o["metadata"]["name"] for o in sel.body["items"]] == ["c4", "c6"]
    assert "kind" not in sel.body["items"][0]  # typed list items carry no kind
    by_name = call(sandbox.url, "GET", f"{CM}?fieldSelector=metadata.name%3Dc3")
    assert [o["metadata"]["name"] for o in by_name.body["items"]] == ["c3"]
    bad = call(sandbox.url, "GET", f"{CM}?fieldSelector=spec.foo%3Dx")
    assert (bad.code, bad.body["reason"]) == (400, "BadRequest")
    page1 = call(sandbox.url, "GET", f"{CM}?limit=3").body
    assert len(page1["items"]) == 3 and page1["metadata"]["remainingItemCount"] == 4
    call(sandbox.url, "POST", CM, cm("c9"))  # a consistent snapshot: not in later pages
    page2 = call(sandbox.url, "GET", f"{CM}?limit=3&continue={page1['metadata']['continue']}")
    page3 = call(
        sandbox.url, "GET", f"{CM}?limit=3&continue={page2.body['metadata']['continue']}"
    ).body
    names = [o["metadata"]["name"] for o in page1["items"] + page2.body["items"] + page3["items"]]
    assert names == [f"c{i}" for i in range(7)]
    # A token is not used up: a client that retries a page gets the same page again.
    again = call(sandbox.url, "GET", f"{CM}?limit=3&continue={page1['metadata']['continue']}")
    assert again.code == 200 and again.body["items"] == page2.body["items"]
    assert "continue" not in page3["metadata"]
    bogus = call(sandbox.url, "GET", f"{CM}?limit=3&continue=bogus")
    assert (bogus.code, bogus.body["reason"], bogus.body["message"]) == (
        400,
        "BadRequest",
        "invalid continue token: continue key is not valid: illegal base64 data at input byte 4",
    )
    rv = int(page1["metadata"]["resourceVersion"])
    current = call(sandbox.url, "GET", CM).body["metadata"]["resourceVersion"]
    exact_now = call(
        sandbox.url, "GET", f"{CM}?resourceVersion={current}&resourceVersionMatch=Exact"
    )
    assert exact_now.code == 200
    too_new = call(sandbox.url, "GET", f"{CM}?resourceVersion={int(current) + 100}")
    assert (too_new.code, too_new.body["reason"]) == (504, "Timeout")
    not_older = call(
        sandbox.url, "GET", f"{CM}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan"
    )
    assert not_older.code == 200
    dropped = call(sandbox.url, "DELETE", f"{CM}?labelSelector=even%3DFalse")
    assert dropped.code == 200
    assert [o["metadata"]["name"] for o in dropped.body["items"]] == ["c1", "c3", "c5"]
    left = call(sandbox.url, "GET", CM).body["items"]
    assert [o["metadata"]["name"] for o in left] == ["c0", "c2", "c4", "c6", "c9"]


def test_patch_flavours(sandbox: SandboxHandle) -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {"name": "one", "image": "i:1", "env": [{"name": "A", "value": "1"}]},
                        {"name": "two", "image": "j:1"},
                    ]
                },
            },
        },
    }
    path = "/apis/apps/v1/namespaces/default/deployments/d"
    call(sandbox.url, "POST", "/apis/apps/v1/namespaces/default/deployments", dep)
    smp = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "two", "image": "j:2"},
                        {"name": "one", "env": [{"name": "B", "value": "2"}]},
                    ]
                }
            }
        }
    }
    out = call(
        sandbox.url, "PATCH", path, smp, content_type="application/strategic-merge-patch+json"
    ).body
    cs = {c["name"]: c for c in out["spec"]["template"]["spec"]["containers"]}
    assert cs["two"]["image"] == "j:2" and cs["one"]["image"] == "i:1"
    # Strategic merge orders a merged list as the patch lists it, live-only items after.
    assert [e["name"] for e in cs["one"]["env"]] == ["B", "A"]
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["two", "one"]
    assert out["metadata"]["generation"] == 2
    merge = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "k"}]}}}}
    out = call(sandbox.url, "PATCH", path, merge, content_type="application/merge-patch+json").body
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["only"]
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "test", "path": "/spec/replicas", "value": 4},
    ]
    out = call(sandbox.url, "PATCH", path, ops, content_type="application/json-patch+json").body
    assert out["spec"]["replicas"] == 4
    failed = call(
        sandbox.url,
        "PATCH",
        path,
        [{"op": "test", "path": "/spec/replicas", "value": 9}],
        content_type="application/json-patch+json",
    )
    assert failed.code == 422
    missing = call(
        sandbox.url,
        "PATCH",
        f"{CM}/x",
        {"data": {}},
        content_type="application/strategic-merge-patch+json",
    )
    assert missing.code == 404


def test_generation_and_status_subresource(sandbox: SandboxHandle) -> None:
    sandbox.install_crds()
    lq = "/apis/kueue.x-k8s.io/v1beta1/namespaces/default/localqueues"
    body = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "LocalQueue",
        "metadata": {"name": "q"},
        "spec": {"clusterQueue": "a"},
        "status": {"pendingWorkloads": 5},
    }
    created = call(sandbox.url, "POST", lq, body).body
    assert created["metadata"]["generation"] == 1
    assert "status" not in created  # status is ignored on create
    st = call(
        sandbox.url,
        "PATCH",
        f"{lq}/q/status",
        {"status": {"pendingWorkloads": 2}, "spec": {"clusterQueue": "zzz"}},
        content_type="application/merge-patch+json",
    ).body
    assert st["status"] == {"pendingWorkloads": 2}
    assert st["spec"]["clusterQueue"] == "a"
    assert st["metadata"]["generation"] == 1
    relabel = call(
        sandbox.url,
        "PATCH",
        f"{lq}/q",
        {"metadata": {"labels": {"x": "y"}}},
        content_type="application/merge-patch+json",
    ).body
    assert relabel["metadata"]["generation"] == 1
    spec = call(
        sandbox.url,
        "PATCH",
        f"{lq}/q",
        {"spec": {"clusterQueue": "b"}, "status": {"pendingWorkloads": 9}},
        content_type="application/merge-patch+json",
    ).body
    assert spec["metadata"]["generation"] == 2
    assert spec["status"] == {"pendingWorkloads": 2}
    smp = call(
        sandbox.url,
        "PATCH",
        f"{lq}/q",
        {"spec": {"clusterQueue": "c"}},
        content_type="application/strategic-merge-patch+json",
    )
    assert (smp.code, smp.body["reason"]) == (415, "UnsupportedMediaType")


def test_watch_resume_and_bookmark_free_stream(sandbox: SandboxHandle) -> None:
    api = client.CoreV1Api(sandbox.api_client())
    api.create_namespaced_config_map("default", cm("w1"))
    rv = api.list_namespaced_config_map("default").metadata.resource_version
    api.patch_namespaced_config_map("w1", "default", {"data": {"a": "1"}})
    api.create_namespaced_config_map("default", cm("w2", {"keep": "yes"}))
    api.delete_namespaced_config_map("w1", "default")
    from kubernetes import watch

    seen = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            api.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        )
    ]
    assert seen == [("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w1")]
    labelled = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            api.list_namespaced_config_map,
            "default",
            resource_version=rv,
            label_selector="keep=yes",
            timeout_seconds=1,
        )
    ]
    assert labelled == [("ADDED", "w2")]


def test_garbage_collection_propagation(sandbox: SandboxHandle) -> None:
    owner = call(sandbox.url, "POST", CM, cm("owner")).body
    ref = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    for name in ("dep1", "dep2"):
        body = cm(name)
        body["metadata"]["ownerReferences"] = ref
        call(sandbox.url, "POST", CM, body)
    orphaning = call(sandbox.url, "DELETE", f"{CM}/owner", {"propagationPolicy": "Orphan"})
    # The owner waits, with the garbage collector's "orphan" finalizer, until its
    # dependents no longer point at it.
    assert orphaning.body["metadata"]["finalizers"] == ["orphan"]
    assert orphaning.body["metadata"]["deletionTimestamp"]
    orphan = wait_for(
        lambda: (
            call(sandbox.url, "GET", f"{CM}/owner").code == 404
            and call(sandbox.url, "GET", f"{CM}/dep1").body
        )
    )
    assert "ownerReferences" not in orphan["metadata"]

    owner2 = call(sandbox.url, "POST", CM, cm("owner2")).body
    body = cm("dep3")
    body["metadata"]["ownerReferences"] = [
        dict(ref[0], name="owner2", uid=owner2["metadata"]["uid"])
    ]
    call(sandbox.url, "POST", CM, body)
    fg = call(sandbox.url, "DELETE", f"{CM}/owner2", {"propagationPolicy": "Foreground"})
    assert fg.code == 200
    assert fg.body["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in fg.body["metadata"]["finalizers"]
    wait_for(lambda: call(sandbox.url, "GET", f"{CM}/owner2").code == 404)
    assert call(sandbox.url, "GET", f"{CM}/dep3").code == 404

    owner3 = call(sandbox.url, "POST", CM, cm("owner3")).body
    body = cm("dep4")
    body["metadata"]["ownerReferences"] = [
        dict(ref[0], name="owner3", uid=owner3["metadata"]["uid"])
    ]
    call(sandbox.url, "POST", CM, body)
    done = call(sandbox.url, "DELETE", f"{CM}/owner3")  # Background by default
    # Deleted at once: a ConfigMap's registry answers with a Status, not the object.
    assert (done.code, done.body["kind"], done.body["status"]) == (200, "Status", "Success")
    assert done.body["details"] == {
        "name": "owner3",
        "kind": "configmaps",
        "uid": owner3["metadata"]["uid"],
    }
    wait_for(lambda: call(sandbox.url, "GET", f"{CM}/dep4").code == 404)
    assert call(sandbox.url, "GET", f"{CM}/dep2").code == 200


def test_job_delete_default_orphans_with_warning(sandbox: SandboxHandle) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}
            }
        },
    }
    call(sandbox.url, "POST", "/apis/batch/v1/namespaces/default/jobs", job)
    pods = "/api/v1/namespaces/default/pods"
    wait_for(lambda: call(sandbox.url, "GET", pods).body["items"])
    out = call(sandbox.url, "DELETE", "/apis/batch/v1/namespaces/default/jobs/j")
    assert out.code == 200
    assert any("child pods are preserved by default" in w for w in out.warnings)
    # Orphan is carried out by the garbage collector: the Job waits with its finalizer
    # (and, being marked for deletion, a new generation) until its pod is let go.
    assert out.body["metadata"]["finalizers"] == ["orphan"]
    assert out.body["metadata"]["generation"] == 2
    wait_for(
        lambda: call(sandbox.url, "GET", "/apis/batch/v1/namespaces/default/jobs/j").code == 404
    )
    left = call(sandbox.url, "GET", pods).body["items"]
    assert len(left) == 1 and "ownerReferences" not in left[0]["metadata"]


DEPRECATED_V1BETA1 = '299 - "This version is deprecated. Use v1beta2 instead."'


def test_crd_versions_preferred_served_and_deprecated(sandbox: SandboxHandle) -> None:
    """A CRD with two versions: the newer is preferred, an object reads back in the
    version asked for (no conversion webhook: only apiVersion changes), and every answer
    of the deprecated version carries its warning."""
    sandbox.install_crds()
    group = call(sandbox.url, "GET", "/apis/kueue.x-k8s.io").body
    assert group["preferredVersion"]["version"] == "v1beta2"
    assert [v["version"] for v in group["versions"]] == ["v1beta2", "v1beta1"]
    old = "/apis/kueue.x-k8s.io/v1beta1/namespaces/default/localqueues"
    new = "/apis/kueue.x-k8s.io/v1beta2/namespaces/default/localqueues"
    queue = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "LocalQueue",
        "metadata": {"name": "q"},
        "spec": {"clusterQueue": "team"},
    }
    created = call(sandbox.url, "POST", old, queue)
    assert created.code == 201, created.body
    assert created.body["apiVersion"] == "kueue.x-k8s.io/v1beta1"
    assert created.warnings == [DEPRECATED_V1BETA1]
    read = call(sandbox.url, "GET", f"{new}/q")
    assert (read.body["apiVersion"], read.warnings) == ("kueue.x-k8s.io/v1beta2", [])
    listed = call(sandbox.url, "GET", new).body
    assert [i["apiVersion"] for i in listed["items"]] == ["kueue.x-k8s.io/v1beta2"]
    missing = call(sandbox.url, "GET", f"{old}/nope")
    assert missing.code == 404
    assert missing.warnings == [DEPRECATED_V1BETA1]
    watched = call(sandbox.url, "GET", f"{old}?watch=true&timeoutSeconds=1")
    assert (watched.code, watched.warnings) == (200, [DEPRECATED_V1BETA1])


def test_crd_lifecycle_serves_and_unserves(sandbox: SandboxHandle) -> None:
    sandbox.install_crds()
    dyn = dynamic.DynamicClient(sandbox.api_client())
    isvc = dyn.resources.get(api_version="serving.kserve.io/v1beta1", kind="InferenceService")
    isvc.create(
        body={
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "m"},
            "spec": {"predictor": {"model": {}}},
        },
        namespace="default",
    )
    crd = call(
        sandbox.url,
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
        "inferenceservices.serving.kserve.io",
    ).body
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds == {"NamesAccepted": "True", "Established": "True"}
    call(
        sandbox.url,
        "DELETE",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
        "inferenceservices.serving.kserve.io",
    )
    wait_for(lambda: call(sandbox.url, "GET", "/apis/serving.kserve.io/v1beta1").code == 404)
    gone = call(
        sandbox.url, "GET", "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/m"
    )
    assert gone.code == 404


_POSTED_CONFIGMAPS = re.compile(
    r'^apiserver_request_total\{code="201",component="apiserver",dry_run="",group="",'
    r'resource="configmaps",scope="resource",subresource="",verb="POST",version="v1"\} (\d+)$',
    re.M,
)


def posts_after(metrics: str) -> int:
    """The count of ConfigMaps created (201) in a ``/metrics`` text (0 when absent)."""
    found = _POSTED_CONFIGMAPS.search(metrics)
    return int(found.group(1)) if found else 0


def test_metrics_count_requests_by_verb(sandbox: SandboxHandle) -> None:
    posts_before = posts_after(call(sandbox.url, "GET", "/metrics").body)
    call(sandbox.url, "POST", CM, cm("m1"))
    call(sandbox.url, "GET", f"{CM}/m1")
    call(sandbox.url, "GET", CM)
    call(
        sandbox.url,
        "PATCH",
        f"{CM}/m1?fieldManager=t",
        cm("m1", a="b"),
        content_type="application/apply-patch+yaml",
    )
    call(
        sandbox.url,
        "PATCH",
        f"{CM}/m1",
        {"data": {"c": "d"}},
        content_type="application/merge-patch+json",
    )
    call(sandbox.url, "GET", f"{CM}/nope")
    call(sandbox.url, "DELETE", f"{CM}/m1")
    counts = sandbox.request_counts()
    for key in [
        ("POST", "configmaps", "201"),
        ("GET", "configmaps", "200"),
        ("LIST", "configmaps", "200"),
        ("APPLY", "configmaps", "200"),
        ("PATCH", "configmaps", "200"),
        ("GET", "configmaps", "404"),
        ("DELETE", "configmaps", "200"),
    ]:
        assert counts.get(key) == 1, (key, counts)
    text = call(sandbox.url, "GET", "/metrics").body
    assert "# TYPE apiserver_request_total counter" in text
    # A create is scoped to the one object it makes, as kube-apiserver labels it; the
    # count is one more than before the test's create (kube-apiserver makes ConfigMaps
    # of its own at start-up).
    assert posts_after(text) == posts_before + 1


def test_health_version_and_discovery(sandbox: SandboxHandle) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        r = call(sandbox.url, "GET", path)
        assert (r.code, r.body) == (200, "ok")
    v = call(sandbox.url, "GET", "/version").body
    assert v["major"] == "1" and v["gitVersion"].startswith("v1.")
    apps = call(sandbox.url, "GET", "/apis/apps/v1").body
    dep = next(r for r in apps["resources"] if r["name"] == "deployments")
    assert dep == {
        "name": "deployments",
        "singularName": "deployment",
        "namespaced": True,
        "kind": "Deployment",
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "shortNames": ["deploy"],
        "categories": ["all"],
        "storageVersionHash": "8aSe+NMegvE=",
    }
    assert {
        "name": "deployments/status",
        "singularName": "",
        "namespaced": True,
        "kind": "Deployment",
        "verbs": ["get", "patch", "update"],
    } in apps["resources"]
    agg = call(
        sandbox.url,
        "GET",
        "/apis",
        accept=(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ),
    )
    # Aggregated discovery (kubectl's first choice): every group and resource at once.
    assert agg.body["kind"] == "APIGroupDiscoveryList"
    assert agg.headers["Content-Type"] == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    assert agg.headers["Vary"] == "Accept"
    apps_group = next(i for i in agg.body["items"] if i["metadata"].get("name") == "apps")
    deployments = next(
        r for r in apps_group["versions"][0]["resources"] if r["resource"] == "deployments"
    )
    assert deployments["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    assert deployments["scope"] == "Namespaced"
    assert {s["subresource"]: s["responseKind"]["kind"] for s in deployments["subresources"]} == {
        "scale": "Scale",
        "status": "Deployment",
    }


def test_pods_are_stored_pending(sandbox: SandboxHandle) -> None:
    """A Pod is stored as kube-apiserver stores it: defaulted, admitted, Pending (nothing
    schedules it)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
            ]
        },
    }
    created = call(sandbox.url, "POST", "/api/v1/namespaces/default/pods", pod)
    assert created.code == 201
    assert created.body["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    spec = created.body["spec"]
    assert spec["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert spec["tolerations"] == [
        {
            "key": f"node.kubernetes.io/{t}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
        for t in ("not-ready", "unreachable")
    ]
    assert (spec["restartPolicy"], spec["priority"], spec["enableServiceLinks"]) == (
        "Always",
        0,
        True,
    )
    assert created.body["metadata"]["generation"] == 1
    # Unbound and Pending: deleted at once (no kubelet has to confirm).
    gone = call(sandbox.url, "DELETE", "/api/v1/namespaces/default/pods/p")
    assert gone.code == 200
    assert call(sandbox.url, "GET", "/api/v1/namespaces/default/pods/p").code == 404
    core = call(sandbox.url, "GET", "/api/v1").body
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["verbs"] == [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]


def _configmap(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **fields}


def test_sizes_kube_apiserver_limits_are_limits_here(sandbox: SandboxHandle) -> None:
    """A ConfigMap's or Secret's values over 1 MiB, annotations over 256 KiB and a
    fieldManager over 128 bytes are 422; each limit itself is taken. (A body over 3 MiB:
    ``test_limits``.)"""
    at = _configmap("at", data={"k": "v" * 1048576}, metadata={"name": "at"})
    assert call(sandbox.url, "POST", CM, at).code == 201
    over = call(sandbox.url, "POST", CM, _configmap("over", data={"k": "v" * 1048577}))
    assert (over.code, over.body["reason"]) == (422, "Invalid")
    both = _configmap("both", binaryData={"b": "eHh4" * 200_000}, data={"a": "x" * 500_000})
    assert call(sandbox.url, "POST", CM, both).code == 422  # 600,000 bytes decoded + 500,000
    secrets = "/api/v1/namespaces/default/secrets"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    assert (
        call(sandbox.url, "POST", secrets, {**secret, "stringData": {"a": "x" * 1048577}}).code
        == 422
    )
    assert (
        call(sandbox.url, "POST", secrets, {**secret, "data": {"a": "eHh4" * 350_000}}).code == 422
    )
    fits = {"name": "fits", "annotations": {"k": "v" * 262143}}
    assert call(sandbox.url, "POST", CM, _configmap("fits", metadata=fits)).code == 201
    fat = {"name": "fat", "annotations": {"k": "v" * 262144}}
    assert call(sandbox.url, "POST", CM, _configmap("fat", metadata=fat)).code == 422
    manager = "m" * 129
    for method, path, content_type in (
        ("POST", f"{CM}?fieldManager={manager}", "application/json"),
        ("PUT", f"{CM}/at?fieldManager={manager}", "application/json"),
        ("PATCH", f"{CM}/at?fieldManager={manager}", "application/merge-patch+json"),
    ):
        long = call(sandbox.url, method, path, _configmap("at"), content_type=content_type)
        assert (long.code, long.body["reason"]) == (422, "Invalid"), method
    assert [i["metadata"]["name"] for i in call(sandbox.url, "GET", CM).body["items"]] == [
        "at", "fits",
    ]  # fmt: skip


def test_label_and_annotation_keys_and_values_get_every_reason(sandbox: SandboxHandle) -> None:
    """Each reason apimachinery gives is a cause of its own (too long, and not matching
    the pattern); annotation keys are checked lowercased; a key with two slashes, an
    empty prefix, a prefix over 253 bytes each get theirs."""
    cases: list[dict[str, Any]] = [
        {"labels": {"k": "v" * 64}},
        {"labels": {"k": "v" * 64 + "-"}},
        {"labels": {"a" * 64 + "_": "x"}},
        {"labels": {"x/y/z": "v"}},
        {"labels": {"/n": "v"}},
        {"labels": {"p" * 254 + "/k": "v"}},
        {"annotations": {"Upper/Key": "v"}},
        {"annotations": {"Upper_/Key": "v"}},
        {"annotations": {"a" * 64: "v"}},
        {"annotations": {"": "v"}},
    ]
    for i, meta in enumerate(cases):
        answer = call(
            sandbox.url, "POST", CM, _configmap(f"m{i}", metadata={"name": f"m{i}", **meta})
        )
        assert answer.code == (201 if "Upper/Key" in meta.get("annotations", {}) else 422), meta


def test_list_parameters_go_would_not_parse_are_400(sandbox: SandboxHandle) -> None:
    """Bad label selector keys and values, limits and resourceVersions: 400 with the
    parser's own words."""
    for query in (
        "labelSelector=a_%3Db",
        "labelSelector=" + "a" * 70 + "%3Db",
        "labelSelector=" + "a" * 70 + "_%3Db",
        "labelSelector=x/y/z%3Db",
        "labelSelector=a%3D-b",
        "labelSelector=a%3D" + "v" * 70,
        "labelSelector=a%3D" + "v" * 70 + "-",
        "labelSelector=a%20in%20(x,-y)",
        "labelSelector=a%20notin%20(x,y,-z)",
        "limit=abc",
        "limit=5_0",
        "resourceVersion=abc",
        "resourceVersion=-1",
    ):
        refused = call(sandbox.url, "GET", f"{CM}?{query}")
        assert (refused.code, refused.body["reason"]) == (400, "BadRequest"), query


def test_writes_kube_apiserver_refuses_before_storing(sandbox: SandboxHandle) -> None:
    """A patch removing the name, delete preconditions that do not hold, a delete policy
    that does not exist, an invalid generateName, a key in both data and binaryData,
    binaryData or Secret data that is not base64: each refused with kube-apiserver's code,
    reason and words, and nothing changed."""
    call(sandbox.url, "POST", CM, _configmap("p", data={"a": "1"}))
    unnamed = call(
        sandbox.url, "PATCH", f"{CM}/p", {"metadata": {"name": None}},
        content_type="application/merge-patch+json",
    )  # fmt: skip
    assert (unnamed.code, unnamed.body["reason"]) == (400, "BadRequest")
    for preconditions in ({"uid": "not-its-uid"}, {"resourceVersion": "1"}):
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": preconditions}
        held = call(sandbox.url, "DELETE", f"{CM}/p", options)
        assert (held.code, held.body["reason"]) == (409, "Conflict"), preconditions
    sideways = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Sideways"}
    policy = call(sandbox.url, "DELETE", f"{CM}/p", sideways)
    assert (policy.code, policy.body["reason"]) == (422, "Invalid")
    assert call(sandbox.url, "GET", f"{CM}/p").body["data"] == {"a": "1"}
    bad_prefix = call(sandbox.url, "POST", CM, _configmap("", metadata={"generateName": "Bad_-"}))
    assert (bad_prefix.code, bad_prefix.body["reason"]) == (422, "Invalid")
    assert len(bad_prefix.body["details"]["causes"]) == 2  # the prefix, then the name made
    ok_prefix = call(sandbox.url, "POST", CM, _configmap("", metadata={"generateName": "ok-"}))
    assert ok_prefix.code == 201
    both = _configmap("both", data={"a": "x"}, binaryData={"a": "eA=="})
    assert call(sandbox.url, "POST", CM, both).code == 422
    for kind, path, field in (
        ("ConfigMap", CM, "binaryData"),
        ("Secret", "/api/v1/namespaces/default/secrets", "data"),
    ):
        body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "b64"}}
        for value in ("not base64!", "abc", "a=bc"):
            refused = call(sandbox.url, "POST", path, {**body, field: {"k": value}})
            assert (refused.code, refused.body["reason"]) == (400, "BadRequest"), (kind, value)


def test_overlay_kinds_refused_as_kube_apiserver_refuses_them(sandbox: SandboxHandle) -> None:
    """What an environment's overlay adds beside its pipelines (ResourceQuota, LimitRange)
    and what serving renders (Deployment, Service), refused for what kube-apiserver
    refuses: unknown or negative quota, unknown scope, limits out of order, negative
    replicas, ports out of range, unnamed or repeated service ports, a bad target port
    name; and the usual forms taken."""
    ns = "/api/v1/namespaces/default"
    deps = "/apis/apps/v1/namespaces/default/deployments"

    def obj(kind: str, name: str, spec: dict[str, Any], api: str = "v1") -> dict[str, Any]:
        return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec}

    def deployment(name: str, pod: dict[str, Any], **spec: Any) -> dict[str, Any]:
        tpl = {"metadata": {"labels": {"a": "b"}}, "spec": pod}
        body = {"selector": {"matchLabels": {"a": "b"}}, "template": tpl, **spec}
        return obj("Deployment", name, body, "apps/v1")

    container = {"name": "c", "image": "i"}
    cases = [
        (f"{ns}/resourcequotas", obj("ResourceQuota", "q1", {"hard": {"cpu": "-1"}}), 422),
        (f"{ns}/resourcequotas", obj("ResourceQuota", "q2", {"hard": {"gpu": "4"}}), 422),
        (f"{ns}/resourcequotas", obj("ResourceQuota", "q3", {"hard": {"storage": "4"}}), 422),
        (
            f"{ns}/resourcequotas",
            obj("ResourceQuota", "q4", {"hard": {"pods": "1"}, "scopes": ["Bogus"]}),
            422,
        ),
        (
            f"{ns}/resourcequotas",
            obj(
                "ResourceQuota",
                "ok",
                {
                    "hard": {
                        "requests.nvidia.com/gpu": "4",
                        "limits.cpu": "64",
                        "requests.memory": "256Gi",
                        "pods": "100",
                        "count/jobs.batch": "50",
                        "persistentvolumeclaims": "10",
                        "requests.storage": "1Ti",
                        "services.loadbalancers": "0",
                    }
                },
            ),
            201,
        ),
        (
            f"{ns}/limitranges",
            obj(
                "LimitRange",
                "l1",
                {"limits": [{"type": "Container", "max": {"cpu": "1"}, "default": {"cpu": "2"}}]},
            ),
            422,
        ),
        (
            f"{ns}/limitranges",
            obj(
                "LimitRange",
                "l2",
                {
                    "limits": [
                        {"type": "Container", "min": {"memory": "2Gi"}, "max": {"memory": "1Gi"}}
                    ]
                },
            ),
            422,
        ),
        (f"{ns}/limitranges", obj("LimitRange", "l3", {"limits": [{"type": "Bogus"}]}), 422),
        (
            f"{ns}/limitranges",
            obj(
                "LimitRange",
                "l4",
                {
                    "limits": [
                        {
                            "type": "Container",
                            "defaultRequest": {"cpu": "2"},
                            "default": {"cpu": "1"},
                        }
                    ]
                },
            ),
            422,
        ),
        (
            f"{ns}/limitranges",
            obj(
                "LimitRange",
                "ok",
                {
                    "limits": [
                        {
                            "type": "Container",
                            "min": {"cpu": "100m"},
                            "max": {"cpu": "8", "nvidia.com/gpu": "4"},
                        }
                    ]
                },
            ),
            201,
        ),
        (deps, deployment("d1", {"containers": [container]}, replicas=-1), 422),
        (
            deps,
            deployment("d2", {"containers": [{**container, "ports": [{"containerPort": 70000}]}]}),
            422,
        ),
        (f"{ns}/services", obj("Service", "s1", {"ports": [{"port": 0}]}), 422),
        (f"{ns}/services", obj("Service", "s2", {"ports": [{"port": 80}, {"port": 80}]}), 422),
        (
            f"{ns}/services",
            obj("Service", "s3", {"ports": [{"port": 80, "targetPort": "Bad_Name"}]}),
            422,
        ),
        (
            f"{ns}/services",
            obj("Service", "s4", {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}),
            422,
        ),
        (
            f"{ns}/services",
            obj(
                "Service",
                "ok",
                {
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": "http"},
                        {"name": "grpc", "port": 9000, "targetPort": 9000},
                    ]
                },
            ),
            201,
        ),
    ]
    _posted_as_expected(sandbox, cases)


def test_custom_resources_checked_against_their_schema_as_apiextensions_does(
    sandbox: SandboxHandle,
) -> None:
    """A PyTorchJob (the CRD this project ships): integers beyond their format or not
    whole, a status written through its subresource that its schema refuses (a date that
    is not one, a condition without its status), a declared field set to null pruned (an
    unknown one kept where the schema keeps unknown fields)."""
    sandbox.install_crds()
    jobs = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
    worker = {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}

    def job(name: str, **spec: Any) -> dict[str, Any]:
        spec.setdefault("pytorchReplicaSpecs", {"Worker": worker})
        meta = {"name": name}
        return {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": meta,
            "spec": spec,
        }

    for name, run_policy in (
        ("float", {"backoffLimit": 2.5}),
        ("big", {"backoffLimit": 3_000_000_000}),
    ):
        refused = call(sandbox.url, "POST", jobs, job(name, runPolicy=run_policy))
        assert (refused.code, refused.body["reason"]) == (422, "Invalid"), name
    wide = call(
        sandbox.url, "POST", jobs, job("wide", runPolicy={"activeDeadlineSeconds": 3_000_000_000})
    )
    assert wide.code == 201  # int64
    assert call(sandbox.url, "POST", jobs, job("k")).code == 201
    merge = "application/merge-patch+json"
    for status in (
        {"completionTime": "not a date"},
        {"completionTime": "2026-12-05T10:00:00"},  # no zone
        {"conditions": [{"type": "Running"}]},
    ):
        answer = call(
            sandbox.url, "PATCH", f"{jobs}/k/status", {"status": status}, content_type=merge
        )
        assert (answer.code, answer.body["reason"]) == (422, "Invalid"), status
    nulls = job("nulls", pytorchReplicaSpecs={"Worker": None}, elasticPolicy={"x": None})
    made = call(sandbox.url, "POST", jobs, nulls)
    assert made.code == 201
    assert made.body["spec"]["pytorchReplicaSpecs"] == {}
    assert made.body["spec"]["elasticPolicy"] == {"x": None}


def test_strategic_merge_patches_refused_as_kube_apiserver_refuses_them(
    sandbox: SandboxHandle,
) -> None:
    """kubectl patch's strategic merge: an unknown ``$patch`` directive and a list item
    without its merge key fail (kube-apiserver's bare 500, naming the map); a patch that
    removes a volume a container still mounts is refused (422), so is a Deployment
    created with such a mount; the directives themselves work."""
    deps = "/apis/apps/v1/namespaces/default/deployments"
    pod = {
        "containers": [
            {"name": "c", "image": "i", "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
            {"name": "s", "image": "j", "ports": [{"containerPort": 80}]},
        ],
        "volumes": [{"name": "v", "emptyDir": {}}],
    }
    tpl = {"metadata": {"labels": {"a": "b"}}, "spec": pod}
    spec = {"selector": {"matchLabels": {"a": "b"}}, "template": tpl}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec}
    assert call(sandbox.url, "POST", deps, body).code == 201
    unmounted = json.loads(json.dumps(body))
    unmounted["metadata"]["name"] = "e"
    del unmounted["spec"]["template"]["spec"]["volumes"]
    assert call(sandbox.url, "POST", deps, unmounted).code == 422

    def patched(pod_patch: dict[str, Any]) -> Response:
        patch = {"spec": {"template": {"spec": pod_patch}}}
        return call(
            sandbox.url, "PATCH", f"{deps}/d", patch,
            content_type="application/strategic-merge-patch+json",
        )  # fmt: skip

    assert patched({"containers": [{"name": "c", "$patch": "bogus"}]}).code == 500
    assert patched({"containers": [{"image": "no-name"}]}).code == 500
    assert patched({"volumes": [{"name": "v", "$patch": "delete"}]}).code == 422
    removed = patched({"containers": [{"name": "s", "$patch": "delete"}]})
    assert [c["name"] for c in removed.body["spec"]["template"]["spec"]["containers"]] == ["c"]


def test_owner_references_and_finalizers_checked_as_kube_apiserver_does(
    sandbox: SandboxHandle,
) -> None:
    """An owner reference without its uid (or apiVersion, kind, name) is 422, not a
    field-manager error; two controllers are one too many; a finalizer is a qualified name,
    standard or with a domain (the same one twice is taken)."""

    def cm_with(name: str, **meta: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}}

    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u1"}
    refused = {
        "no-uid": cm_with("a", ownerReferences=[{k: v for k, v in owner.items() if k != "uid"}]),
        "empty": cm_with(
            "b", ownerReferences=[{"apiVersion": "", "kind": "", "name": "", "uid": "u"}]
        ),
        "two-controllers": cm_with(
            "c",
            ownerReferences=[
                {**owner, "controller": True},
                {**owner, "name": "y", "uid": "u2", "controller": True},
            ],
        ),
        "spaced": cm_with("d", finalizers=["Bad Finalizer"]),
        "no-domain": cm_with("e", finalizers=["nodomain"]),
    }
    for why, body in refused.items():
        answer = call(sandbox.url, "POST", CM, body)
        assert (answer.code, answer.body["reason"]) == (422, "Invalid"), why
    taken = cm_with(
        "ok", ownerReferences=[{**owner, "controller": True}],
        finalizers=["example.com/ok", "example.com/ok", "kubernetes"],
    )  # fmt: skip
    assert call(sandbox.url, "POST", CM, taken).code == 201


def test_serving_objects_refused_as_kube_apiserver_refuses_them(sandbox: SandboxHandle) -> None:
    """What serving renders beside its Deployment and Service: a HorizontalPodAutoscaler
    (replica bounds, a scale target with its group, a utilization to aim at) and an Ingress
    (a DNS host, not an IP; absolute paths; a known path type, given; a backend port by
    name or number, not both); the forms serving renders are taken."""
    hpas = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
    ingresses = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}

    def hpa(name: str, **spec: Any) -> dict[str, Any]:
        body = {"scaleTargetRef": target, "maxReplicas": 3, **spec}
        meta = {"name": name}
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": body,
        }

    def cpu(**goal: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", **goal}},
            }
        ]

    backend = {"service": {"name": "s", "port": {"number": 80}}}

    def ingress(name: str, host: str = "ok.example.com", **path: Any) -> dict[str, Any]:
        item = {"path": "/", "pathType": "Prefix", "backend": backend, **path}
        item = {k: v for k, v in item.items() if v is not None}
        rules = [{"host": host, "http": {"paths": [item]}}]
        meta = {"name": name}
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta,
            "spec": {"rules": rules},
        }

    cases = [
        (hpas, hpa("to-zero", minReplicas=0), 422),
        (hpas, hpa("min-over-max", minReplicas=5), 422),
        (hpas, hpa("no-max", maxReplicas=0), 422),
        (hpas, hpa("zero-goal", metrics=cpu(averageUtilization=0)), 422),
        (hpas, hpa("no-goal", metrics=cpu()), 422),
        (hpas, hpa("no-target", scaleTargetRef={"kind": "", "name": ""}), 422),
        (hpas, hpa("ok", minReplicas=1, maxReplicas=8, metrics=cpu(averageUtilization=70)), 201),
        (ingresses, ingress("bad-host", host="Bad_Host"), 422),
        (ingresses, ingress("ip-host", host="1.2.3.4"), 422),
        (ingresses, ingress("relative", path="nope"), 422),
        (ingresses, ingress("untyped", pathType=None), 422),
        (ingresses, ingress("bogus-type", pathType="Bogus"), 422),
        (ingresses, ingress("no-port", backend={"service": {"name": "s", "port": {}}}), 422),
        (
            ingresses,
            ingress(
                "two-ports",
                backend={"service": {"name": "s", "port": {"number": 80, "name": "http"}}},
            ),
            422,
        ),
        (ingresses, ingress("wildcard", host="*.example.com"), 201),
        (ingresses, ingress("ok"), 201),
    ]
    _posted_as_expected(sandbox, cases)


def test_disruption_budgets_and_network_policies_checked_as_kube_apiserver_does(
    sandbox: SandboxHandle,
) -> None:
    """The PodDisruptionBudget and NetworkPolicy that serving renders: one of minAvailable
    and maxUnavailable, counts or percentages up to 100%, a known eviction policy, a valid
    selector; ports in range and an end port not below them, known protocols and policy
    types, peers that name something, CIDRs; the forms serving renders taken (with a
    budget's status zero values)."""
    budgets = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
    policies = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"
    selector = {"matchLabels": {"a": "b"}}

    def budget(name: str, **spec: Any) -> dict[str, Any]:
        body = {"selector": selector, **spec}
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": body,
        }

    def policy(name: str, *rules: dict[str, Any], **spec: Any) -> dict[str, Any]:
        body = {"podSelector": selector, **({"ingress": list(rules)} if rules else {}), **spec}
        meta = {"name": name}
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": body,
        }

    cases = [
        (budgets, budget("both", minAvailable=1, maxUnavailable=1), 422),
        (budgets, budget("negative", minAvailable=-1), 422),
        (budgets, budget("over", minAvailable="150%"), 422),
        (budgets, budget("word", maxUnavailable="abc"), 422),
        (budgets, budget("policy", minAvailable=1, unhealthyPodEvictionPolicy="Bogus"), 422),
        (budgets, budget("labels", minAvailable=1, selector={"matchLabels": {"a": "-bad"}}), 422),
        (budgets, budget("ok", minAvailable="50%"), 201),
        (policies, policy("port", {"ports": [{"port": 70000}]}), 422),
        (policies, policy("protocol", {"ports": [{"port": 80, "protocol": "Bogus"}]}), 422),
        (policies, policy("cidr", {"from": [{"ipBlock": {"cidr": "not-a-cidr"}}]}), 422),
        (policies, policy("peer", {"from": [{}]}), 422),
        (policies, policy("types", policyTypes=["Sideways"]), 422),
        (policies, policy("range", {"ports": [{"port": 80, "endPort": 70}]}), 422),
        (
            policies,
            policy("ok", {"from": [{"podSelector": selector}], "ports": [{"port": 8080}]}),
            201,
        ),
    ]
    _posted_as_expected(sandbox, cases)


def _posted_as_expected(
    sandbox: SandboxHandle, cases: list[tuple[str, dict[str, Any], int]]
) -> None:
    """POST each ``(path, body, code)`` and check the code it was answered with."""
    for path, body, code in cases:
        answer = call(sandbox.url, "POST", path, body)
        assert answer.code == code, (body["metadata"]["name"], answer.body)


def test_install_and_storage_kinds_checked_as_kube_apiserver_does(sandbox: SandboxHandle) -> None:
    """What the in-cluster install writes (Roles and bindings, the leader election's
    Lease) and storage kinds: rules that say what they allow, bindings to a known kind of
    role, named subjects, a role reference that never changes; a Lease's duration and
    transitions; typed Secrets' keys, config keys named in the path; a claim's access modes
    and storage request."""
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"
    ns = "/api/v1/namespaces/default"
    leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"

    def role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
        return _manifest("rbac.authorization.k8s.io/v1", "Role", name, rules=list(rules))

    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    subject = {"kind": "ServiceAccount", "name": "sa"}

    def binding(
        name: str, role_ref: dict[str, Any] = ref, *subjects: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"roleRef": role_ref, "subjects": list(subjects) or [subject]}
        return _manifest("rbac.authorization.k8s.io/v1", "RoleBinding", name, **body)

    def lease(name: str, **spec: Any) -> dict[str, Any]:
        return _manifest("coordination.k8s.io/v1", "Lease", name, spec=spec)

    def secret(name: str, kind: str, **data: str) -> dict[str, Any]:
        return _manifest("v1", "Secret", name, type=kind, data=data)

    def claim(name: str, **spec: Any) -> dict[str, Any]:
        return _manifest("v1", "PersistentVolumeClaim", name, spec=spec)

    storage = {"requests": {"storage": "1Gi"}}
    cases = [
        (f"{rbac}/roles", role("no-groups", {"verbs": ["get"]}), 422),
        (
            f"{rbac}/roles",
            role(
                "urls",
                {
                    "verbs": ["get"],
                    "apiGroups": [""],
                    "resources": ["pods"],
                    "nonResourceURLs": ["/x"],
                },
            ),
            422,
        ),
        (
            f"{rbac}/roles",
            role("ok", {"verbs": ["get", "list"], "apiGroups": ["batch"], "resources": ["jobs"]}),
            201,
        ),
        (f"{rbac}/rolebindings", binding("kind", {**ref, "kind": "Bogus"}), 422),
        (f"{rbac}/rolebindings", binding("subject", ref, {"kind": "Bogus", "name": "x"}), 422),
        (
            f"{rbac}/rolebindings",
            binding("unnamed", ref, {"kind": "ServiceAccount", "name": ""}),
            422,
        ),
        (f"{rbac}/rolebindings", binding("b"), 201),
        (
            leases,
            lease("zero", leaseDurationSeconds=0),
            422,
        ),
        (
            leases,
            lease("back", leaseTransitions=-1),
            422,
        ),
        (
            leases,
            lease("ok", leaseDurationSeconds=15),
            201,
        ),
        (f"{ns}/secrets", secret("tls", "kubernetes.io/tls"), 422),
        (f"{ns}/secrets", secret("docker", "kubernetes.io/dockerconfigjson"), 422),
        (f"{ns}/secrets", secret("key", "Opaque", **{"bad key": "eA=="}), 422),
        (
            f"{ns}/configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "key"},
                "data": {"bad key": "x"},
            },
            422,
        ),
        (f"{ns}/persistentvolumeclaims", claim("modeless", resources=storage), 422),
        (f"{ns}/persistentvolumeclaims", claim("sizeless", accessModes=["ReadWriteOnce"]), 422),
        (
            f"{ns}/persistentvolumeclaims",
            claim("mode", accessModes=["Bogus"], resources=storage),
            422,
        ),
        (
            f"{ns}/persistentvolumeclaims",
            claim("ok", accessModes=["ReadWriteOnce"], resources=storage),
            201,
        ),
    ]
    _posted_as_expected(sandbox, cases)
    moved = call(
        sandbox.url, "PATCH", f"{rbac}/rolebindings/b", {"roleRef": {"name": "other"}},
        content_type="application/merge-patch+json",
    )  # fmt: skip
    assert (moved.code, moved.body["reason"]) == (422, "Invalid")


def _manifest(api_version: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """An object to write: its apiVersion, kind and name, then ``fields``."""
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **fields}
