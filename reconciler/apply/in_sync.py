"""The in-sync memo: whether a live object is still what we last applied, without comparing.

Used by :mod:`reconciler.apply.manager_apply` (``prepare``, ``apply_one``), by
:class:`~reconciler.apply.manager.ResourceManager` (its ``verified`` memo, and the thin copies a
full pass's lists make of members it knows: :mod:`reconciler.apply.thin_copies`).

A pair (desired object, live object) is in sync when the live object's applied-hash
annotation equals the desired hash and its fields still hold every desired value exactly
(:func:`reconciler.apply.fields.drifted`). The memo remembers pairs found so by content
address: the applied hash, the live object's uid and resourceVersion (the server changes
it with every write, status included), the field manager and the version of the check.
Any change to either side misses it; nothing is ever invalidated by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from typing import Any

from reconciler.apply import fields, thin_copies
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest

DRIFT_VERSION = "drift-1"
"""Part of every key of the memo (``ResourceManager.verified``): a change of the check
invalidates it."""


def needs_apply(
    obj: Manifest,
    live: Manifest | None,
    *,
    field_manager: str = labels.FIELD_MANAGER,
    verified: MutableMapping[str, Any] | None = None,
) -> bool:
    """Return True unless ``live`` already is what we last applied and has not drifted.

    Exact for the fields we own (:func:`~reconciler.apply.fields.drifted`): an object this
    says True for gets a request, a server-side dry run in a plan.

    ``verified`` remembers the pairs found in sync, by content address: the applied hash of
    ``obj`` (it covers everything we send) and the live object's uid and resourceVersion
    (the server changes it with every write to the object, status included). The same
    pair again needs no field-by-field comparison; any change of either misses. A thin
    copy (:mod:`~reconciler.apply.thin_copies`) the memo does not know cannot be compared:
    True, and :func:`~reconciler.apply.manager_apply.apply_one` reads it whole before it decides.
    """
    if live is None:
        return True
    if fields.applied_hash(live) != fields.applied_hash(obj):
        return True
    key = _verified_key(obj, live, field_manager) if verified is not None else None
    if key is not None and verified is not None and verified.get(key) is True:
        return False
    if thin_copies.is_thin(live):
        return True  # nothing to compare: apply_one reads it whole first
    drifted = fields.drifted(obj, live, field_manager=field_manager)
    if not drifted and key is not None and verified is not None:
        verified[key] = True
    return drifted


def known_in_sync(live: Manifest, verified: Mapping[str, Any], field_manager: str) -> bool:
    """True if ``verified`` knows ``live`` in sync with the object whose hash it carries.

    Read as a list is decoded (see :mod:`~reconciler.apply.thin_copies`): the key is the
    one :func:`needs_apply` will look up when the desired object's hash is the live one's.
    """
    key = _verified_key_of(fields.applied_hash(live), live, field_manager)
    return key is not None and verified.get(key) is True


def _verified_key(obj: Manifest, live: Manifest, field_manager: str) -> str | None:
    """Return the content address of a (desired, live) pair, or None if it has none."""
    return _verified_key_of(fields.applied_hash(obj), live, field_manager)


def _verified_key_of(applied: str, live: Manifest, field_manager: str) -> str | None:
    """:func:`_verified_key` of a desired object whose applied hash is ``applied``."""
    meta = live.get("metadata") or {}
    uid, version = meta.get("uid"), meta.get("resourceVersion")
    if not (isinstance(uid, str) and uid and isinstance(version, str) and version and applied):
        return None
    text = f"{DRIFT_VERSION}\0{field_manager}\0{applied}\0{uid}\0{version}"
    return hashlib.sha256(text.encode()).hexdigest()
