"""core/v1 Events, recorded about an object as its controller would.

Callers: the per-kind modules.
"""

from __future__ import annotations

import secrets
from typing import Any

from reconciler.sandbox.controllers.ports import Port
from reconciler.sandbox.controllers.resources import EVENTS, Resource

Obj = dict[str, Any]


def record(
    port: Port, res: Resource, obj: Obj, type_: str, reason: str, message: str, component: str
) -> None:
    """Record an Event ``type_`` (Normal/Warning) with ``reason`` about ``obj``."""
    meta = obj["metadata"]
    now = port.now()
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": meta.get("namespace", "default"),
        },
        "involvedObject": {
            "kind": res.kind,
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": res.api_version,
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": type_,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "",
    }
    port.create(EVENTS, body, manager=component)
