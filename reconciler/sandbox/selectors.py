"""Label and field selectors, parsed and matched as kube-apiserver does.

Label selectors (``?labelSelector=``): requirements joined by commas, each one of
``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
``key``, ``!key``, ``key>n``, ``key<n``. ``!=`` and ``notin`` match objects without the
key. A malformed selector is a 400 BadRequest.

Field selectors (``?fieldSelector=``): ``metadata.name`` and ``metadata.namespace`` for
every kind, plus the few per-kind fields kube-apiserver supports (pods ``status.phase``,
``spec.nodeName``; events ``involvedObject.*``, ``reason``, ``type``; secrets ``type``;
namespaces ``status.phase``). Other fields are a 400 as on a real server.

Callers: :mod:`.handlers` (list, watch, deletecollection) and :mod:`.validators`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox import errors
from reconciler.sandbox.names import (
    label_value_errors,
    qualified_name_errors,
)


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values``."""

    key: str
    op: str  # = != in notin exists !exists gt lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """True if ``labels`` satisfy this requirement."""
        has = self.key in labels
        val = labels.get(self.key)
        if self.op in ("=", "in"):
            return has and val in self.values
        if self.op in ("!=", "notin"):
            return not has or val not in self.values
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op in ("gt", "lt"):
            if not has:
                return False
            try:
                left, right = int(str(val)), int(self.values[0])
            except ValueError:
                return False
            return left > right if self.op == "gt" else left < right
        return False


LabelSelector = tuple[Requirement, ...]


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth = 0
    cur = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _check_key(key: str) -> str:
    errs = qualified_name_errors(key)
    if errs:
        raise errors.bad_request(
            f'unable to parse requirement: <nil>: Invalid value: "{key}": {"; ".join(errs)}'
        )
    return key


def _check_value(key: str, value: str) -> str:
    errs = label_value_errors(value)
    if errs:  # Go names every value of a requirement values[0]
        raise errors.bad_request(
            f"unable to parse requirement: values[0][{key}]: Invalid value: "
            f'"{value}": {"; ".join(errs)}'
        )
    return value


_SET = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query value; empty or None selects everything.

    Raises a 400 BadRequest for a malformed selector.
    """
    if not text or not text.strip():
        return ()
    out: list[Requirement] = []
    for part in _split_top(text):
        p = part.strip()
        if not p:
            raise errors.bad_request(f"found '', expected: identifier (in selector {text!r})")
        m = _SET.match(p)
        if m:
            key = _check_key(m.group(1))
            values = tuple(_check_value(key, v.strip()) for v in m.group(3).split(","))
            out.append(Requirement(key, m.group(2), tuple(sorted(set(values)))))
            continue
        if p.startswith("!"):
            out.append(Requirement(_check_key(p[1:].strip()), "!exists"))
            continue
        for op, name in (("!=", "!="), ("==", "="), ("=", "="), (">", "gt"), ("<", "lt")):
            if op in p:
                key, _, value = p.partition(op)
                key, value = key.strip(), value.strip()
                _check_key(key)
                if name in ("gt", "lt"):
                    if not re.match(r"^-?\d+$", value):
                        raise errors.bad_request(
                            f"unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                            f"must be an integer (in selector {text!r})"
                        )
                else:
                    _check_value(key, value)
                out.append(Requirement(key, name, (value,)))
                break
        else:
            if " " in p or "(" in p or ")" in p:
                raise errors.bad_request(f"unable to parse requirement: {p!r} (in {text!r})")
            out.append(Requirement(_check_key(p), "exists"))
    return tuple(out)


def matches_labels(selector: LabelSelector, obj: dict[str, Any]) -> bool:
    """True if ``obj``'s labels satisfy every requirement."""
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in selector)


def from_label_selector(sel: dict[str, Any] | None) -> LabelSelector | None:
    """Convert a ``metav1.LabelSelector`` object; None (a null selector) matches nothing."""
    if sel is None:
        return None
    out = [Requirement(k, "=", (str(v),)) for k, v in (sel.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for e in sel.get("matchExpressions") or []:
        op = ops.get(str(e.get("operator")))
        if op:
            out.append(Requirement(str(e.get("key")), op, tuple(e.get("values") or ())))
    return tuple(out)


# ------------------------------------------------------------------ field selectors

FieldGetter = Callable[[dict[str, Any]], str]


def _path(*keys: str) -> FieldGetter:
    def get(obj: dict[str, Any]) -> str:
        cur: Any = obj
        for k in keys:
            cur = cur.get(k) if isinstance(cur, dict) else None
        return "" if cur is None else str(cur)

    return get


_COMMON: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}
_EXTRA: dict[str, dict[str, FieldGetter]] = {
    "pods": {
        "status.phase": _path("status", "phase"),
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "events": {
        **{
            f"involvedObject.{f}": _path("involvedObject", f)
            for f in (
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            )
        },
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
    "secrets": {"type": _path("type")},
    "namespaces": {"status.phase": _path("status", "phase")},
    "jobs": {"status.successful": _path("status", "succeeded")},
}


@dataclass(frozen=True)
class FieldRequirement:
    """One field requirement: ``field = value`` or ``field != value``."""

    field: str
    equal: bool
    value: str
    getter: FieldGetter

    def matches(self, obj: dict[str, Any]) -> bool:
        """True if ``obj`` satisfies this requirement."""
        return (self.getter(obj) == self.value) == self.equal


FieldSelector = tuple[FieldRequirement, ...]


def parse_field_selector(text: str | None, plural: str, builtin: bool) -> FieldSelector:
    """Parse a ``fieldSelector`` for resource ``plural``; raises 400 for unknown fields."""
    if not text or not text.strip():
        return ()
    allowed = {**_COMMON, **(_EXTRA.get(plural, {}) if builtin else {})}
    out: list[FieldRequirement] = []
    for part in text.split(","):
        p = part.strip()
        op = next((o for o in ("!=", "==", "=") if o in p), None)
        if op is None:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{p}'")
        name, _, value = p.partition(op)
        name = name.strip()
        equal = op != "!="
        getter = allowed.get(name)
        if getter is None:
            # kube-apiserver 1.37's wording, built-in kinds and custom resources alike
            # (the differential suite checks it for ConfigMaps and custom resources).
            known = ", ".join(f'"{f}"' for f in sorted(allowed))
            raise errors.bad_request(f'"{name}" is not a known field selector: only {known}')
        out.append(FieldRequirement(name, equal, value.strip(), getter))
    return tuple(out)


def matches_fields(selector: FieldSelector, obj: dict[str, Any]) -> bool:
    """True if ``obj`` satisfies every field requirement."""
    return all(r.matches(obj) for r in selector)


def exact_name(selector: FieldSelector) -> str | None:
    """Return the name a selector pins with ``metadata.name=`` (a fast path), or None."""
    for r in selector:
        if r.field == "metadata.name" and r.equal:
            return r.value
    return None
