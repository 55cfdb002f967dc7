"""List pages parsed in part: what a reader drops of an item is skipped, never built.

A page of 5,000 Jobs or Deployments is ~30 MB of JSON and ~130 MiB of Python objects
parsed whole, most of it ``managedFields`` and pod templates that a full pass drops as
soon as it has them (:mod:`reconciler.runs.trimming`, :mod:`reconciler.apply.thin_copies`).
msgspec skips what a struct does not name while it parses, at C speed, and builds nothing
of it: :func:`parse_page` splits a page into its items' raw JSON, and :func:`partial`
parses one item keeping its ``metadata`` (less ``managedFields``), the ``spec`` fields
named and its ``status``. The caller decides per item whether that is all it needs, or
parses the item whole (:func:`whole`).

:func:`partial` refuses (returns None) any item with something an ObjectMeta, or an
object of ``apiVersion``/``kind``/``metadata``/``spec``/``status``, does not have (a
field of a newer API, a ``spec`` that is not a mapping, no ``spec`` at all): such an item
is parsed whole, so a caller's result is what dropping fields from the whole item gives.

Callers: :mod:`reconciler.runs.trimming` (pages of step Jobs) and
:mod:`reconciler.apply.thin_copies` (pages of serving objects known in sync), through
:meth:`reconciler.apply.manager.ResourceManager.list_resource`; the daemon's
:mod:`reconciler.daemon.clusterwatch` (its lists of step objects and Namespaces).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from reconciler.cluster import api

Manifest = dict[str, Any]


class _Meta(msgspec.Struct, forbid_unknown_fields=True):
    """Every field of an ObjectMeta (the API's names); ``managedFields`` is skipped."""

    name: Any = msgspec.UNSET
    generateName: Any = msgspec.UNSET
    namespace: Any = msgspec.UNSET
    selfLink: Any = msgspec.UNSET
    uid: Any = msgspec.UNSET
    resourceVersion: Any = msgspec.UNSET
    generation: Any = msgspec.UNSET
    creationTimestamp: Any = msgspec.UNSET
    deletionTimestamp: Any = msgspec.UNSET
    deletionGracePeriodSeconds: Any = msgspec.UNSET
    labels: Any = msgspec.UNSET
    annotations: Any = msgspec.UNSET
    ownerReferences: Any = msgspec.UNSET
    finalizers: Any = msgspec.UNSET
    managedFields: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


class _Page(msgspec.Struct):
    """A list body: its items left as raw JSON, each parsed on its own."""

    apiVersion: Any = msgspec.UNSET
    kind: Any = msgspec.UNSET
    metadata: Any = msgspec.UNSET
    items: list[msgspec.Raw] | None = None


_PAGE = msgspec.json.Decoder(_Page)


@functools.cache
def _item_decoder(spec_fields: frozenset[str]) -> msgspec.json.Decoder[Any]:
    """Return the parser of an item keeping ``spec_fields`` of its ``spec`` (one per set)."""
    spec = msgspec.defstruct("Spec", [(name, Any, msgspec.UNSET) for name in sorted(spec_fields)])
    item = msgspec.defstruct(
        "Item",
        [
            ("apiVersion", Any, msgspec.UNSET),
            ("kind", Any, msgspec.UNSET),
            ("metadata", _Meta | msgspec.UnsetType, msgspec.UNSET),
            ("spec", spec | msgspec.UnsetType, msgspec.UNSET),
            ("status", Any, msgspec.UNSET),
        ],
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(item)


def parse_page(raw: bytes, item: Callable[[msgspec.Raw], Any]) -> Manifest:
    """Parse a list body as ``json.loads`` would, each item by ``item`` (given its raw JSON).

    Returns the body's ``apiVersion``, ``kind`` and ``metadata`` (what a list body has
    besides its items) and ``items``. Raises ``ValueError`` for a body that is not a JSON
    object with a list (or null) of items.
    """
    try:
        page = _PAGE.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"not a list: {exc}") from exc
    out: Manifest = {}
    for name in ("apiVersion", "kind", "metadata"):
        value = getattr(page, name)
        if value is not msgspec.UNSET:
            out[name] = value
    out["items"] = [item(one) for one in page.items or ()]
    return out


def partial(raw: msgspec.Raw, spec_fields: Iterable[str]) -> Manifest | None:
    """Return an item with ``metadata`` but ``managedFields``, those ``spec`` fields, ``status``.

    None if the item has anything else (see the module docstring), no ``metadata`` or no
    ``spec``: the caller parses it whole. Keys absent from the item are absent here too.
    """
    try:
        obj = _item_decoder(frozenset(spec_fields)).decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if obj.metadata is msgspec.UNSET or obj.spec is msgspec.UNSET:
        return None
    obj.metadata.managedFields = msgspec.UNSET
    out: Manifest = msgspec.to_builtins(obj)
    return out


def whole(raw: msgspec.Raw) -> Any:
    """Parse one item whole, as any other body is (:func:`reconciler.cluster.api.loads`)."""
    return api.loads(bytes(memoryview(raw)))
