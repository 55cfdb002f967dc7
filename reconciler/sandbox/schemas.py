"""Typed schemas: what server-side apply, strategic merge and validation know about a field.

The built-in kinds' schemas are the Kubernetes OpenAPI definitions that the
``kubernetes-validate`` package ships (one ``_definitions.json`` per release, with the
``x-kubernetes-list-type``/``x-kubernetes-list-map-keys``/``x-kubernetes-patch-*``
extensions); a CustomResourceDefinition brings its own ``openAPIV3Schema``. Both are read
into :class:`Node` values, the structural view structured-merge-diff uses:

- ``struct``: named fields (``properties``); unknown fields are an error (or pruned).
- ``map``: free keys (``additionalProperties``), each key a member of the field set.
- ``list``: ``atomic`` (a leaf), ``set`` (items by value) or ``map`` (items by key fields).
- ``scalar``: a leaf.
- ``deduced``: no schema (``x-kubernetes-preserve-unknown-fields``, RawExtension): maps
  are granular, lists atomic, as structured-merge-diff deduces them.

Lists in built-in kinds without ``x-kubernetes-list-type`` follow kube-openapi's
conversion: ``x-kubernetes-patch-strategy: merge`` with a merge key is an associative
list keyed by it, without a key a set; anything else is atomic.

Callers: :mod:`.fieldsets`, :mod:`.patches`, :mod:`.object_validation`, :mod:`.kinds`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

# Key fields that have a server default (the OpenAPI of kube-apiserver declares it):
# an item without the key is keyed by the default, as structured-merge-diff does.
KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


@dataclass(eq=False)
class Node:
    """The structural type of one field (see the module docstring for the kinds)."""

    kind: str  # struct | map | list | scalar | deduced
    fields: dict[str, Schema | None] = field(default_factory=dict)
    elem: Schema | None = None  # map values / list items
    list_type: str = "atomic"  # atomic | set | map
    keys: tuple[str, ...] = ()
    atomic: bool = False  # x-kubernetes-map-type: atomic (struct or map)
    preserve_unknown: bool = False  # struct that also keeps unknown fields (deduced)
    types: frozenset[str] = frozenset()  # scalar JSON types allowed ("" = any)
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] = ()
    patch_strategy: str = ""
    patch_merge_key: str = ""
    limits: dict[str, Any] = field(default_factory=dict)  # maxLength, minimum, pattern...
    resolver: Resolver | None = None
    quantity: bool = False  # a resource.Quantity (``500m``, ``16Gi``), parsed when decoded

    def child(self, name: str) -> Node:
        """Return the node of field/key ``name`` (struct field, map value, deduced)."""
        assert self.resolver is not None
        if self.kind == "struct":
            if name in self.fields:
                return self.resolver.node(self.fields[name])
            if self.preserve_unknown:
                return self.resolver.deduced
            return self.resolver.unknown
        if self.kind == "map":
            return self.resolver.node(self.elem)
        return self.resolver.deduced

    def item(self) -> Node:
        """Return the node of this list's items."""
        assert self.resolver is not None
        if self.kind == "list":
            return self.resolver.node(self.elem)
        return self.resolver.deduced

    def knows(self, name: str) -> bool:
        """True if ``name`` is a declared field (or this node accepts any key)."""
        if self.kind == "struct":
            return name in self.fields or self.preserve_unknown
        return True


class Resolver:
    """Turns JSON schema fragments (with ``$ref`` into ``defs``) into :class:`Node` values."""

    def __init__(self, defs: dict[str, Schema] | None = None) -> None:
        self.defs = defs or {}
        self._cache: dict[int, Node] = {}
        self._keep: list[Schema] = []  # keep schemas alive so id() stays unique
        self.deduced = Node("deduced", resolver=self)
        self.unknown = Node("unknown", resolver=self)

    def deref(self, schema: Schema) -> Schema:
        """Follow ``$ref`` (merging the referring schema's extensions over the target)."""
        ref = schema.get("$ref")
        while ref:
            name = ref.rsplit("/", 1)[-1]
            target = self.defs.get(name, {})
            merged = dict(target)
            for k, v in schema.items():
                if k != "$ref" and (k.startswith("x-kubernetes-") or k not in merged):
                    merged[k] = v
            schema = merged
            ref = target.get("$ref")
        return schema

    def node(self, schema: Schema | None) -> Node:
        """Return the node for a schema fragment (``None``: deduced)."""
        if schema is None:
            return self.deduced
        key = id(schema)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        self._keep.append(schema)
        out = self._build(self.deref(schema))
        if str(schema.get("$ref", "")).endswith(".resource.Quantity"):
            out = dataclasses.replace(out, quantity=True)
        self._cache[key] = out
        return out

    def _build(self, s: Schema) -> Node:
        types = _types(s)
        if s.get("x-kubernetes-int-or-string") or "oneOf" in s or ("anyOf" in s and not types):
            return Node("scalar", types=frozenset({"string", "integer", "number"}), resolver=self)
        if "properties" in s or ("object" in types and "additionalProperties" not in s):
            props = s.get("properties") or {}
            return Node(
                "struct",
                fields=dict(props),
                atomic=s.get("x-kubernetes-map-type") == "atomic",
                preserve_unknown=bool(s.get("x-kubernetes-preserve-unknown-fields"))
                or (not props and "object" in types and self.lenient_objects),
                required=tuple(s.get("required") or ()),
                resolver=self,
            )
        if "additionalProperties" in s:
            ap = s["additionalProperties"]
            elem = ap if isinstance(ap, dict) else None
            return Node(
                "map",
                elem=elem,
                atomic=s.get("x-kubernetes-map-type") == "atomic",
                resolver=self,
            )
        if "array" in types or "items" in s:
            list_type = s.get("x-kubernetes-list-type", "")
            keys: tuple[str, ...] = tuple(s.get("x-kubernetes-list-map-keys") or ())
            strategy = str(s.get("x-kubernetes-patch-strategy", ""))
            merge_key = str(s.get("x-kubernetes-patch-merge-key", ""))
            if not list_type:
                if "merge" in strategy.split(",") and merge_key:
                    list_type, keys = "map", (merge_key,)
                elif "merge" in strategy.split(","):
                    list_type = "set"
                else:
                    list_type = "atomic"
            if list_type == "map" and not keys:
                list_type = "atomic"
            items = s.get("items")
            return Node(
                "list",
                elem=items if isinstance(items, dict) else None,
                list_type=list_type,
                keys=keys,
                patch_strategy=strategy,
                patch_merge_key=merge_key,
                limits=_limits(s),
                resolver=self,
            )
        if s.get("x-kubernetes-preserve-unknown-fields") or not types:
            return self.deduced
        return Node(
            "scalar",
            types=frozenset(types),
            enum=tuple(s.get("enum") or ()),
            limits=_limits(s),
            resolver=self,
        )

    # Built-in objects typed "object" with no properties (RawExtension, JSON) keep
    # everything; a CRD's ``type: object`` without properties prunes everything.
    lenient_objects = True


_LIMIT_KEYS = (
    "maxLength",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "maxItems",
    "minItems",
    "format",
)


def _limits(s: Schema) -> dict[str, Any]:
    return {k: s[k] for k in _LIMIT_KEYS if k in s}


def _types(s: Schema) -> set[str]:
    t = s.get("type")
    if isinstance(t, list):
        return {x for x in t if x != "null"}
    if isinstance(t, str):
        return {t}
    return set()


@functools.cache
def builtin_definitions() -> dict[str, Schema]:
    """Return the newest Kubernetes OpenAPI definitions that kubernetes-validate ships.

    Raises RuntimeError naming the package if it is missing (it is a dependency).
    """
    try:
        import kubernetes_validate
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError("the sandbox needs the kubernetes-validate package") from exc
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"

    def version(p: Path) -> tuple[int, ...]:
        m = re.match(r"v(\d+)\.(\d+)\.(\d+)-local$", p.name)
        return tuple(int(x) for x in m.groups()) if m else (0,)

    newest = max((p for p in base.iterdir() if p.name.endswith("-local")), key=version)
    data = json.loads((newest / "_definitions.json").read_text())
    defs: dict[str, Schema] = data.get("$defs") or data.get("definitions") or {}
    return defs


@functools.cache
def builtin_resolver() -> Resolver:
    """Return the shared resolver over the built-in definitions."""
    return Resolver(builtin_definitions())


def crd_resolver(schema: Schema | None) -> tuple[Resolver, Schema]:
    """Return a resolver and root schema for a CRD version's ``openAPIV3Schema``.

    ``metadata`` is always ObjectMeta (a CRD may not describe it beyond name rules), and
    ``apiVersion``/``kind`` are strings; a missing schema keeps every field.
    """
    defs = builtin_definitions()
    res = Resolver(defs)
    res.lenient_objects = False
    root: Schema = dict(schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    props = dict(root.get("properties") or {})
    props["metadata"] = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    root["properties"] = props
    root.setdefault("type", "object")
    return res, root
