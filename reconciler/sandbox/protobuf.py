"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies for a few kinds.

kubectl's typed clients (``kubectl create namespace|configmap|secret|serviceaccount|
role|rolebinding|clusterrole|clusterrolebinding|deployment|job|quota|ingress``,
``kubectl expose``, ``kubectl auth can-i|whoami``) send protobuf. The envelope is the 4-byte magic ``k8s\\0`` and a
``runtime.Unknown`` (typeMeta, raw); ``raw`` is the object in the field numbering of the
Kubernetes API's ``generated.proto``. This module knows those numbers for the kinds
above and the fields those commands set (pod templates: containers with image,
command, args, ports, env, resources...), typed here as plain tables, and turns such a
body into the JSON form the rest of the server uses.

Anything else (another kind, or a field these tables lack holding a non-zero value)
raises :class:`Unsupported`, which the server answers with 415 UnsupportedMediaType, as
kube-apiserver answers a media type it does not serve: a value is never dropped.
Responses are always JSON (clients send ``Accept: application/vnd.kubernetes.protobuf,
*/*``).

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
# message, repeated-string, repeated-message, map-string, map-bytes, map-quantity, time,
# intorstr, quantity. A kind ending in "*" is a Go pointer field: written only when set,
# so its zero value is kept; other fields are always written and their zero dropped.
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
        6: ("controller", "bool*", ""),
        7: ("blockOwnerDeletion", "bool*", ""),
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
        4: ("immutable", "bool*", ""),
    },
    "Secret": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("data", "map-bytes", ""),
        3: ("type", "string", ""),
        4: ("stringData", "map-string", ""),
        5: ("immutable", "bool*", ""),
    },
    "ServiceAccount": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("secrets", "repeated-message", "ObjectReference"),
        3: ("imagePullSecrets", "repeated-message", "LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool*", ""),
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
    "LabelSelector": {
        1: ("matchLabels", "map-string", ""),
        2: ("matchExpressions", "repeated-message", "LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string", ""),
        2: ("operator", "string", ""),
        3: ("values", "repeated-string", ""),
    },
    "Deployment": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("spec", "message", "DeploymentSpec"),
    },
    "DeploymentSpec": {
        1: ("replicas", "int*", ""),
        2: ("selector", "message", "LabelSelector"),
        3: ("template", "message", "PodTemplateSpec"),
        4: ("strategy", "message", "DeploymentStrategy"),
        5: ("minReadySeconds", "int", ""),
        6: ("revisionHistoryLimit", "int*", ""),
        7: ("paused", "bool", ""),
        9: ("progressDeadlineSeconds", "int*", ""),
    },
    "DeploymentStrategy": {
        1: ("type", "string", ""),
        2: ("rollingUpdate", "message", "RollingUpdateDeployment"),
    },
    "RollingUpdateDeployment": {
        1: ("maxUnavailable", "intorstr", ""),
        2: ("maxSurge", "intorstr", ""),
    },
    "Job": {1: ("metadata", "message", "ObjectMeta"), 2: ("spec", "message", "JobSpec")},
    "JobSpec": {
        1: ("parallelism", "int*", ""),
        2: ("completions", "int*", ""),
        3: ("activeDeadlineSeconds", "int*", ""),
        4: ("selector", "message", "LabelSelector"),
        5: ("manualSelector", "bool*", ""),
        6: ("template", "message", "PodTemplateSpec"),
        7: ("backoffLimit", "int*", ""),
        8: ("ttlSecondsAfterFinished", "int*", ""),
        9: ("completionMode", "string*", ""),
        10: ("suspend", "bool*", ""),
        12: ("backoffLimitPerIndex", "int*", ""),
        13: ("maxFailedIndexes", "int*", ""),
        14: ("podReplacementPolicy", "string*", ""),
        15: ("managedBy", "string*", ""),
    },
    "PodTemplateSpec": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("spec", "message", "PodSpec"),
    },
    "PodSpec": {
        2: ("containers", "repeated-message", "Container"),
        20: ("initContainers", "repeated-message", "Container"),
        3: ("restartPolicy", "string", ""),
        4: ("terminationGracePeriodSeconds", "int*", ""),
        5: ("activeDeadlineSeconds", "int*", ""),
        6: ("dnsPolicy", "string", ""),
        7: ("nodeSelector", "map-string", ""),
        8: ("serviceAccountName", "string", ""),
        9: ("serviceAccount", "string", ""),
        10: ("nodeName", "string", ""),
        15: ("imagePullSecrets", "repeated-message", "LocalObjectReference"),
        16: ("hostname", "string", ""),
        17: ("subdomain", "string", ""),
        19: ("schedulerName", "string", ""),
        24: ("priorityClassName", "string", ""),
    },
    "Container": {
        1: ("name", "string", ""),
        2: ("image", "string", ""),
        3: ("command", "repeated-string", ""),
        4: ("args", "repeated-string", ""),
        5: ("workingDir", "string", ""),
        6: ("ports", "repeated-message", "ContainerPort"),
        7: ("env", "repeated-message", "EnvVar"),
        8: ("resources", "message!", "ResourceRequirements"),
        13: ("terminationMessagePath", "string", ""),
        14: ("imagePullPolicy", "string", ""),
        16: ("stdin", "bool", ""),
        17: ("stdinOnce", "bool", ""),
        18: ("tty", "bool", ""),
        20: ("terminationMessagePolicy", "string", ""),
    },
    "ContainerPort": {
        1: ("name", "string", ""),
        2: ("hostPort", "int", ""),
        3: ("containerPort", "int", ""),
        4: ("protocol", "string", ""),
        5: ("hostIP", "string", ""),
    },
    "EnvVar": {1: ("name", "string", ""), 2: ("value", "string", "")},
    "ResourceRequirements": {
        1: ("limits", "map-quantity", ""),
        2: ("requests", "map-quantity", ""),
    },
    "Service": {1: ("metadata", "message", "ObjectMeta"), 2: ("spec", "message", "ServiceSpec")},
    "ServiceSpec": {
        1: ("ports", "repeated-message", "ServicePort"),
        2: ("selector", "map-string", ""),
        3: ("clusterIP", "string", ""),
        18: ("clusterIPs", "repeated-string", ""),
        4: ("type", "string", ""),
        5: ("externalIPs", "repeated-string", ""),
        7: ("sessionAffinity", "string", ""),
        8: ("loadBalancerIP", "string", ""),
        10: ("externalName", "string", ""),
        11: ("externalTrafficPolicy", "string", ""),
        19: ("ipFamilies", "repeated-string", ""),
        17: ("ipFamilyPolicy", "string*", ""),
        20: ("allocateLoadBalancerNodePorts", "bool*", ""),
        21: ("loadBalancerClass", "string*", ""),
        22: ("internalTrafficPolicy", "string*", ""),
    },
    "ServicePort": {
        1: ("name", "string", ""),
        2: ("protocol", "string", ""),
        3: ("port", "int", ""),
        4: ("targetPort", "intorstr", ""),
        5: ("nodePort", "int", ""),
        6: ("appProtocol", "string*", ""),
    },
    "ResourceQuota": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("spec", "message", "ResourceQuotaSpec"),
    },
    "ResourceQuotaSpec": {1: ("hard", "map-quantity", ""), 2: ("scopes", "repeated-string", "")},
    "Ingress": {1: ("metadata", "message", "ObjectMeta"), 2: ("spec", "message", "IngressSpec")},
    "IngressSpec": {
        4: ("ingressClassName", "string*", ""),
        1: ("defaultBackend", "message", "IngressBackend"),
        2: ("tls", "repeated-message", "IngressTLS"),
        3: ("rules", "repeated-message", "IngressRule"),
    },
    "IngressRule": {1: ("host", "string", ""), 2: ("http", "inline", "IngressRuleValue")},
    "IngressRuleValue": {1: ("http", "message", "HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "repeated-message", "HTTPIngressPath")},
    "HTTPIngressPath": {
        1: ("path", "string", ""),
        3: ("pathType", "string*", ""),
        2: ("backend", "message", "IngressBackend"),
    },
    "IngressBackend": {4: ("service", "message", "IngressServiceBackend")},
    "IngressServiceBackend": {
        1: ("name", "string", ""),
        2: ("port", "message", "ServiceBackendPort"),
    },
    "ServiceBackendPort": {1: ("name", "string", ""), 2: ("number", "int", "")},
    "IngressTLS": {1: ("hosts", "repeated-string", ""), 2: ("secretName", "string", "")},
    "IntOrString": {1: ("type", "int", ""), 2: ("intVal", "int", ""), 3: ("strVal", "string", "")},
    "Quantity": {1: ("string", "string", "")},
    # kubectl auth can-i / whoami (authorization.k8s.io/v1, authentication.k8s.io/v1)
    "SelfSubjectAccessReview": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("spec", "message", "SelfSubjectAccessReviewSpec"),
    },
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "message", "ResourceAttributes"),
        2: ("nonResourceAttributes", "message", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", "string", ""),
        2: ("verb", "string", ""),
        3: ("group", "string", ""),
        4: ("version", "string", ""),
        5: ("resource", "string", ""),
        6: ("subresource", "string", ""),
        7: ("name", "string", ""),
    },
    "NonResourceAttributes": {1: ("path", "string", ""), 2: ("verb", "string", "")},
    "SelfSubjectRulesReview": {
        1: ("metadata", "message", "ObjectMeta"),
        2: ("spec", "message", "SelfSubjectRulesReviewSpec"),
    },
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string", "")},
    "SelfSubjectReview": {1: ("metadata", "message", "ObjectMeta")},
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
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("v1", "Service"),
    ("v1", "ResourceQuota"),
    ("networking.k8s.io/v1", "Ingress"),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
    ("authentication.k8s.io/v1", "SelfSubjectReview"),
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


def _is_zero(wire: int, val: Any) -> bool:
    """True if a field holds its zero value (as Go writes unset non-pointer fields)."""
    if wire == 0:
        return int(val) == 0
    if wire in (1, 5):
        return not any(bytes(val))
    data = bytes(val)
    if not data:
        return True
    try:
        return all(_is_zero(w, v) for _, w, v in _fields(data))
    except Unsupported:
        return False


def decode_message(data: bytes, name: str) -> dict[str, Any]:
    """Decode one message of type ``name`` into its JSON form.

    A field this module does not know is ignored when it holds its zero value (Go
    writes every non-pointer field) and refused otherwise (:class:`Unsupported`): a
    value is never dropped silently.
    """
    table = MESSAGES[name]
    out: dict[str, Any] = {}
    for num, wire, val in _fields(data):
        spec = table.get(num)
        if spec is None:
            if _is_zero(wire, val):
                continue
            raise Unsupported(f"field {num} of {name}")
        key, kind, sub = spec
        if kind.endswith("*"):  # a pointer field: present means set, zero included
            kind = kind[:-1]
            if kind == "string":
                out[key] = bytes(val).decode()
            elif kind == "int":
                out[key] = _signed(int(val))
            elif kind == "bool":
                out[key] = bool(val)
            continue
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
            if val:
                out[key] = True
        elif kind in ("message", "message!"):
            sub_obj = decode_message(bytes(val), sub)
            if (
                sub_obj
                or kind == "message!"
                or name
                in (
                    "Namespace",
                    "Deployment",
                    "Job",
                    "Service",
                    "ResourceQuota",
                    "Ingress",
                    "PodTemplateSpec",
                    "DeploymentSpec",
                    "JobSpec",
                )
            ):
                out[key] = sub_obj
        elif kind == "inline":
            out.update(decode_message(bytes(val), sub))
        elif kind == "intorstr":
            ios = decode_message(bytes(val), "IntOrString")
            out[key] = ios.get("strVal", "") if ios.get("type") == 1 else ios.get("intVal", 0)
        elif kind == "map-quantity":
            parts = _fields(bytes(val))
            qk = next((bytes(v).decode() for n, _, v in parts if n == 1), "")
            q = next((decode_message(bytes(v), "Quantity") for n, _, v in parts if n == 2), {})
            out.setdefault(key, {})[qk] = q.get("string", "")
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
