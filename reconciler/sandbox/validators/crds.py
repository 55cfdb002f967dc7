"""apiextensions.k8s.io/v1 CustomResourceDefinition: its name, scope, exactly one
storage version, and an immutable group."""

from __future__ import annotations

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    go_value,
    not_supported,
    quote,
    spec_of,
)

_ONE_STORAGE = "must have exactly one version marked as storage version"


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a CRD write."""
    if sub:
        return []
    spec = spec_of(obj)
    out: list[Cause] = []
    names = spec.get("names") or {}
    want = f"{names.get('plural', '')}.{spec.get('group', '')}"
    name = str((obj.get("metadata") or {}).get("name", ""))
    if name != want:
        out.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        out.append(not_supported("spec.scope", spec.get("scope"), ("Cluster", "Namespaced")))
    versions = spec.get("versions") or []
    if not versions:
        out.append(("FieldValueRequired", "spec.versions", f"Required value: {_ONE_STORAGE}"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        out.append(
            (
                "FieldValueInvalid",
                "spec.versions",
                f"Invalid value: {go_value(versions)[:200]}: {_ONE_STORAGE}",
            )
        )
    if old is not None and spec.get("group") != spec_of(old).get("group"):
        out.append(
            (
                "FieldValueInvalid",
                "spec.group",
                f"Invalid value: {quote(spec.get('group'))}: field is immutable",
            )
        )
    return out
