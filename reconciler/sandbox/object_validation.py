"""Validation of written objects: names, metadata and schema, then the kind's own rules.

What kube-apiserver rejects with 422 Invalid (``errors.invalid``) is checked here:
object names by kind (DNS-1123 subdomain, DNS-1123 label for Namespaces, DNS-1035
label for Services, path segments for RBAC), label and annotation syntax, required
fields, JSON types and enums from the OpenAPI schema (after defaulting, as the real
validation runs after defaulting); the per-kind rules and immutable fields are in
:mod:`reconciler.sandbox.validators`, one module per kind.

Unknown fields are found by :func:`unknown_fields`; the handler decides with the
request's ``fieldValidation`` whether they are an error, a warning, or pruned.

Callers: :mod:`.handlers`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.sandbox import errors, validators
from reconciler.sandbox.kinds import ResourceType
from reconciler.sandbox.names import (
    DNS1035_LABEL,
    DNS1035_MSG,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    LABEL_MSG,
    SUBDOMAIN_MSG,
    qualified_name_errors,
)
from reconciler.sandbox.schemas import Node
from reconciler.sandbox.validators.common import Cause, labels_causes, quote
from reconciler.structs.quantities import quantity_value


def name_causes(rt: ResourceType, name: str) -> list[Cause]:
    """Return the causes why ``name`` is not a valid name for this kind (empty if valid)."""
    if not name:
        return [
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        ]
    if rt.group == "rbac.authorization.k8s.io":
        if name in (".", "..") or "/" in name or "%" in name:
            return [
                (
                    "FieldValueInvalid",
                    "metadata.name",
                    f"Invalid value: \"{name}\": may not contain '/' or '%'",
                )
            ]
        return []
    if rt.kind == "Namespace":
        if len(name) > 63:
            return [
                (
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{name}": must be no more than 63 characters',
                )
            ]
        if not DNS1123_LABEL.match(name):
            return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {LABEL_MSG}')]
        return []
    if rt.kind == "Service" and rt.group == "":
        if len(name) > 63:
            return [
                (
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{name}": must be no more than 63 characters',
                )
            ]
        if not DNS1035_LABEL.match(name):
            return [
                ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {DNS1035_MSG}')
            ]
        return []
    if len(name) > 253:
        return [
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": must be no more than 253 characters',
            )
        ]
    if not DNS1123_SUBDOMAIN.match(name):
        return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {SUBDOMAIN_MSG}')]
    return []


def generate_name_causes(rt: ResourceType, prefix: str) -> list[Cause]:
    """Return the causes why ``prefix`` cannot start this kind's names: validated as a
    name with a trailing ``-`` taken for a letter, as apimachinery's ``maskTrailingDash``."""
    masked = prefix[:-1] + "a" if len(prefix) > 1 and prefix.endswith("-") else prefix
    return [
        (reason, "metadata.generateName", message.replace(f'"{masked}"', f'"{prefix}"', 1))
        for reason, _, message in name_causes(rt, masked)
    ]


_OWNER_FIELDS = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")


def owner_reference_causes(refs: Any) -> list[Cause]:
    """``ValidateOwnerReferences``: apiVersion, kind, name and uid given, one controller."""
    if not isinstance(refs, list):
        return []
    out: list[Cause] = []
    controllers: list[str] = []
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            continue
        for field in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(field):
                path = f"metadata.ownerReferences[{i}].{field}"
                out.append(("FieldValueRequired", path, "Required value: must not be empty"))
        if ref.get("controller") is True:
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        shown = json.dumps(
            [{f: r[f] for f in _OWNER_FIELDS if f in r} for r in refs if isinstance(r, dict)],
            separators=(",", ":"),
        )
        out.append(
            (
                "FieldValueInvalid",
                "metadata.ownerReferences",
                f"Invalid value: {shown}: Only one reference can have Controller set to true. "
                f'Found "true" in references for {" and ".join(controllers)}',
            )
        )
    return out


_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def finalizer_causes(finalizers: Any) -> list[Cause]:
    """``ValidateFinalizers``: each a qualified name, and standard or with a domain."""
    out: list[Cause] = []
    for i, name in enumerate(finalizers if isinstance(finalizers, list) else []):
        if not isinstance(name, str):
            continue
        for msg in qualified_name_errors(name):
            out.append(
                ("FieldValueInvalid", "metadata.finalizers", f"Invalid value: {quote(name)}: {msg}")
            )
        if "/" not in name and name not in _STANDARD_FINALIZERS:
            out.append(
                (
                    "FieldValueInvalid",
                    f"metadata.finalizers[{i}]",
                    f"Invalid value: {quote(name)}: name is neither a standard finalizer name nor "
                    "is it fully qualified",
                )
            )
    return out


# -------------------------------------------------------------- unknown fields / schema


def unknown_fields(obj: Any, node: Node, path: str = "") -> list[str]:
    """Return the dotted paths of fields the schema does not declare (``spec.foo``)."""
    out: list[str] = []
    _unknown(obj, node, path, out)
    return out


def _unknown(value: Any, node: Node, path: str, out: list[str]) -> None:
    if node.kind == "struct" and isinstance(value, dict):
        for k, v in value.items():
            p = f"{path}.{k}" if path else k
            if not node.knows(k):
                out.append(p)
                continue
            _unknown(v, node.child(k), p, out)
    elif node.kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            _unknown(v, node.child(k), f"{path}.{k}" if path else k, out)
    elif node.kind == "list" and isinstance(value, list):
        inode = node.item()
        for i, v in enumerate(value):
            _unknown(v, inode, f"{path}[{i}]", out)


def undeclared_paths(obj: Any, node: Node, path: str = "") -> list[str]:
    """Return the fields the schema does not declare as structured-merge-diff prints
    them in an apply error: ``.spec.containers[name="app"].colour`` (list items by their
    keys, ``[=value]`` in sets, ``[i]`` in atomic lists)."""
    out: list[str] = []
    _undeclared(obj, node, path, out)
    return out


def _element(item: Any, node: Node, index: int) -> str:
    if node.list_type == "map" and node.keys and isinstance(item, dict):
        keys = ",".join(
            f"{k}={json.dumps(item.get(k), separators=(',', ':'))}" for k in sorted(node.keys)
        )
        return f"[{keys}]"
    if node.list_type == "set":
        return f"[={json.dumps(item, separators=(',', ':'))}]"
    return f"[{index}]"


def _undeclared(value: Any, node: Node, path: str, out: list[str]) -> None:
    if node.kind == "struct" and isinstance(value, dict):
        for k, v in value.items():
            if not node.knows(k):
                out.append(f"{path}.{k}")
            else:
                _undeclared(v, node.child(k), f"{path}.{k}", out)
    elif node.kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            _undeclared(v, node.child(k), f"{path}.{k}", out)
    elif node.kind == "list" and isinstance(value, list):
        inode = node.item()
        for i, v in enumerate(value):
            _undeclared(v, inode, path + _element(v, node, i), out)


def prune_unknown(obj: Any, node: Node) -> Any:
    """Return ``obj`` without the fields the schema does not declare."""
    if node.kind == "struct" and isinstance(obj, dict):
        return {k: prune_unknown(v, node.child(k)) for k, v in obj.items() if node.knows(k)}
    if node.kind == "map" and isinstance(obj, dict):
        return {k: prune_unknown(v, node.child(k)) for k, v in obj.items()}
    if node.kind == "list" and isinstance(obj, list):
        inode = node.item()
        return [prune_unknown(v, inode) for v in obj]
    return obj


_JSON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def schema_causes(obj: Any, node: Node, path: str = "", *, formats: bool = False) -> list[Cause]:
    """Return causes for wrong JSON types, missing required fields and enum violations;
    with ``formats`` (a custom resource's schema) also for values their ``format``
    refuses (``int32``, ``int64``, ``date-time``), as apiextensions checks them."""
    out: list[Cause] = []
    _schema(obj, node, path, out, formats)
    return out


def _type_invalid(v: Any, path: str, want: str) -> Cause:
    """Return kube-apiserver's cause for a value of the wrong JSON type."""
    got = quote(_type_name(v))
    return (
        "FieldValueTypeInvalid",
        path,
        f"Invalid value: {got}: {path} in body must be of type {want}: {got}",
    )


def _schema(v: Any, node: Node, path: str, out: list[Cause], formats: bool) -> None:
    if v is None:
        return
    k = node.kind
    if k == "scalar":
        if formats and node.limits.get("format") and _format_causes(v, node, path, out):
            return
        if node.quantity and isinstance(v, str) and (why := _quantity_error(v)):
            out.append((_QUANTITY_INVALID, path, why))
            return
        if (
            node.types
            and not any(
                isinstance(v, _JSON_TYPES.get(t, (object,)))
                and not (t in ("integer", "number") and isinstance(v, bool))
                for t in node.types
            )
            and not ("integer" in node.types and isinstance(v, float) and v.is_integer())
        ):
            want = " or ".join(sorted(node.types))
            out.append(_type_invalid(v, path, want))
        elif node.enum and v not in node.enum:
            allowed = ", ".join(quote(e) for e in node.enum)
            out.append(
                (
                    "FieldValueNotSupported",
                    path,
                    f"Unsupported value: {quote(v)}: supported values: {allowed}",
                )
            )
        elif node.limits:
            out.extend(_limit_causes(v, node.limits, path))
        return
    if k == "struct":
        if not isinstance(v, dict):
            out.append(_type_invalid(v, path, "object"))
            return
        for r in node.required:
            if r not in v:
                out.append(("FieldValueRequired", f"{path}.{r}" if path else r, "Required value"))
        for key, val in v.items():
            if node.knows(key):
                _schema(val, node.child(key), f"{path}.{key}" if path else key, out, formats)
        return
    if k == "map":
        if not isinstance(v, dict):
            out.append(_type_invalid(v, path, "object"))
            return
        for key, val in v.items():
            _schema(val, node.child(key), f"{path}.{key}" if path else key, out, formats)
        return
    if k == "list":
        if not isinstance(v, list):
            out.append(_type_invalid(v, path, "array"))
            return
        inode = node.item()
        if node.limits:
            out.extend(_limit_causes(v, node.limits, path))
        for i, item in enumerate(v):
            _schema(item, inode, f"{path}[{i}]", out, formats)
        if node.list_type == "map" and all(isinstance(x, dict) for x in v):
            seen: set[str] = set()
            for i, item in enumerate(v):
                key = json.dumps([item.get(kf) for kf in node.keys])
                if key in seen:
                    out.append(
                        (
                            "FieldValueDuplicate",
                            f"{path}[{i}]",
                            f"Duplicate value: {json.dumps({kf: item.get(kf) for kf in node.keys})}",
                        )
                    )
                seen.add(key)


def _limit_causes(v: Any, lim: dict[str, Any], path: str) -> list[Cause]:
    """Return causes for OpenAPI value limits, worded as kube-apiserver's CRD validation."""
    out: list[Cause] = []
    if isinstance(v, str):
        if "maxLength" in lim and len(v) > int(lim["maxLength"]):
            out.append(
                (
                    "FieldValueTooLong",
                    path,
                    f"Too long: may not be more than {int(lim['maxLength'])} bytes",
                )
            )
        if "minLength" in lim and len(v) < int(lim["minLength"]):
            out.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {quote(v)}: {path} in body should be at least "
                    f"{int(lim['minLength'])} chars long",
                )
            )
        if "pattern" in lim and not re.search(str(lim["pattern"]), v):
            out.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {quote(v)}: {path} in body should match '{lim['pattern']}'",
                )
            )
    elif isinstance(v, int | float) and not isinstance(v, bool):
        lo, hi = lim.get("minimum"), lim.get("maximum")
        if lo is not None and (v < lo or (lim.get("exclusiveMinimum") and v == lo)):
            word = "greater than" if lim.get("exclusiveMinimum") else "greater than or equal to"
            out.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {quote(v)}: {path} in body should be {word} {lo}",
                )
            )
        if hi is not None and (v > hi or (lim.get("exclusiveMaximum") and v == hi)):
            word = "less than" if lim.get("exclusiveMaximum") else "less than or equal to"
            out.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {quote(v)}: {path} in body should be {word} {hi}",
                )
            )
    elif isinstance(v, list):
        if "maxItems" in lim and len(v) > int(lim["maxItems"]):
            out.append(
                (
                    "FieldValueTooMany",
                    path,
                    f"Too many: {len(v)}: must have at most {int(lim['maxItems'])} items",
                )
            )
        if "minItems" in lim and len(v) < int(lim["minItems"]):
            out.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {len(v)}: {path} in body should have at least "
                    f"{int(lim['minItems'])} items",
                )
            )
    return out


def validate(
    rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, sub: str = ""
) -> None:
    """Raise a 422 Invalid listing every cause found in ``obj`` (``old``: update;
    ``sub``: the subresource written)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    causes: list[Cause] = []
    if old is None:
        generate = meta.get("generateName")
        if generate:
            causes += generate_name_causes(rt, str(generate))
        causes += name_causes(rt, name)
    causes += labels_causes("metadata.labels", meta.get("labels"), values=True)
    causes += labels_causes("metadata.annotations", meta.get("annotations"), values=False)
    causes += finalizer_causes(meta.get("finalizers"))
    body = {k: v for k, v in obj.items() if k != "status"}
    body["metadata"] = {}
    root = rt.root()
    if rt.builtin:
        causes += _builtin_required(rt, body, root)
    else:
        if "status" in obj:  # a custom resource's status is checked against its schema too
            body["status"] = obj["status"]
        causes += schema_causes(body, root, formats=True)
    own = validators.causes(rt.group, rt.kind, obj, old, sub)
    said = {(reason, field) for reason, field, _ in own}  # the kind's words win
    causes = [c for c in causes if c[0] != "FieldValueRequired" or (c[0], c[1]) not in said]
    causes += own
    if causes:
        raise errors.invalid(rt.kind, rt.group, name, causes)


def _builtin_required(rt: ResourceType, body: dict[str, Any], root: Node) -> list[Cause]:
    # Built-in kinds: types are checked at decode (a 400); required fields and enums here.
    # Duplicates in keyed lists are the kind's own rules (validators), in their words.
    skip = ("FieldValueTypeInvalid", "FieldValueDuplicate", _QUANTITY_INVALID)
    return [c for c in schema_causes(body, root) if c[0] not in skip]


def type_errors(obj: dict[str, Any], root: Node) -> list[str]:
    """Return what a built-in kind's decoder refuses, from one walk of the object: values
    of the wrong JSON type outside the status (``field: message`` each), else the first
    resource quantity that does not parse (``cpu: abc``; Go's message names no field)."""
    causes = schema_causes(obj, root)
    wrong = [
        f"{field}: {msg}"
        for reason, field, msg in causes
        if reason == "FieldValueTypeInvalid" and field.split(".", 1)[0].split("[", 1)[0] != "status"
    ]
    return wrong or [msg for reason, _, msg in causes if reason == _QUANTITY_INVALID][:1]


_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_BYTES_FIELDS = {("", "ConfigMap"): "binaryData", ("", "Secret"): "data"}
"""The maps of base64 values (``[]byte`` in Go) among the kinds the sandbox serves."""


def bytes_error(rt: ResourceType, obj: dict[str, Any]) -> str:
    """Return Go's base64 decoder's error for the first value of a ConfigMap's
    ``binaryData`` or a Secret's ``data`` that is not standard base64, else ""."""
    name = _BYTES_FIELDS.get((rt.group, rt.kind))
    values = obj.get(name) if name else None
    if not isinstance(values, dict):
        return ""
    for value in values.values():
        if isinstance(value, str):
            at = _base64_error_at(value)
            if at >= 0:
                return f"illegal base64 data at input byte {at}"
    return ""


def _base64_error_at(text: str) -> int:
    """Return where Go's ``StdEncoding.DecodeString`` stops on ``text`` (-1: it decodes):
    the first byte outside the alphabet, padding before the end, or the start of an
    incomplete last quantum. Line breaks are skipped, as Go skips them."""
    clean = [(i, c) for i, c in enumerate(text) if c not in "\r\n"]
    padding = 0
    for n, (i, c) in enumerate(clean):
        if c == "=":
            padding += 1
            if padding > 2 or n % 4 < 2:
                return i
            continue
        if padding or c not in _BASE64:
            return i
    if len(clean) % 4:
        return clean[len(clean) - len(clean) % 4][0]
    return -1


_QUANTITY_INVALID = "QuantityInvalid"
"""The reason :func:`schema_causes` gives a quantity that does not parse: never a cause of
a 422, :func:`type_errors` makes it the 400 Go's decoder answers."""
_GO_QUANTITY = re.compile(r"([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)")
_QUANTITY_FORMAT = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


def _quantity_error(text: str) -> str:
    """Go's ``ParseQuantity`` error: the shape (a number, then suffix letters and an
    exponent) before the suffix's meaning."""
    m = _GO_QUANTITY.fullmatch(text)
    if m is None or not _GO_NUMBER.fullmatch(m.group(1)):
        return _QUANTITY_FORMAT
    if quantity_value(text) is not None:
        return ""
    return "unable to parse quantity's suffix"


_GO_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_INT_RANGE = {"int32": 2**31, "int64": 2**63}


def _format_causes(v: Any, node: Node, path: str, out: list[Cause]) -> bool:
    """Add the causes of a value its ``format`` refuses; True if there were any (the type
    cause, if any, is then the format's)."""
    fmt = node.limits["format"]
    name = path.rsplit(".", 1)[-1]
    if fmt in _INT_RANGE and "integer" in node.types and not isinstance(v, bool):
        if isinstance(v, int) and -_INT_RANGE[fmt] <= v < _INT_RANGE[fmt]:
            return False
        if isinstance(v, float) and not v.is_integer():
            got = quote("float64")
            message = f"Invalid value: {got}: {path} in body must be of type {fmt}: {got}"
            out.append(("FieldValueTypeInvalid", path, message))
        elif not isinstance(v, int | float):
            return False  # the type cause says it
        checked = f"Checked value must be of type integer with format {fmt} in {path}"
        out.append(("FieldValueInvalid", "<nil>", f'Invalid value: "": {checked}'))
        return True
    if fmt == "date-time" and isinstance(v, str) and not _DATE_TIME.fullmatch(v):
        message = f"Invalid value: {quote(v)}: {name} in body must be of type date-time: {quote(v)}"
        out.append(("FieldValueTypeInvalid", path, message))
        return True
    return False
