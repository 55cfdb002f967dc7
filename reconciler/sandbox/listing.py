"""Reads of many objects: list (selectors, pagination by continue tokens, resourceVersion
semantics), the encoding of list responses, and the set-up of watches.

Callers: :class:`~reconciler.sandbox.handlers.Api` (this is one of its parts).
"""

from __future__ import annotations

import base64
import builtins
import json
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

from reconciler.sandbox import errors, selectors
from reconciler.sandbox.encoding import json_bytes
from reconciler.sandbox.kinds import ResourceType
from reconciler.sandbox.request_params import Params
from reconciler.sandbox.storage import Event, Store, Watch

CONTINUE_TTL = 300.0

Obj = dict[str, Any]


class ListVerbs:
    """The listing verbs of :class:`~reconciler.sandbox.handlers.Api` (a mixin)."""

    store: Store
    clock: Callable[[], float]
    _continues: dict[str, tuple[float, int, list[Obj], int]]
    _continue_lock: threading.Lock
    _encoded: dict[int, tuple[Obj, bytes]]

    def list(self, rt: ResourceType, ns: str | None, params: Params) -> Obj:
        """Return a ``<Kind>List`` filtered by selectors, paginated by limit/continue."""
        label_sel = selectors.parse_label_selector(params.get("labelSelector"))
        field_sel = selectors.parse_field_selector(
            params.get("fieldSelector"), rt.plural, rt.builtin
        )
        limit_s = params.get("limit")
        limit = _parse_int(limit_s) if limit_s else 0
        self._check_list_version(params)
        token = params.get("continue")
        if token:
            with self._continue_lock:  # a token may be sent again (a retried request)
                entry = self._continues.get(token)
            if entry is None:
                _check_continue_token(token)
            if entry is None or self.clock() - entry[0] > CONTINUE_TTL:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use the "
                    "continue token in this response to retrieve the remainder of the results. "
                    "Continuing with the provided token results in an inconsistent list - objects "
                    "that were created, modified, or deleted between the time the first chunk was "
                    "returned and now may show up in the list."
                )
            _, rv, items, _ = entry
        else:
            with self.store.lock:
                rv = self.store.current_rv()
                name = selectors.exact_name(field_sel)
                if name is not None and ns is not None:
                    one = self.store.get(rt.key, ns if rt.namespaced else "", name)
                    candidates = [one] if one is not None else []
                else:
                    candidates = self.store.list(rt.key, ns if rt.namespaced else None)
            items = [
                o
                for o in candidates
                if selectors.matches_labels(label_sel, o) and selectors.matches_fields(field_sel, o)
            ]
        meta: Obj = {"resourceVersion": str(rv)}
        if not rt.builtin:
            meta["continue"] = ""  # an unstructured list's metadata always carries it
        if limit and len(items) > limit:
            rest = items[limit:]
            items = items[:limit]
            new_token = base64.urlsafe_b64encode(
                json.dumps({"rv": rv, "id": secrets.token_hex(8)}).encode()
            ).decode()
            with self._continue_lock:
                now = self.clock()
                for k in [k for k, v in self._continues.items() if now - v[0] > CONTINUE_TTL]:
                    del self._continues[k]
                self._continues[new_token] = (now, rv, rest, 0)
            meta["continue"] = new_token
            meta["remainingItemCount"] = len(rest)
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": items,
        }

    def encode_list(self, rt: ResourceType, listing: Obj) -> bytes:
        """Return a list response as JSON bytes, reusing each stored object's encoding.

        Items of built-in lists carry no apiVersion/kind (as typed lists are encoded);
        custom resources keep them. Stored objects are never mutated, so an object's
        bytes stay valid until a write replaces it.
        """
        strip = rt.builtin
        parts: builtins.list[bytes] = []
        fresh: builtins.list[tuple[Obj, bytes]] = []
        cache = self._encoded
        for o in listing["items"]:
            hit = cache.get(id(o))
            if hit is not None and hit[0] is o:
                parts.append(hit[1])
                continue
            body = {k: v for k, v in o.items() if k not in ("apiVersion", "kind")} if strip else o
            data = json_bytes(body)
            fresh.append((o, data))
            parts.append(data)
        if fresh:
            # Cached only if still stored (no stale entries), under one hold of the lock:
            # one per object waited, after a burst of writes, for every other holder in turn.
            with self.store.lock:
                for o, data in fresh:
                    meta = o.get("metadata") or {}
                    ns, name = meta.get("namespace") or "", meta.get("name", "")
                    if self.store.get(rt.key, ns, name) is o:
                        cache[id(o)] = (o, data)
        head = json.dumps(
            {
                "kind": listing["kind"],
                "apiVersion": listing["apiVersion"],
                "metadata": listing["metadata"],
            },
            separators=(",", ":"),
        ).encode()
        return head[:-1] + b',"items":[' + b",".join(parts) + b"]}"

    def _forget_encoding(self, ev: Event) -> None:
        if ev.old is not None:
            self._encoded.pop(id(ev.old), None)

    def _check_list_version(self, params: Params) -> None:
        """Answer what a list at a given resourceVersion cannot be served as.

        The sandbox keeps no old snapshots: ``resourceVersionMatch=Exact`` of an older
        version is 410 Expired; a version newer than the server's is 504 (Too large
        resource version), as kube-apiserver answers after its wait.
        """
        rv_s = params.get("resourceVersion")
        match = params.get("resourceVersionMatch")
        if match and not rv_s:
            raise errors.bad_request(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                "resourceVersion is provided"
            )
        if match and match not in ("Exact", "NotOlderThan"):
            raise errors.bad_request(
                f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
                '"Exact", "NotOlderThan"'
            )
        if not rv_s or rv_s == "0":
            return
        rv = parse_resource_version(rv_s)
        current = self.store.current_rv()
        if rv > current:
            raise errors.ApiError(
                504,
                "Timeout",
                f"Timeout: Too large resource version: {rv}, current: {current}",
                {
                    "causes": [
                        {
                            "reason": "ResourceVersionTooLarge",
                            "message": "Too large resource version",
                        }
                    ],
                    "retryAfterSeconds": 1,
                },
            )
        if match == "Exact" and rv != current:
            raise errors.expired(f"too old resource version: {rv} ({current})")

    def open_watch(
        self, rt: ResourceType, ns: str | None, params: Params
    ) -> tuple[Watch, builtins.list[Event], bool]:
        """Open a watch; returns (watch, events to send first, send initial-end bookmark)."""
        label_sel = selectors.parse_label_selector(params.get("labelSelector"))
        field_sel = selectors.parse_field_selector(
            params.get("fieldSelector"), rt.plural, rt.builtin
        )

        def accept(o: Obj) -> bool:
            return selectors.matches_labels(label_sel, o) and selectors.matches_fields(field_sel, o)

        rv_s = params.get("resourceVersion")
        initial = params.get("sendInitialEvents") == "true"
        scope = ns if rt.namespaced else None
        with self.store.lock:
            if rv_s in ("", "0") or initial:
                w, _ = self.store.watch(rt.key, scope, accept, None)
                first = [
                    Event(int(o["metadata"]["resourceVersion"]), rt.key, "ADDED", o)
                    for o in self.store.list(rt.key, scope)
                    if accept(o)
                ]
                return w, first, initial
            since = parse_resource_version(rv_s)
            try:
                w, replay = self.store.watch(rt.key, scope, accept, since)
            except LookupError as exc:
                raise errors.expired(f"too old resource version: {since} ({exc.args[0]})") from None
        return w, replay, False


_DECIMAL = re.compile(r"[+-]?[0-9]+")


def _parse_int(text: str) -> int:
    """Return ``text`` as Go's ``strconv.ParseInt(text, 10, 64)`` reads it; 400 with its
    message if it does not (no spaces, underscores or other scripts' digits)."""
    if not _DECIMAL.fullmatch(text):
        raise errors.bad_request(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def parse_resource_version(text: str) -> int:
    """Return a list's or watch's ``resourceVersion`` as kube-apiserver reads it (an
    unsigned decimal); 400 with its message if it is not one."""
    why = ""
    if not text.isascii() or not text.isdigit():
        why = "invalid syntax"
    elif int(text) >= 2**64:
        why = "value out of range"
    if why:
        raise errors.bad_request(
            f'invalid resource version: resourceVersion: Invalid value: "{text}": '
            f'strconv.ParseUint: parsing "{text}": {why}'
        )
    return int(text)


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _check_continue_token(token: str) -> None:
    """Raise 400 for a continue token that is not one (malformed base64 or JSON).

    kube-apiserver decodes tokens as unpadded URL-safe base64 of a JSON object and names
    the offending byte as Go's decoder does; a well-formed token it no longer knows is
    410 Expired instead (the caller's case).
    """
    stripped = token.rstrip("=")
    bad = next((i for i, c in enumerate(stripped) if c not in _B64URL), None)
    if bad is None and len(stripped) % 4 == 1:
        bad = len(stripped) - 1
    if bad is not None:
        raise errors.bad_request(
            "invalid continue token: continue key is not valid: "
            f"illegal base64 data at input byte {bad}"
        )
    try:
        decoded = json.loads(base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4)))
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise errors.bad_request("invalid continue token: continue key is not valid")
