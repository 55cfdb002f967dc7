"""The three non-apply patch formats: JSON merge, JSON patch and strategic merge.

- :func:`merge_patch` (``application/merge-patch+json``, RFC 7386): maps merge
  recursively, ``null`` deletes, anything else (lists included) replaces.
- :func:`json_patch` (``application/json-patch+json``, RFC 6902): add, remove, replace,
  move, copy, test on JSON pointers; a failed operation is a 422.
- :func:`strategic_merge_patch` (``application/strategic-merge-patch+json``): a merge
  patch that knows the built-in schema: lists with ``x-kubernetes-patch-strategy: merge``
  merge by their ``x-kubernetes-patch-merge-key`` (primitive lists by union), and the
  directives ``$patch: replace|delete|merge``, ``$setElementOrder/<list>``,
  ``$deleteFromPrimitiveList/<list>`` and ``$retainKeys`` are honoured. Custom resources
  do not support it (415, as kube-apiserver answers).

Callers: :mod:`.handlers`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from reconciler.sandbox import errors
from reconciler.sandbox.schemas import Node


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with RFC 7386 ``patch`` applied (inputs untouched)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ------------------------------------------------------------------------ JSON patch


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_error(f'invalid JSON pointer "{path}"')
    return [_unescape(t) for t in path[1:].split("/")]


def _patch_error(message: str) -> errors.ApiError:
    """A JSON patch that cannot be applied: kube-apiserver's 422 hides the cause
    (``message`` is for the sandbox's own log)."""
    del message
    return errors.ApiError(
        422, "Invalid", "the server rejected our request due to an error in our request", {}
    )


def _resolve(doc: Any, tokens: list[str], path: str) -> Any:
    cur = doc
    for t in tokens:
        if isinstance(cur, dict):
            if t not in cur:
                raise _patch_error(f'doc is missing path: "{path}": missing value')
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError) as exc:
                raise _patch_error(f'doc is missing path: "{path}": missing value') from exc
        else:
            raise _patch_error(f'doc is missing path: "{path}": missing value')
    return cur


def _add(doc: Any, tokens: list[str], value: Any, path: str) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError as exc:
                raise _patch_error(f'invalid index "{last}" in "{path}"') from exc
            if i < 0 or i > len(parent):
                raise _patch_error(f'add operation does not apply: doc is missing path: "{path}"')
            parent.insert(i, value)
    else:
        raise _patch_error(f'add operation does not apply: doc is missing path: "{path}"')
    return doc


def _remove(doc: Any, tokens: list[str], path: str) -> Any:
    if not tokens:
        raise _patch_error("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    try:
        if isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, list):
            del parent[int(last)]
        else:
            raise KeyError(last)
    except (KeyError, ValueError, IndexError) as exc:
        raise _patch_error(
            f'remove operation does not apply: doc is missing path: "{path}"'
        ) from exc
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """Return ``target`` with an RFC 6902 operation list applied (input untouched)."""
    if not isinstance(ops, list):
        raise errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict):
            raise _patch_error("invalid JSON patch operation")
        kind = op.get("op")
        path = str(op.get("path", ""))
        tokens = _pointer(path)
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")), path)
        elif kind == "remove":
            doc = _remove(doc, tokens, path)
        elif kind == "replace":
            _resolve(doc, tokens, path)
            if tokens:
                doc = _remove(doc, tokens, path)
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")), path)
        elif kind in ("move", "copy"):
            frm = str(op.get("from", ""))
            value = copy.deepcopy(_resolve(doc, _pointer(frm), frm))
            if kind == "move":
                doc = _remove(doc, _pointer(frm), frm)
            doc = _add(doc, tokens, value, path)
        elif kind == "test":
            if _resolve(doc, tokens, path) != op.get("value"):
                raise _patch_error(f"testing value {path} failed: test failed")
        else:
            raise _patch_error(f"Unexpected kind: {kind}")
    return doc


# -------------------------------------------------------------- strategic merge patch


def strategic_merge_patch(target: Any, patch: Any, node: Node) -> Any:
    """Return ``target`` with a strategic merge ``patch`` applied along schema ``node``."""
    return _smp(copy.deepcopy(target), copy.deepcopy(patch), node)


def _smp(target: Any, patch: Any, node: Node) -> Any:
    if not isinstance(patch, dict):
        return patch
    _known_directive(patch)
    directive = patch.pop("$patch", None)
    if directive == "replace":
        return patch
    if directive == "delete":
        return None
    retain = patch.pop("$retainKeys", None)
    out = dict(target) if isinstance(target, dict) else {}
    orders: dict[str, list[Any]] = {}
    deletes: dict[str, list[Any]] = {}
    for k in list(patch):
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = patch.pop(k) or []
        elif k.startswith("$deleteFromPrimitiveList/"):
            deletes[k.split("/", 1)[1]] = patch.pop(k) or []
    for k, v in patch.items():
        child = node.child(k) if node.kind in ("struct", "map") else node
        if v is None:
            out.pop(k, None)
            continue
        if child.kind == "list" and isinstance(v, list):
            out[k] = _smp_list(out.get(k), v, child, orders.pop(k, None))
        elif isinstance(v, dict):
            res = _smp(out.get(k), v, child)
            if res is None:
                out.pop(k, None)
            else:
                out[k] = res
        else:
            out[k] = v
    for k, values in deletes.items():
        if isinstance(out.get(k), list):
            out[k] = [x for x in out[k] if x not in values]
    for k, order in orders.items():
        child = node.child(k) if node.kind == "struct" else node
        if isinstance(out.get(k), list) and "merge" in (child.patch_strategy or ""):
            out[k] = _smp_list(out[k], [], child, order)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _smp_list(live: Any, patch: list[Any], node: Node, order: list[Any] | None = None) -> list[Any]:
    """Merge a patch list into a live list by the field's patch strategy and merge key.

    Lists without the merge strategy are replaced. Merged lists are ordered as
    apimachinery's strategic merge orders them: the patch's items in the patch's order
    (or ``$setElementOrder``'s), with the live-only items slotted in by their live order.
    """
    live = live if isinstance(live, list) else []
    strategy = node.patch_strategy.split(",") if node.patch_strategy else []
    if "merge" not in strategy:
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
        return patch
    key = node.patch_merge_key
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if not key:
        out = list(live)
        for x in patch:
            if x not in out:
                out.append(x)
        return _normalize_order(out, order if order is not None else patch, live, lambda x: x)
    out = [copy.deepcopy(x) for x in live]
    inode = node.item()
    for item in patch:
        if not isinstance(item, dict):
            raise errors.bad_request(f"expected a map in list with merge key {key!r}")
        if key not in item:  # kube-apiserver's strategic merge fails with a bare 500
            raise errors.storage_error(
                f"map: {go_print(item)} does not contain declared merge key: {key}"
            )
        _known_directive(item)
        idx = next(
            (i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            clean = dict(item)
            clean.pop("$patch", None)
            out.append(_smp({}, clean, inode))
        else:
            out[idx] = _smp(out[idx], dict(item), inode)
    wanted = order if order is not None else [x for x in patch if x.get("$patch") != "delete"]
    return _normalize_order(out, wanted, live, lambda x: x.get(key) if isinstance(x, dict) else x)


def _normalize_order(merged: list[Any], order: list[Any], live: list[Any], ident: Any) -> list[Any]:
    """Order ``merged``: items named in ``order`` in that order, the rest interleaved by
    their position in ``live`` (apimachinery's ``normalizeElementOrder``)."""

    def key(x: Any) -> str:
        return json.dumps(ident(x), sort_keys=True)

    patch_pos = {key(o): i for i, o in enumerate(order)}
    live_pos = {key(o): i for i, o in enumerate(live)}
    right = sorted((x for x in merged if key(x) in patch_pos), key=lambda x: patch_pos[key(x)])
    left = [x for x in merged if key(x) not in patch_pos]
    left.sort(key=lambda x: live_pos.get(key(x), len(live_pos)))
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li, ri = live_pos.get(key(left[i])), live_pos.get(key(right[j]))
            if li is not None and ri is not None and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _known_directive(patch: dict[str, Any]) -> None:
    """A ``$patch`` other than replace, delete or merge: the bare 500 Go's strategic merge
    gives, naming the map."""
    directive = patch.get("$patch")
    if directive is not None and directive not in ("replace", "delete", "merge"):
        raise errors.storage_error(f"unknown patch type: {directive} in map: {go_print(patch)}")


def go_print(value: Any) -> str:
    """Return ``value`` as Go's ``%v`` prints decoded JSON (``map[a:1 b:[x y]]``, keys
    sorted, numbers as float64 print them)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
