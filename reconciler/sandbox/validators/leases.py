"""coordination.k8s.io/v1 Lease (the daemon's leader election): a duration above zero,
transitions not negative (``ValidateLease``)."""

from __future__ import annotations

from reconciler.sandbox.validators.common import Cause, Obj, nonnegative, spec_of


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a Lease write."""
    spec = spec_of(obj)
    out: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration <= 0:
        out.append(
            (
                "FieldValueInvalid",
                "spec.leaseDurationSeconds",
                f"Invalid value: {duration}: must be greater than 0",
            )
        )
    out += nonnegative("spec.leaseTransitions", spec.get("leaseTransitions"))
    return out
