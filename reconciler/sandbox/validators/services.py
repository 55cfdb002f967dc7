"""core/v1 Service: ports unless headless or ExternalName, each valid and none twice, a
known type, and a clusterIP that never changes once allocated
(``ValidateService``/``ValidateServiceUpdate``)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.sandbox.names import (
    DNS1123_LABEL,
    LABEL_MSG,
)
from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    go_value,
    not_supported,
    port_causes,
    port_number_or_name_causes,
    quote,
    spec_of,
)

_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a Service write."""
    if sub:
        return []
    spec, old_spec = spec_of(obj), spec_of(old)
    out: list[Cause] = []
    typ = spec.get("type")
    if typ != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
        out.append(("FieldValueRequired", "spec.ports", "Required value"))
    if typ not in _TYPES:
        out.append(not_supported("spec.type", typ, sorted(_TYPES)))
    ports = spec.get("ports")
    ports = [port for port in ports if isinstance(port, dict)] if isinstance(ports, list) else []
    out += _ports(ports)
    if (
        old is not None
        and old_spec.get("clusterIP")
        and spec.get("clusterIP") != old_spec.get("clusterIP")
        and typ != "ExternalName"
    ):
        out.append(
            (
                "FieldValueInvalid",
                "spec.clusterIPs[0]",
                f"Invalid value: {go_value(spec.get('clusterIPs'))}: may not change once set",
            )
        )
    return out


def _ports(ports: list[Obj]) -> list[Cause]:
    """Each port as ``validateServicePort`` checks it (a name when there are several, a
    DNS label used once; numbers in range; a target port number or IANA name), then the
    (protocol, port) pairs used twice."""
    out: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            out.append(("FieldValueRequired", f"{path}.name", "Required value"))
        elif name:
            if not DNS1123_LABEL.fullmatch(name) or len(name) > 63:
                out.append(
                    (
                        "FieldValueInvalid",
                        f"{path}.name",
                        f"Invalid value: {quote(name)}: {LABEL_MSG}",
                    )
                )
            elif name in names:
                out.append(
                    ("FieldValueDuplicate", f"{path}.name", f"Duplicate value: {quote(name)}")
                )
            names.add(name)
        out += port_causes(f"{path}.port", port.get("port"))
        out += port_number_or_name_causes(f"{path}.targetPort", port.get("targetPort"))
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        key = (port.get("protocol") or "TCP", port.get("port"))
        if key in seen:
            value = {"Name": "", "Protocol": key[0], "AppProtocol": None, "Port": key[1]}
            value.update({"TargetPort": 0, "NodePort": 0})
            shown = json.dumps(value, separators=(",", ":"))
            out.append(("FieldValueDuplicate", f"spec.ports[{i}]", f"Duplicate value: {shown}"))
        seen.add(key)
    return out
