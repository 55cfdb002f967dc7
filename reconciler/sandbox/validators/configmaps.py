"""core/v1 ConfigMap and Secret: valid keys, at most 1 MiB of data, and data frozen when
``immutable`` is set."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from reconciler.sandbox.validators.common import Cause, Obj, quote

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_DATA_BYTES = 1024 * 1024
"""The most bytes the values of one ConfigMap or Secret may hold (``core.MaxSecretSize``)."""
_TOO_LONG = f"Too long: may not be more than {MAX_DATA_BYTES} bytes"
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
            out.append(
                ("FieldValueInvalid", f"data[{k}]", f"Invalid value: {quote(k)}: {_KEY_MSG}")
            )
    if obj.get("kind") == "Secret":
        out += _typed_secret(obj)
        if _bytes(obj.get("data"), encoded=True) > MAX_DATA_BYTES:
            out.append(("FieldValueTooLong", "data", _TOO_LONG))
    else:
        binary = obj.get("binaryData") or {}
        for k in obj.get("data") or {}:
            if isinstance(binary, dict) and k in binary:
                message = f"Invalid value: {quote(k)}: duplicate of key present in binaryData"
                out.append(("FieldValueInvalid", f"data[{k}]", message))
        size = _bytes(binary, encoded=True) + _bytes(obj.get("data"), encoded=False)
        if size > MAX_DATA_BYTES:  # the whole object's, as Go prints its path
            out.append(("FieldValueTooLong", "[]", _TOO_LONG))
    if old is not None and old.get("immutable") and not obj.get("immutable"):
        out.append(
            (
                "FieldValueForbidden",
                "immutable",
                "Forbidden: field is immutable when `immutable` is set",
            )
        )
    if (
        old is not None
        and old.get("immutable")
        and (obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData"))
    ):
        out.append(
            ("FieldValueForbidden", "data", "Forbidden: field is immutable when `immutable` is set")
        )
    return out


def _bytes(values: object, *, encoded: bool) -> int:
    """Return the bytes a map's values hold: UTF-8 text, or base64 decoded (``encoded``)."""
    if not isinstance(values, dict):
        return 0
    total = 0
    for v in values.values():
        if not isinstance(v, str):
            continue
        if encoded:
            total += len(v) * 3 // 4 - (2 if v.endswith("==") else 1 if v.endswith("=") else 0)
        else:
            total += len(v.encode())
    return total


_REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}
"""The keys a typed Secret must hold (``ValidateSecret``)."""


def _typed_secret(obj: Obj) -> list[Cause]:
    """A typed Secret's required keys, and docker configs that are JSON."""
    given = obj.get("data")
    data: dict[str, Any] = given if isinstance(given, dict) else {}
    out: list[Cause] = []
    for key in _REQUIRED_KEYS.get(str(obj.get("type") or ""), ()):
        if key not in data:
            out.append(("FieldValueRequired", f"data[{key}]", "Required value"))
        elif key in (".dockerconfigjson", ".dockercfg"):
            try:
                json.loads(base64.b64decode(str(data[key])))
            except ValueError as exc:
                message = f'Invalid value: "<secret contents redacted>": {exc}'
                out.append(("FieldValueInvalid", f"data[{key}]", message))
    return out
