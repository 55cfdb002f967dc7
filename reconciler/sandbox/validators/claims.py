"""core/v1 PersistentVolumeClaim: at least one known access mode and a storage request
(``ValidatePersistentVolumeClaimSpec``)."""

from __future__ import annotations

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    not_supported,
    spec_of,
)

_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a PersistentVolumeClaim write."""
    if sub:
        return []
    spec = spec_of(obj)
    out: list[Cause] = []
    modes = spec.get("accessModes")
    if not modes:
        out.append(
            (
                "FieldValueRequired",
                "spec.accessModes",
                "Required value: at least 1 access mode is required",
            )
        )
    for mode in modes if isinstance(modes, list) else []:
        if mode not in _MODES:
            out.append(not_supported("spec.accessModes", mode, _MODES))
    requests = (
        (spec.get("resources") or {}).get("requests")
        if isinstance(spec.get("resources"), dict)
        else None
    )
    if old is None and not (isinstance(requests, dict) and "storage" in requests):
        out.append(("FieldValueRequired", "spec.resources[storage]", "Required value"))
    return out
