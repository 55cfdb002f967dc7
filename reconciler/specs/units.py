"""Durations (``timeout: 6h``) and Kubernetes quantities (``memory: 16Gi``) in specs.

Called by the schema's ``duration`` and ``quantity`` formats (``reconciler.specs.checking``)
and by the model builder. The messages of their ValueErrors are the ones users read.
"""

from __future__ import annotations

import re
from decimal import Decimal

from reconciler.specs.patterns import DURATION, QUANTITY, matches
from reconciler.structs import durations, quantities

DURATION_EXAMPLES = "30m, 6h, 1h30m or 90s"
_QUANTITY_MAX = Decimal(2**63 - 1) / 1000  # Kubernetes keeps milli-units in an int64


def spec_duration(text: str) -> int:
    """Return the seconds of a spec's duration such as ``30m``, ``6h``, ``1h30m`` or ``90s``.

    A spec writes whole ``h``, ``m``, ``s`` units, each at most once and in that order;
    the value is then read by the one duration parser
    (:func:`reconciler.structs.durations.parse_duration`). Raises ValueError for anything
    else, including ``0s`` (a timeout of nothing) and plain numbers.
    """
    problem = f"{text!r} is not a duration such as {DURATION_EXAMPLES}"
    if not isinstance(text, str) or not matches(DURATION, text):
        raise ValueError(problem)
    try:
        return int(durations.parse_duration(text))
    except ValueError:
        raise ValueError(problem) from None


def format_duration(seconds: int) -> str:
    """Return the canonical text of a positive number of seconds (``5400`` -> ``1h30m``)."""
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def parse_quantity(text: str) -> Decimal:
    """Return the value of a positive Kubernetes quantity (``500m``, ``2``, ``16Gi``, ``1e3``).

    Raises ValueError if ``text`` is not a quantity, is zero, or is larger than Kubernetes
    can store (2^63-1 milli-units).
    """
    if not isinstance(text, str) or not matches(QUANTITY, text):
        raise ValueError(f"not a positive Kubernetes quantity: {text!r}")
    value = quantities.quantity_value(text)
    if value is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    if value <= 0:
        raise ValueError(f"quantity must be positive: {text!r}")
    if value > _QUANTITY_MAX:
        raise ValueError(f"quantity too large: {text!r}")
    return value


def quantity_problem(value: object) -> str | None:
    """Return why a spec value (a string or a YAML number) is not a quantity, or None.

    The message adds a hint for the common ``64GB`` mistake and an example.
    """
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        return None  # the schema's type check reports it
    try:
        parse_quantity(text)
    except ValueError as e:
        hint = ""
        m = re.fullmatch(r"[0-9.]+\s*([KMGTPE])i?B", text.strip(), flags=re.IGNORECASE)
        if m:
            hint = f" (write {m.group(1).upper()}i or {m.group(1).upper()}, without B)"
        return f"{e}{hint}; e.g. 500m, 2, 16Gi"
    return None
