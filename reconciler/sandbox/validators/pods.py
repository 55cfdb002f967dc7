"""core/v1 Pod: containers (``ValidatePodCreate``)."""

from __future__ import annotations

from reconciler.sandbox.validators.common import Cause, Obj, containers, spec_of


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a Pod write."""
    if sub:
        return []
    return containers("spec", spec_of(obj))
