"""networking.k8s.io/v1 NetworkPolicy: ports in range (an end port not below its port),
known protocols and policy types, peers that name something, CIDRs that are CIDRs, valid
selectors (``ValidateNetworkPolicy``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    label_selector_causes,
    not_supported,
    objects_in,
    port_number_or_name_causes,
    quote,
    spec_of,
)

_PROTOCOLS = ("TCP", "UDP", "SCTP")


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a NetworkPolicy write."""
    if sub:
        return []
    spec = spec_of(obj)
    out = label_selector_causes("spec.podSelector", spec.get("podSelector"))
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in objects_in(spec.get(direction)):
            out += _rule(f"spec.{direction}[{i}]", rule, peers)
    types = spec.get("policyTypes")
    for i, kind in enumerate(types if isinstance(types, list) else []):
        if kind not in ("Ingress", "Egress"):
            out.append(not_supported(f"spec.policyTypes[{i}]", kind, ("Ingress", "Egress")))
    return out


def _rule(path: str, rule: dict[str, Any], peers: str) -> list[Cause]:
    out: list[Cause] = []
    for j, port in objects_in(rule.get("ports")):
        out += _port(f"{path}.ports[{j}]", port)
    for j, peer in objects_in(rule.get(peers)):
        out += _peer(f"{path}.{peers}[{j}]", peer)
    return out


def _port(path: str, port: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in _PROTOCOLS:
        out.append(not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
    number = port.get("port")
    out += port_number_or_name_causes(f"{path}.port", number)
    end = port.get("endPort")
    if isinstance(end, int) and isinstance(number, int) and end < number:
        out.append(
            (
                "FieldValueInvalid",
                f"{path}.endPort",
                f"Invalid value: {end}: must be greater than or equal to `port`",
            )
        )
    return out


def _peer(path: str, peer: dict[str, Any]) -> list[Cause]:
    if not any(peer.get(k) is not None for k in ("podSelector", "namespaceSelector", "ipBlock")):
        return [("FieldValueRequired", path, "Required value: must specify a peer")]
    out: list[Cause] = []
    for key in ("podSelector", "namespaceSelector"):
        out += label_selector_causes(f"{path}.{key}", peer.get(key))
    block = peer.get("ipBlock")
    cidr = block.get("cidr") if isinstance(block, dict) else None
    if isinstance(cidr, str):
        try:
            ipaddress.ip_network(cidr, strict=False)
            valid = "/" in cidr
        except ValueError:
            valid = False
        if not valid:
            out.append(
                (
                    "FieldValueInvalid",
                    f"{path}.ipBlock.cidr",
                    f"Invalid value: {quote(cidr)}: must be a valid CIDR value, "
                    "(e.g. <ip>/24 or 2001:db8::/64)",
                )
            )
    return out
