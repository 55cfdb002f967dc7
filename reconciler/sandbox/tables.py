"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``'s default output.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``; the server
answers the columns kube-apiserver's printers define for each built-in kind
(:mod:`.printers`), and for a custom resource its CRD's ``additionalPrinterColumns``
(JSONPath), or ``NAME``/``AGE`` without them.

Callers: :mod:`.server`.
"""

from __future__ import annotations

import re
import time
from typing import Any

from reconciler.sandbox.kinds import ResourceType
from reconciler.sandbox.printers import BUILTIN as _BUILTIN
from reconciler.sandbox.printers import (
    Column,
    Obj,
    Printer,
    age,
    field_at,
    human_duration,
    timestamp,
)

_C = "string"


def _jsonpath(obj: Obj, path: str) -> Any:
    """Evaluate the simple JSONPath of a printer column (``.status.conditions[0].type``)."""
    cur: Any = obj
    for part in re.findall(r"\.([^.\[]+)|\[(-?\d+:?|\?\(@\.[^)]*\))\]", path):
        name, idx = part
        if name:
            cur = cur.get(name) if isinstance(cur, dict) else None
        elif idx.endswith(":") or idx.startswith("-"):
            i = int(idx.rstrip(":"))
            cur = cur[i] if isinstance(cur, list) and -len(cur) <= i < len(cur) else None
        elif idx.isdigit():
            cur = cur[int(idx)] if isinstance(cur, list) and int(idx) < len(cur) else None
        else:
            m = re.match(r"\?\(@\.(\w+)\s*==\s*['\"]([^'\"]*)['\"]\)", idx)
            if m and isinstance(cur, list):
                cur = [
                    x for x in cur if isinstance(x, dict) and str(x.get(m.group(1))) == m.group(2)
                ]
                cur = cur[0] if cur else None
            else:
                cur = None
        if cur is None:
            return None
    return cur


def _crd_printer(rt: ResourceType) -> tuple[list[Column], Printer]:
    cols = list(rt.printer_columns)
    if not cols:
        return [("Age", "date", 0, "")], lambda o, n: [age(o, n)]
    columns: list[Column] = [
        (
            str(c.get("name", "")),
            str(c.get("type", "string")),
            int(c.get("priority") or 0),
            str(c.get("description", "")),
        )
        for c in cols
    ]

    def printer(o: Obj, n: float) -> list[Any]:
        out: list[Any] = []
        for c in cols:
            v = _jsonpath(o, str(c.get("jsonPath", "")))
            if c.get("type") == "date" and v is not None:
                t = timestamp(v)
                v = human_duration(n - t) if t is not None else v
            out.append(v)
        return out

    return columns, printer


# Kinds whose server-side printer has no leading NAME column (events: LAST SEEN first).
NO_NAME_COLUMN = {("", "Event")}


def printer_for(rt: ResourceType) -> tuple[list[Column], Printer]:
    """Return the columns (after NAME) and the row function of a kind."""
    if rt.builtin:
        found = _BUILTIN.get((rt.group, rt.kind))
        if found is not None:
            return found
        return [("Age", _C, 0, "")], lambda o, n: [age(o, n)]
    return _crd_printer(rt)


def _row_object(obj: Obj, include: str, rt: ResourceType) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        full = dict(obj)
        full.setdefault("apiVersion", rt.api_version)
        full.setdefault("kind", rt.kind)
        return full
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    rt: ResourceType,
    items: list[Obj],
    list_meta: Obj,
    include: str = "Metadata",
    now: float | None = None,
) -> Obj:
    """Return a ``meta.k8s.io/v1`` Table of ``items`` with ``list_meta`` as its metadata."""
    now = time.time() if now is None else now
    columns, printer = printer_for(rt)
    named = (rt.group, rt.kind) not in NO_NAME_COLUMN
    defs = (
        [
            {
                "name": "Name",
                "type": "string",
                "format": "name",
                "description": "Name must be unique within a namespace.",
                "priority": 0,
            }
        ]
        if named
        else []
    )
    for name, typ, prio, desc in columns:
        defs.append(
            {"name": name, "type": typ, "format": "", "description": desc, "priority": prio}
        )
    rows = []
    for o in items:
        first = [field_at(o, "metadata", "name", default="")] if named else []
        row: Obj = {"cells": [*first, *printer(o, now)]}
        ro = _row_object(o, include, rt)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": defs,
        "rows": rows,
    }
