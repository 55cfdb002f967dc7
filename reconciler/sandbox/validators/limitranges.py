"""core/v1 LimitRange: a known type per item, and per resource a min no more than the
default request, the default request no more than the default limit, the default limit no
more than the max (``ValidateLimitRange``, after the defaults of ``defaults.limit_range``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    objects_in,
    quantity_causes,
    quote,
    resource_name_causes,
    spec_of,
)
from reconciler.structs.quantities import quantity_value

_TYPES = ("Pod", "Container", "PersistentVolumeClaim")
_BOUNDS = ("max", "min", "default", "defaultRequest")


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a LimitRange write."""
    out: list[Cause] = []
    for i, item in objects_in(spec_of(obj).get("limits")):
        out += _item(f"spec.limits[{i}]", item)
    return out


def _item(path: str, item: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    kind = item.get("type")
    if isinstance(kind, str) and "/" not in kind and kind not in _TYPES:
        out.append(
            (
                "FieldValueInvalid",
                f"{path}.type",
                f"Invalid value: {quote(kind)}: must be a standard limit type or fully qualified",
            )
        )
    bounds: dict[str, dict[str, Any]] = {}
    for bound in _BOUNDS:
        values = item.get(bound)
        bounds[bound] = values if isinstance(values, dict) else {}
        for name, value in bounds[bound].items():
            out += resource_name_causes(f"{path}.{bound}[{name}]", name)
            out += quantity_causes(f"{path}.{bound}", name, value)
    names = {n for values in bounds.values() for n in values}
    for name in sorted(names):
        out += _order(path, name, bounds)
    return out


def _order(path: str, name: str, bounds: dict[str, dict[str, Any]]) -> list[Cause]:
    """The bounds of one resource out of order, in the order Go checks them."""
    raw = {b: bounds[b].get(name) for b in _BOUNDS}
    q: dict[str, Decimal | None] = {b: quantity_value(v) for b, v in raw.items()}
    checks = (  # (lower, upper, field reported, the value shown, message)
        ("min", "max", "min", "min", "min value {min} is greater than max value {max}"),
        ("min", "defaultRequest", "defaultRequest", "defaultRequest",
         "min value {min} is greater than default request value {defaultRequest}"),
        ("defaultRequest", "max", "defaultRequest", "defaultRequest",
         "default request value {defaultRequest} is greater than max value {max}"),
        ("defaultRequest", "default", "defaultRequest", "defaultRequest",
         "default request value {defaultRequest} is greater than default limit value {default}"),
        ("min", "default", "default", "min", "min value {min} is greater than default value {default}"),
        ("default", "max", "default", "max", "default value {default} is greater than max value {max}"),
    )  # fmt: skip
    out: list[Cause] = []
    for lower, upper, field, shown, message in checks:
        low, high = q[lower], q[upper]
        if low is not None and high is not None and low > high:
            text = message.format(**{b: raw[b] for b in _BOUNDS})
            out.append(
                (
                    "FieldValueInvalid",
                    f"{path}.{field}[{name}]",
                    f"Invalid value: {quote(raw[shown])}: {text}",
                )
            )
    return out
