"""Answers to the access and identity reviews clients create (never stored).

The sandbox authenticates nobody and allows everything, and says so when asked:
``SelfSubjectReview`` (``kubectl auth whoami``) names the fixed user ``sandbox-admin``
in ``system:masters``; ``SelfSubjectAccessReview`` (``kubectl auth can-i``) is always
allowed; ``SelfSubjectRulesReview`` (``kubectl auth can-i --list``) lists every verb on
everything. The shapes are kube-apiserver's (201, the request echoed with a status).

Callers: :meth:`reconciler.sandbox.handlers.Api.create`.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox import errors
from reconciler.sandbox.kinds import ResourceType

Obj = dict[str, Any]

USER: Obj = {
    "username": "sandbox-admin",
    "uid": "sandbox-admin",
    "groups": ["system:masters", "system:authenticated"],
}


def answer(rt: ResourceType, body: Obj, now: str) -> Obj:
    """Return the review ``body`` with the sandbox's answer as its status."""
    given = body.get("spec")
    spec: Obj = given if isinstance(given, dict) else {}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    out: Obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
    if rt.kind == "SelfSubjectReview":
        out["metadata"] = dict(meta, creationTimestamp=now)
        out["status"] = {"userInfo": dict(USER)}
        return out
    if rt.kind == "SelfSubjectAccessReview":
        attrs = [k for k in ("resourceAttributes", "nonResourceAttributes") if spec.get(k)]
        if len(attrs) != 1:
            raise errors.invalid(
                rt.kind,
                rt.group,
                "",
                [
                    (
                        "FieldValueInvalid",
                        "spec.resourceAttributes",
                        'Invalid value: "null": exactly one of nonResourceAttributes or '
                        "resourceAttributes must be specified",
                    )
                ],
            )
        out["spec"] = spec
        out["status"] = {"allowed": True}
        return out
    out["spec"] = {}
    out["status"] = {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
    }
    return out
