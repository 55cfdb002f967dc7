"""rbac.authorization.k8s.io/v1 Roles and bindings: rules that say what they allow,
bindings to a role of a known kind, named subjects of known kinds, a role reference that
never changes (``ValidateRole``, ``ValidateRoleBinding`` and their cluster forms)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    not_supported,
    objects_in,
)

_GROUP = "rbac.authorization.k8s.io"


def role_causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a Role or ClusterRole write."""
    namespaced = obj.get("kind") == "Role"
    out: list[Cause] = []
    for i, rule in objects_in(obj.get("rules")):
        out += _rule(f"rules[{i}]", rule, namespaced)
    return out


def _rule(path: str, rule: dict[str, Any], namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    if not rule.get("verbs"):
        out.append(
            (
                "FieldValueRequired",
                f"{path}.verbs",
                "Required value: verbs must contain at least one value",
            )
        )
    urls = rule.get("nonResourceURLs")
    if urls:
        shown = json.dumps(urls, separators=(",", ":"))
        if namespaced:
            out.append(
                (
                    "FieldValueInvalid",
                    f"{path}.nonResourceURLs",
                    f"Invalid value: {shown}: namespaced rules cannot apply to non-resource URLs",
                )
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            out.append(
                (
                    "FieldValueInvalid",
                    f"{path}.nonResourceURLs",
                    f"Invalid value: {shown}: rules cannot apply to both regular resources and "
                    "non-resource URLs",
                )
            )
        return out
    if not rule.get("apiGroups"):
        out.append(
            (
                "FieldValueRequired",
                f"{path}.apiGroups",
                "Required value: resource rules must supply at least one api group",
            )
        )
    if not rule.get("resources"):
        out.append(
            (
                "FieldValueRequired",
                f"{path}.resources",
                "Required value: resource rules must supply at least one resource",
            )
        )
    return out


def binding_causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a RoleBinding or ClusterRoleBinding write."""
    given = obj.get("roleRef")
    ref: dict[str, Any] = given if isinstance(given, dict) else {}
    kinds = ("Role", "ClusterRole") if obj.get("kind") == "RoleBinding" else ("ClusterRole",)
    out: list[Cause] = []
    if ref.get("apiGroup") != _GROUP:
        out.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), (_GROUP,)))
    if ref.get("kind") not in kinds:
        out.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        out.append(("FieldValueRequired", "roleRef.name", "Required value"))
    for i, subject in objects_in(obj.get("subjects")):
        out += _subject(f"subjects[{i}]", subject)
    old_ref = (old or {}).get("roleRef")
    if old is not None and isinstance(old_ref, dict) and old_ref != ref:
        shown = json.dumps(
            {
                "APIGroup": ref.get("apiGroup", ""),
                "Kind": ref.get("kind", ""),
                "Name": ref.get("name", ""),
            },
            separators=(",", ":"),
        )
        out.append(("FieldValueInvalid", "roleRef", f"Invalid value: {shown}: field is immutable"))
    return out


def _subject(path: str, subject: dict[str, Any]) -> list[Cause]:
    kind = subject.get("kind")
    if kind not in ("ServiceAccount", "User", "Group"):
        return [not_supported(f"{path}.kind", kind or "", ("ServiceAccount", "User", "Group"))]
    if not subject.get("name"):
        return [("FieldValueRequired", f"{path}.name", "Required value")]
    return []
