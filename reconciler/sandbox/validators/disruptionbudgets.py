"""policy/v1 PodDisruptionBudget: one of minAvailable and maxUnavailable, each a count or
a percentage up to 100%, a known unhealthy-pod policy, a valid selector
(``ValidatePodDisruptionBudget``)."""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    label_selector_causes,
    nonnegative,
    not_supported,
    quote,
    spec_of,
)

_PERCENT = re.compile(r"[0-9]+%")
_PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  "
    "or '93%', regex used for validation is '[0-9]+%')"
)


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a PodDisruptionBudget write."""
    if sub:
        return []
    spec = spec_of(obj)
    out: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        shown = {
            "MinAvailable": spec.get("minAvailable"),
            "Selector": spec.get("selector"),
            "MaxUnavailable": spec.get("maxUnavailable"),
            "UnhealthyPodEvictionPolicy": spec.get("unhealthyPodEvictionPolicy"),
        }
        text = json.dumps(shown, separators=(",", ":"))
        out.append(
            (
                "FieldValueInvalid",
                "spec",
                f"Invalid value: {text}: minAvailable and maxUnavailable cannot be both set",
            )
        )
    for field in ("minAvailable", "maxUnavailable"):
        out += _int_or_percent(f"spec.{field}", spec.get(field))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        supported = ("AlwaysAllow", "IfHealthyBudget")
        out.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, supported))
    out += label_selector_causes("spec.selector", spec.get("selector"))
    return out


def _int_or_percent(path: str, value: Any) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool):
        return nonnegative(path, value)
    if not isinstance(value, str):
        return []
    if not _PERCENT.fullmatch(value):
        return [("FieldValueInvalid", path, f"Invalid value: {quote(value)}: {_PERCENT_MSG}")]
    if int(value[:-1]) > 100:
        return [
            (
                "FieldValueInvalid",
                path,
                f"Invalid value: {quote(value)}: must not be greater than 100%",
            )
        ]
    return []
