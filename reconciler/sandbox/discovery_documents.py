"""Discovery documents and the OpenAPI v3 endpoints, built from the kinds registry.

- ``/version``: the Kubernetes release whose built-in schemas the sandbox uses.
- ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``, ``/apis/<group>/<version>``:
  the legacy (unaggregated) discovery documents. Aggregated discovery
  (``Accept: ...;as=APIGroupDiscoveryList``) is refused the way servers before 1.26
  refuse it: they ignore the parameter and answer the legacy document as
  ``application/json``, which clients take as "not supported" and fall back from.
- ``/openapi/v3`` and ``/openapi/v3/<api path>``: one OpenAPI 3 document per group
  version, with every served path and operation (PATCH declares the ``fieldValidation``,
  ``dryRun``, ``fieldManager`` and ``force`` parameters, so kubectl leaves validation to
  the server) and the schemas of the kinds (``kubectl explain`` works).
- ``/openapi/v2``: a valid but empty Swagger 2.0 document (JSON, or the protobuf form
  kubectl asks for): no schemas, so clients that consult it for a kind the server does
  not serve (kubectl's client-side validation of an unknown kind) skip it as they do
  on a real server; everything else uses v3.

Callers: :mod:`.server`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from reconciler.sandbox.kinds import Registry, ResourceType
from reconciler.sandbox.schemas import builtin_definitions

Obj = dict[str, Any]


@functools.cache
def kube_version() -> tuple[int, int, int]:
    """Return the release of the built-in schemas the sandbox serves (e.g. 1.37.0)."""
    try:
        import kubernetes_validate

        base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
        found = []
        for p in base.iterdir():
            m = re.match(r"v(\d+)\.(\d+)\.(\d+)-local$", p.name)
            if m:
                found.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
        return max(found)
    except (ImportError, ValueError, OSError):  # pragma: no cover
        return (1, 37, 0)


def version_info() -> Obj:
    """Return the ``/version`` document."""
    major, minor, patch = kube_version()
    return {
        "major": str(major),
        "minor": str(minor),
        "emulationMajor": str(major),
        "emulationMinor": str(minor),
        "minCompatibilityMajor": str(major),
        "minCompatibilityMinor": str(minor - 1),
        "gitVersion": f"v{major}.{minor}.{patch}-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(address: str) -> Obj:
    """Return ``/api`` (APIVersions)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group_doc(group: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> Obj:
    """Return ``/apis`` (APIGroupList) of every served named group."""
    groups = [_group_doc(g, vs) for g, vs in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
"""The media type of aggregated discovery (``apidiscovery.k8s.io/v2``), kubectl's first
choice: every group, version and resource in one answer."""


def _kind_ref(t: ResourceType, group: str = "", version: str = "", kind: str = "") -> Obj:
    return {"group": group, "version": version, "kind": kind or t.kind}


def _discovered(t: ResourceType) -> Obj:
    out: Obj = {
        "resource": t.plural,
        "responseKind": _kind_ref(t),
        "scope": "Namespaced" if t.namespaced else "Cluster",
        "singularResource": t.singular,
        "verbs": list(t.verbs),
    }
    if t.short_names:
        out["shortNames"] = list(t.short_names)
    if t.categories:
        out["categories"] = list(t.categories)
    subs = []
    if t.scale:
        subs.append(
            {
                "subresource": "scale",
                "responseKind": _kind_ref(t, "autoscaling", "v1", "Scale"),
                "verbs": ["get", "patch", "update"],
            }
        )
    if t.status:
        subs.append(
            {
                "subresource": "status",
                "responseKind": _kind_ref(t),
                "verbs": ["get", "patch", "update"],
            }
        )
    if subs:
        out["subresources"] = subs
    return out


def aggregated(registry: Registry, *, core: bool) -> Obj:
    """Return ``/api`` (``core``) or ``/apis`` as an APIGroupDiscoveryList."""
    items = []
    for group, versions in registry.groups().items():
        if bool(group) == core:
            continue
        entry: Obj = {"metadata": {"name": group} if group else {}, "versions": []}
        for version in versions:
            types = sorted(_types_of(registry, group, version), key=lambda t: t.plural)
            entry["versions"].append(
                {
                    "version": version,
                    "resources": [_discovered(t) for t in types],
                    "freshness": "Current",
                }
            )
        items.append(entry)
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def api_group(registry: Registry, group: str) -> Obj | None:
    """Return ``/apis/<group>`` (APIGroup), or None if the group is not served."""
    versions = registry.groups().get(group)
    if not versions or not group:
        return None
    doc = _group_doc(group, versions)
    return {"kind": "APIGroup", "apiVersion": "v1", **doc}


def _types_of(registry: Registry, group: str, version: str) -> list[ResourceType]:
    return [t for t in registry.all() if t.group == group and t.version == version]


def api_resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    """Return ``/api/v1`` or ``/apis/<g>/<v>`` (APIResourceList), None if not served."""
    types = _types_of(registry, group, version)
    if not types:
        return None
    resources: list[Obj] = []
    for t in sorted(types, key=lambda t: t.plural):
        resources.append(t.discovery())
        if t.status:
            resources.append(
                {
                    "name": f"{t.plural}/status",
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if t.scale:
            resources.append(
                {
                    "name": f"{t.plural}/scale",
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
    gv = f"{group}/{version}" if group else version
    if not group:  # the legacy core group's list carries no apiVersion
        return {"kind": "APIResourceList", "groupVersion": gv, "resources": resources}
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


# ------------------------------------------------------------------------ OpenAPI v3


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(t: ResourceType) -> str:
    if t.builtin:
        return t.definition
    rev = ".".join(reversed(t.group.split(".")))
    return f"{rev}.{t.version}.{t.kind}"


def _rewrite_refs(obj: Any) -> Any:
    """Return a schema in OpenAPI 3.0 form: ``$ref`` into components, single ``type``.

    The JSON-schema definitions list ``"type": ["string", "null"]``; OpenAPI 3.0 (and
    kubectl explain's templates) want one type string.
    """
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "$ref" and isinstance(v, str):
                out[k] = v.replace("#/$defs/", "#/components/schemas/")
            elif k == "type" and isinstance(v, list):
                kinds = [t for t in v if t != "null"]
                if kinds:
                    out[k] = kinds[0]
            else:
                out[k] = _rewrite_refs(v)
        return out
    if isinstance(obj, list):
        return [_rewrite_refs(x) for x in obj]
    return obj


def _collect(defs: dict[str, Any], name: str, out: dict[str, Any]) -> None:
    if name in out or name not in defs:
        return
    out[name] = defs[name]
    stack = [defs[name]]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("$ref")
            if isinstance(ref, str):
                target = ref.rsplit("/", 1)[-1]
                if target not in out and target in defs:
                    out[target] = defs[target]
                    stack.append(defs[target])
            stack.extend(v for v in cur.values() if isinstance(v, dict | list))
        elif isinstance(cur, list):
            stack.extend(v for v in cur if isinstance(v, dict | list))


def _param(name: str, where: str = "query", typ: str = "string") -> Obj:
    return {"name": name, "in": where, "schema": {"type": typ, "uniqueItems": True}}


def _operations(t: ResourceType) -> dict[str, Obj]:
    gvk = {"group": t.group, "version": t.version, "kind": t.kind}
    ref = {"$ref": f"#/components/schemas/{_schema_name(t)}"}
    body = {"content": {"application/json": {"schema": ref}}}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    prefix = "/" + _gv_path(t.group, t.version)
    ns = "/namespaces/{namespace}" if t.namespaced else ""
    coll = f"{prefix}{ns}/{t.plural}"
    item = coll + "/{name}"
    common = [_param("name", "path"), _param("pretty")]
    if t.namespaced:
        common.insert(1, _param("namespace", "path"))
    write = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]

    def op(action: str, params: list[Obj], with_body: bool = False) -> Obj:
        o: Obj = {
            "operationId": f"{action}{t.kind}",
            "parameters": params,
            "responses": ok,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        }
        if with_body:
            o["requestBody"] = body
        return o

    paths: dict[str, Obj] = {
        coll: {
            "get": op(
                "list",
                [
                    _param("labelSelector"),
                    _param("fieldSelector"),
                    _param("limit", typ="integer"),
                    _param("continue"),
                    _param("watch", typ="boolean"),
                ],
            ),
            "post": op("post", write, True),
            "delete": op("deletecollection", [_param("labelSelector"), _param("dryRun")]),
            "parameters": [_param("pretty")]
            + ([_param("namespace", "path")] if t.namespaced else []),
        },
        item: {
            "get": op("get", []),
            "put": op("put", write, True),
            "patch": op("patch", [*write, _param("force", typ="boolean")], True),
            "delete": op("delete", [_param("dryRun"), _param("propagationPolicy")]),
            "parameters": common,
        },
    }
    if t.status:
        paths[item + "/status"] = {
            "get": op("get", []),
            "put": op("put", write, True),
            "patch": op("patch", [*write, _param("force", typ="boolean")], True),
            "parameters": common,
        }
    return paths


def openapi_index(registry: Registry) -> Obj:
    """Return ``/openapi/v3``: one entry per served group version with a content hash."""
    paths: dict[str, Obj] = {}
    for g, versions in registry.groups().items():
        for v in versions:
            p = _gv_path(g, v)
            digest = (
                hashlib.sha256(
                    json.dumps(
                        [t.discovery() for t in _types_of(registry, g, v)]
                        + [t.crd_schema for t in _types_of(registry, g, v)],
                        sort_keys=True,
                        default=str,
                    ).encode()
                )
                .hexdigest()[:32]
                .upper()
            )
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={digest}"}
    return {"paths": paths}


def openapi_document(registry: Registry, path: str) -> Obj | None:
    """Return the OpenAPI 3 document of ``api/v1`` or ``apis/<g>/<v>`` (None: not served)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    types = _types_of(registry, group, version)
    if not types:
        return None
    defs = builtin_definitions()
    schemas: dict[str, Any] = {}
    paths: dict[str, Obj] = {}
    for t in types:
        paths.update(_operations(t))
        if t.builtin:
            _collect(defs, t.definition, schemas)
        else:
            root = dict(
                t.crd_schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            )
            props = dict(root.get("properties") or {})
            props["metadata"] = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            root["properties"] = props
            root["x-kubernetes-group-version-kind"] = [
                {"group": t.group, "version": t.version, "kind": t.kind}
            ]
            schemas[_schema_name(t)] = root
            _collect(defs, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", schemas)
    major, minor, patch = kube_version()
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{major}.{minor}.{patch}"},
        "paths": paths,
        "components": {"schemas": _rewrite_refs(schemas)},
    }


OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def openapi_v2() -> Obj:
    """Return the (schema-less) Swagger 2.0 document as JSON."""
    major, minor, patch = kube_version()
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": f"v{major}.{minor}.{patch}"},
        "paths": {},
        "definitions": {},
    }


def _pb_string(field: int, value: bytes) -> bytes:
    return bytes([field << 3 | 2, len(value)]) + value


def openapi_v2_protobuf() -> bytes:
    """Return the same document in gnostic's protobuf encoding (swagger=1, info=2)."""
    major, minor, patch = kube_version()
    info = _pb_string(1, b"Kubernetes") + _pb_string(2, f"v{major}.{minor}.{patch}".encode())
    return _pb_string(1, b"2.0") + _pb_string(2, info)
