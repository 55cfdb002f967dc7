"""Kubernetes resource quantities (``500m``, ``2``, ``16Gi``, ``1e3``): one parser for all.

Used by spec validation (which adds its own rules: positive, not too large) and by the
apply layer's drift check (``"1"`` and ``"1000m"`` are the same quantity).

``kubernetes.utils.parse_quantity`` does not fit: it accepts ``NaN``, ``Infinity``,
booleans, ``1_000`` and exponents of any size (``1e999999999``), all of which a spec must
refuse with a clear message, and none of which the API server accepts.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
MAX_EXPONENT = 40


def quantity_value(value: Any) -> Decimal | None:
    """Return the value of a quantity (a string, or a JSON number), or None if it is not one.

    Booleans are not quantities; exponents beyond ±40 are refused (no huge Decimals).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = QUANTITY.match(value.strip())
    if m is None:
        return None
    try:
        num = Decimal(m.group("num"))
    except InvalidOperation:
        return None
    suffix = m.group("suffix") or ""
    if suffix in BINARY:
        return num * BINARY[suffix]
    if suffix in DECIMAL:
        return num * DECIMAL[suffix]
    if suffix:
        exponent = int(suffix[1:])
        return None if abs(exponent) > MAX_EXPONENT else num.scaleb(exponent)
    return num
