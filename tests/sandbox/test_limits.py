"""The sandbox's documented limits: where it answers differently from kube-apiserver on
purpose (README, "Sandbox fidelity"), asserted so they stay what the README says.

These scenarios are the sandbox's alone: the cluster suite does not run them against
kube-apiserver, which answers them differently by design.
"""

from __future__ import annotations

from tests.conftest import SandboxHandle
from tests.sandbox.http import call

CM = "/api/v1/namespaces/default/configmaps"


def test_no_old_list_snapshots(sandbox: SandboxHandle) -> None:
    """A list at an exact older resourceVersion is 410 Expired: no snapshots are kept
    (kube-apiserver serves it from its watch cache or etcd until compaction)."""
    call(
        sandbox.url,
        "POST",
        CM,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
    )
    rv = int(call(sandbox.url, "GET", CM).body["metadata"]["resourceVersion"])
    call(
        sandbox.url,
        "POST",
        CM,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}},
    )
    old = call(sandbox.url, "GET", f"{CM}?resourceVersion={rv}&resourceVersionMatch=Exact")
    assert (old.code, old.body["reason"]) == (410, "Expired")


def test_protobuf_bodies_never_drop_a_value(sandbox: SandboxHandle) -> None:
    """A protobuf field the sandbox cannot decode is refused (415), never ignored."""

    def field(num: int, payload: bytes) -> bytes:
        return bytes([num << 3 | 2, len(payload)]) + payload

    meta = field(1, b"pb")  # ObjectMeta.name
    type_meta = field(1, b"v1") + field(2, b"ConfigMap")
    ok = field(1, meta) + field(2, field(1, b"k") + field(2, b"v"))  # data {k: v}
    body = b"k8s\x00" + field(1, type_meta) + field(2, ok)
    created = call(
        sandbox.url, "POST", CM, raw=body, content_type="application/vnd.kubernetes.protobuf"
    )
    assert created.code == 201
    assert created.body["data"] == {"k": "v"}
    odd = field(1, meta) + field(9, b"surprise")  # no field 9 in a ConfigMap
    body = b"k8s\x00" + field(1, type_meta) + field(2, odd)
    refused = call(
        sandbox.url, "POST", CM, raw=body, content_type="application/vnd.kubernetes.protobuf"
    )
    assert (refused.code, refused.body["reason"]) == (415, "UnsupportedMediaType")


def test_protobuf_answers_are_not_served(sandbox: SandboxHandle) -> None:
    """A client that accepts only protobuf gets 406 (kube-apiserver answers in protobuf);
    kubectl and the Python client ask for JSON."""
    proto_only = call(sandbox.url, "GET", CM, accept="application/vnd.kubernetes.protobuf")
    assert proto_only.code == 406


def test_a_body_over_3_mib_is_413_and_the_connection_lives(sandbox: SandboxHandle) -> None:
    """A body over kube-apiserver's 3 MiB is 413 RequestEntityTooLarge, with its message,
    and nothing is stored. kube-apiserver answers the same, but may close the connection
    while the client still sends (the client then sees a reset, not the answer), so the
    two are not compared: the sandbox reads and drops a refused body up to 12 MiB so the
    client reads its answer."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"}}
    body["data"] = {"a": "x" * (3 * 1024 * 1024)}
    refused = call(sandbox.url, "POST", CM, body)
    assert (refused.code, refused.body["reason"]) == (413, "RequestEntityTooLarge")
    assert refused.body["message"] == "Request entity too large: limit is 3145728"
    assert call(sandbox.url, "GET", f"{CM}/huge").code == 404
