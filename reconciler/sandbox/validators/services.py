"""core/v1 Service: ports unless headless or ExternalName, a known type, and a clusterIP
that never changes once allocated (``ValidateService``/``ValidateServiceUpdate``)."""

from __future__ import annotations

from reconciler.sandbox.validators.common import Cause, Obj, go_value, quote, spec_of

_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a Service write."""
    if sub:
        return []
    spec, old_spec = spec_of(obj), spec_of(old)
    out: list[Cause] = []
    typ = spec.get("type")
    if typ != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
        out.append(("FieldValueRequired", "spec.ports", "Required value"))
    if typ not in _TYPES:
        out.append(
            (
                "FieldValueNotSupported",
                "spec.type",
                f"Unsupported value: {quote(typ)}: supported values: "
                '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
            )
        )
    if (
        old is not None
        and old_spec.get("clusterIP")
        and spec.get("clusterIP") != old_spec.get("clusterIP")
        and typ != "ExternalName"
    ):
        out.append(
            (
                "FieldValueInvalid",
                "spec.clusterIPs[0]",
                f"Invalid value: {go_value(spec.get('clusterIPs'))}: may not change once set",
            )
        )
    return out
