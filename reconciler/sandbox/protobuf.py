"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies for a few kinds.

kubectl's typed clients (``kubectl create namespace|configmap|secret|serviceaccount|
role|rolebinding|clusterrole|clusterrolebinding``) send protobuf. The envelope is the
4-byte magic ``k8s\\0`` and a ``runtime.Unknown`` (typeMeta, raw); ``raw`` is the object
in the field numbering of the Kubernetes API's ``generated.proto``. This module knows
those numbers for the kinds above (and ObjectMeta, OwnerReference, Time...), typed here
as plain tables, and turns such a body into the JSON form the rest of the server uses.

Other kinds in protobuf (``kubectl create deployment``, ``kubectl run``...) raise
:class:`Unsupported`, which the server answers with 415 UnsupportedMediaType, as
kube-apiserver answers a media type it does not serve for a resource. Responses are
always JSON (clients send ``Accept: application/vnd.kubernetes.protobuf, */*``).

Callers: :mod:`.server`.
"""

from __future__ import annotations

import base64
import time
from typing import Any

MAGIC = b"k8s\x00"


class Unsupported(Exception):
    """The body is protobuf of a kind this module cannot decode."""


# field number -> (json name, kind, message type); kind: string, bytes, int, bool,
# message, repeated-string, repeated-message, map-string, map-bytes, time
Field = tuple[str, str, str]
MESSAGES: dict[str, dict[int, Field]] = {
    "Unknown": {
        1: ("typeMeta", "message", "TypeMeta"),
        2: ("raw", "bytes", ""),
        3: ("contentEncoding", "string", ""),
        4: ("contentType", "string", ""),
    },
    "TypeMeta": {1: ("apiVersion", "string", ""), 2: ("kind", "string", "")},
    "ObjectMeta": {
        1: ("name", "string", ""),
        2: ("generateName", "string", ""),
        3: ("namespace", "string", ""),
        4: ("selfLink", "string", ""),
        5: ("uid", "string", ""),
        6: ("resourceVersion", "string", ""),
        7: ("generation", "int", ""),
        8: ("creationTimestamp", "time", ""),
        9: ("deletionTimestamp", "time", ""),
        10: ("deletionGracePeriodSeconds", "int", ""),
        11: ("labels", "map-string", ""),
        12: ("annotations", "map-string", ""),
        13: ("ownerReferences", "repeated-message", "OwnerReference"),
        14: ("finalizers", "repeated-string", ""),
    },
    "OwnerReference": {
        5: ("apiVersion", "string", ""),
        1: ("kind", "string", ""),
        3: ("name", "string", ""),
        4: ("uid", "string", ""),
        6: ("controller", "bool", ""),
        7: ("blockOwnerDeletion", "bool", ""),
    },
    "Time": {1: ("seconds", "int", ""), 2: ("nanos", "int", "")},
    "Namespace": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("spec", "message", "NamespaceSpec"),
    },
    "NamespaceSpec": {1: ("finalizers", "repeated-string", "")},
    "ConfigMap": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("data", "map-string", ""),
        3: ("binaryData", "map-bytes", ""),
        4: ("immutable", "bool", ""),
    },
    "Secret": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("data", "map-bytes", ""),
        3: ("type", "string", ""),
        4: ("stringData", "map-string", ""),
        5: ("immutable", "bool", ""),
    },
    "ServiceAccount": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("secrets", "repeated-message", "ObjectReference"),
        3: ("imagePullSecrets", "repeated-message", "LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool", ""),
    },
    "ObjectReference": {
        1: ("kind", "string", ""),
        2: ("namespace", "string", ""),
        3: ("name", "string", ""),
        4: ("uid", "string", ""),
        5: ("apiVersion", "string", ""),
        6: ("resourceVersion", "string", ""),
        7: ("fieldPath", "string", ""),
    },
    "LocalObjectReference": {1: ("name", "string", "")},
    "Role": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("rules", "repeated-message", "PolicyRule"),
    },
    "ClusterRole": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("rules", "repeated-message", "PolicyRule"),
    },
    "PolicyRule": {
        1: ("verbs", "repeated-string", ""),
        2: ("apiGroups", "repeated-string", ""),
        3: ("resources", "repeated-string", ""),
        4: ("resourceNames", "repeated-string", ""),
        5: ("nonResourceURLs", "repeated-string", ""),
    },
    "RoleBinding": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("subjects", "repeated-message", "Subject"),
        3: ("roleRef", "message", "RoleRef"),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("subjects", "repeated-message", "Subject"),
        3: ("roleRef", "message", "RoleRef"),
    },
    "Subject": {
        1: ("kind", "string", ""),
        2: ("apiGroup", "string", ""),
        3: ("name", "string", ""),
        4: ("namespace", "string", ""),
    },
    "RoleRef": {
        1: ("apiGroup", "string", ""),
        2: ("kind", "string", ""),
        3: ("name", "string", ""),
    },
    "MapEntry": {1: ("key", "bytes", ""), 2: ("value", "bytes", "")},
}
# (apiVersion, kind) of top-level objects this module decodes.
KINDS = {
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data):
            raise Unsupported("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Return (field number, wire type, value) of every field in a message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        val: Any
        if wire == 0:
            val, pos = _varint(data, pos)
        elif wire == 2:
            n, pos = _varint(data, pos)
            val = data[pos : pos + n]
            pos += n
        elif wire == 1:
            val = data[pos : pos + 8]
            pos += 8
        elif wire == 5:
            val = data[pos : pos + 4]
            pos += 4
        else:
            raise Unsupported(f"wire type {wire}")
        out.append((num, wire, val))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def decode_message(data: bytes, name: str) -> dict[str, Any]:
    """Decode one message of type ``name`` into its JSON form (unknown fields skipped)."""
    table = MESSAGES[name]
    out: dict[str, Any] = {}
    for num, _, val in _fields(data):
        spec = table.get(num)
        if spec is None:
            continue
        key, kind, sub = spec
        # Go writes every non-pointer field, zero or not; its JSON form omits empty ones
        # (omitempty), so zero strings, numbers and times are left out here too.
        if kind == "string":
            if val:
                out[key] = bytes(val).decode()
        elif kind == "bytes":
            out[key] = bytes(val)
        elif kind == "int":
            if val:
                out[key] = _signed(int(val))
        elif kind == "bool":
            out[key] = bool(val)
        elif kind == "message":
            out[key] = decode_message(bytes(val), sub)
        elif kind == "time":
            t = decode_message(bytes(val), "Time")
            if t.get("seconds"):
                out[key] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t["seconds"]))
        elif kind == "repeated-string":
            out.setdefault(key, []).append(bytes(val).decode())
        elif kind == "repeated-message":
            out.setdefault(key, []).append(decode_message(bytes(val), sub))
        elif kind in ("map-string", "map-bytes"):
            entry = decode_message(bytes(val), "MapEntry")
            k = entry.get("key", b"").decode()
            v = entry.get("value", b"")
            out.setdefault(key, {})[k] = (
                v.decode() if kind == "map-string" else base64.b64encode(v).decode()
            )
    return out


def decode(body: bytes) -> dict[str, Any]:
    """Return the JSON form of a protobuf-encoded object; raises Unsupported otherwise."""
    if not body.startswith(MAGIC):
        raise Unsupported("missing the k8s protobuf magic prefix")
    unknown = decode_message(body[len(MAGIC) :], "Unknown")
    tm = unknown.get("typeMeta") or {}
    api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
    if (api_version, kind) not in KINDS:
        raise Unsupported(f"{kind} ({api_version})")
    obj = decode_message(unknown.get("raw", b""), kind)
    return {"apiVersion": api_version, "kind": kind, **obj}
