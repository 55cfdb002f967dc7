"""Raw Kubernetes objects and their identity.

An object's identity is formatted in exactly one place, :meth:`ObjectRef.__str__`
(``Kind/namespace/name``, or ``Kind/name`` for cluster-scoped objects); every error about
an object starts with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]
"""A Kubernetes object as JSON-compatible data (apiVersion, kind, metadata, ...)."""


def split_api_version(api_version: str) -> tuple[str, str]:
    """Return ``(group, version)`` of an apiVersion; the core group is ``""``."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def group_kind_of(obj: Manifest) -> tuple[str, str]:
    """Return ``(group, kind)`` of a manifest (the core group is ``""``)."""
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    return group, str(obj.get("kind", ""))


def key_of(obj: Manifest) -> tuple[str, str, str, str]:
    """Return ``ObjectRef.of(obj).key`` without building the reference (hot loops: every
    live and desired object of a sync is keyed several times)."""
    api_version = str(obj.get("apiVersion", ""))
    meta = obj.get("metadata") or {}
    return (
        api_version.split("/", 1)[0] if "/" in api_version else "",
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


@dataclass(frozen=True, order=True)
class ObjectRef:
    """The identity of one object: group, kind, namespace (``""`` if cluster-scoped), name."""

    group: str
    kind: str
    namespace: str
    name: str
    version: str = ""

    @classmethod
    def of(cls, obj: Manifest) -> ObjectRef:
        """Build the identity of a manifest; missing fields become ``""``."""
        group, version = split_api_version(str(obj.get("apiVersion", "")))
        meta = obj.get("metadata") or {}
        return cls(
            group=group,
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            version=version,
        )

    @property
    def group_kind(self) -> str:
        """``Kind.group`` as ApplySet annotations spell it (``Kind`` for the core group)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def key(self) -> tuple[str, str, str, str]:
        """A version-independent key for maps of live and desired objects."""
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"
