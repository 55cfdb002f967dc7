"""Content negotiation of the sandbox's HTTP API: request bodies in, response forms out.

A request body is decoded by its Content-Type (JSON, YAML, protobuf for a few kinds; CBOR
is refused as kube-apiserver refuses what it cannot decode); an ``Accept`` header chooses
between plain JSON, a Table, PartialObjectMetadata(List) and aggregated discovery.

Callers: :mod:`.server`.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox import errors, protobuf
from reconciler.sandbox.handlers import parse_body

Obj = dict[str, Any]


def decode(body: bytes, content_type: str) -> Any:
    """Return a request body decoded by its Content-Type; 415 for a type we cannot read."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/vnd.kubernetes.protobuf":
        try:
            return protobuf.decode(body)
        except protobuf.Unsupported:
            raise errors.unsupported_media_type(content_type) from None
    if ctype == "application/cbor":
        raise errors.unsupported_media_type(content_type)
    return parse_body(body, ctype or "application/json")


def partial(obj: Obj) -> Obj:
    """Return an object as PartialObjectMetadata (its metadata only)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def media_types(accept: str) -> list[tuple[str, dict[str, str]]]:
    """Return the media types of an Accept header, in order, with their parameters."""
    out = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        params = {}
        for f in fields[1:]:
            k, _, v = f.partition("=")
            params[k.strip()] = v.strip()
        out.append((fields[0].lower(), params))
    return out


def wants_aggregated(accept: str) -> bool:
    """True if aggregated discovery (v2) comes before plain JSON in ``accept``."""
    for mt, params in media_types(accept):
        if mt != "application/json":
            continue
        return (
            params.get("g") == "apidiscovery.k8s.io"
            and params.get("v") == "v2"
            and params.get("as") == "APIGroupDiscoveryList"
        )
    return False


def accepts_json(accept: str) -> bool:
    """True if ``accept`` takes JSON (or anything we answer as JSON)."""
    for mt, _ in media_types(accept):
        if mt in (
            "application/json",
            "application/*",
            "*/*",
            "application/yaml",
            "text/plain",
            "application/json-patch+json",
            "text/*",
            "",
        ):
            return True
    return False


def accepted_form(accept: str) -> str:
    """Return Table, PartialObjectMetadata(List) or '' for the first JSON form we serve."""
    for mt, params in media_types(accept):
        if mt not in ("application/json", "*/*", "application/*"):
            continue
        as_ = params.get("as", "")
        if not as_:
            return ""
        if (
            params.get("g") == "meta.k8s.io"
            and as_ in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")
            and params.get("v") in ("v1", "v1beta1")
        ):
            return as_
    return ""
