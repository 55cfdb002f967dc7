"""networking.k8s.io/v1 Ingress: hosts that are DNS names (a leading ``*.`` allowed),
absolute paths, a known path type, a service backend with a port name or number, not
both (``ValidateIngress``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from reconciler.sandbox.names import (
    DNS1123_SUBDOMAIN,
    SUBDOMAIN_MSG,
)
from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    not_supported,
    objects_in,
    quote,
    spec_of,
)

_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of an Ingress write."""
    if sub:
        return []
    out: list[Cause] = []
    for i, rule in objects_in(spec_of(obj).get("rules")):
        out += _rule(f"spec.rules[{i}]", rule)
    return out


def _rule(path: str, rule: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    host = rule.get("host")
    if isinstance(host, str) and host:
        out += _host(f"{path}.host", host)
    paths = (rule.get("http") or {}).get("paths") if isinstance(rule.get("http"), dict) else None
    for j, item in objects_in(paths):
        out += _path(f"{path}.http.paths[{j}]", item)
    return out


def _host(path: str, host: str) -> list[Cause]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [
            (
                "FieldValueInvalid",
                path,
                f"Invalid value: {quote(host)}: must be a DNS name, not an IP address",
            )
        ]
    name = host[2:] if host.startswith("*.") else host
    if len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        return [("FieldValueInvalid", path, f"Invalid value: {quote(host)}: {SUBDOMAIN_MSG}")]
    return []


def _path(path: str, item: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    kind = item.get("pathType")
    if kind is None:
        out.append(
            ("FieldValueRequired", f"{path}.pathType", "Required value: pathType must be specified")
        )
    elif kind not in _PATH_TYPES:
        out.append(not_supported(f"{path}.pathType", kind, _PATH_TYPES))
    value = item.get("path")
    if kind in ("Exact", "Prefix") and isinstance(value, str) and not value.startswith("/"):
        out.append(
            (
                "FieldValueInvalid",
                f"{path}.path",
                f"Invalid value: {quote(value)}: must be an absolute path",
            )
        )
    service = (
        (item.get("backend") or {}).get("service")
        if isinstance(item.get("backend"), dict)
        else None
    )
    port = service.get("port") if isinstance(service, dict) else None
    if isinstance(port, dict):
        if not port.get("name") and not port.get("number"):
            out.append(
                (
                    "FieldValueRequired",
                    f"{path}.backend",
                    "Required value: port name or number is required",
                )
            )
        elif port.get("name") and port.get("number"):
            out.append(
                (
                    "FieldValueInvalid",
                    f"{path}.backend",
                    'Invalid value: "": cannot set both port name & port number',
                )
            )
    return out
