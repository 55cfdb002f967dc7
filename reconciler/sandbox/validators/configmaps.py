"""core/v1 ConfigMap and Secret: valid keys, and data frozen when ``immutable`` is set."""

from __future__ import annotations

import re

from reconciler.sandbox.validators.common import Cause, Obj, quote

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a ConfigMap or Secret write."""
    out: list[Cause] = []
    keys = list((obj.get("data") or {}).keys()) + list((obj.get("binaryData") or {}).keys())
    for k in keys:
        if not _CONFIG_KEY.match(k) or len(k) > 253:
            out.append(("FieldValueInvalid", "data", f"Invalid value: {quote(k)}: {_KEY_MSG}"))
    if (
        old is not None
        and old.get("immutable")
        and (obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData"))
    ):
        out.append(
            ("FieldValueForbidden", "data", "Forbidden: field is immutable when `immutable` is set")
        )
    return out
