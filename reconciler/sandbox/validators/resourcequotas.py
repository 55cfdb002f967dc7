"""core/v1 ResourceQuota: resource names quota knows, amounts not negative, known scopes
(``ValidateResourceQuota``)."""

from __future__ import annotations

from reconciler.sandbox.validators.common import (
    STANDARD_RESOURCES,
    Cause,
    Obj,
    go_value,
    huge_pages,
    quantity_causes,
    quote,
    resource_name_causes,
    spec_of,
)

_NOT_QUOTA = frozenset({"storage"})
"""Standard resource names that quota does not track (``IsStandardQuotaResourceName``)."""
_SCOPES = frozenset(
    {
        "Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
        "CrossNamespacePodAffinity", "VolumeAttributesClass",
    }
)  # fmt: skip


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a ResourceQuota write."""
    spec = spec_of(obj)
    out: list[Cause] = []
    for key in ("hard",) if not sub else ():
        values = spec.get(key)
        for name, value in (values if isinstance(values, dict) else {}).items():
            path = f"spec.{key}[{name}]"
            out += resource_name_causes(path, name)
            quota = name in STANDARD_RESOURCES - _NOT_QUOTA or huge_pages(name)
            if "/" not in name and not quota:
                out.append(
                    (
                        "FieldValueInvalid",
                        path,
                        f"Invalid value: {quote(name)}: must be a standard resource for quota",
                    )
                )
            out += quantity_causes(f"spec.{key}", name, value)
    scopes = spec.get("scopes")
    if isinstance(scopes, list) and any(s not in _SCOPES for s in scopes):
        out.append(
            (
                "FieldValueInvalid",
                "spec.scopes",
                f"Invalid value: {go_value(scopes)}: unsupported scope",
            )
        )
    return out
