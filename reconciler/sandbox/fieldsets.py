"""Field sets: the paths of an object's fields, as server-side apply tracks ownership.

A path is a tuple of path elements spelled as in ``fieldsV1`` (``f:spec``,
``k:{"name":"app"}``, ``v:"x"``, ``i:0``); a field set is a Python ``set`` of paths.
The walks follow structured-merge-diff (``typed/tofieldset.go``, ``compare.go``,
``remove.go``, ``merge.go``) over the :class:`~.schemas.Node` view of a schema:

- :func:`to_field_set`: the leaves and list items a value sets (what an applier owns).
- :func:`compare`: added / modified / removed paths between two values.
- :func:`remove_paths`: a value without some paths (a member path drops its subtree).
- :func:`merge`: a config merged over a live value (lists by key, leaves replaced).
- :func:`encode` / :func:`decode`: the ``fieldsV1`` JSON form.

Callers: :mod:`.apply` (server-side apply and managedFields).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from reconciler.sandbox import errors
from reconciler.sandbox.schemas import KEY_DEFAULTS, Node

Path = tuple[str, ...]
FieldSet = set[Path]


class _Missing:
    """Marks an absent value (distinct from an explicit JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def item_element(item: Any, node: Node, where: str = "") -> str:
    """Return the path element of one list item (``k:{...}`` or ``v:...``).

    Raises a 400 if an item of a keyed list lacks a key field that has no default.
    """
    if node.list_type == "map":
        if not isinstance(item, dict):
            raise errors.bad_request(f"{where}: expected map list items, got {_dumps(item)}")
        key: dict[str, Any] = {}
        for k in node.keys:
            if k in item and item[k] is not None:
                key[k] = item[k]
            elif k in KEY_DEFAULTS:
                key[k] = KEY_DEFAULTS[k]
            else:
                raise errors.bad_request(
                    f"{where}: associative list with keys has an element that omits key "
                    f'field "{k}" (and doesn\'t have default value)'
                )
        return "k:" + _dumps(key)
    return "v:" + _dumps(item)


def _is_leaf(node: Node, value: Any) -> bool:
    if node.kind == "deduced":
        return not isinstance(value, dict)
    if node.kind in ("scalar", "unknown"):
        return True
    if node.kind == "list":
        return node.list_type == "atomic" or not isinstance(value, list)
    if node.kind in ("struct", "map"):
        return node.atomic or not isinstance(value, dict)
    return True


def _children(node: Node, value: Any, where: str) -> Iterable[tuple[str, Any, Node, bool]]:
    """Yield (element, child value, child node, named-field?) of a granular value."""
    if isinstance(value, dict):
        for k, v in value.items():
            named = node.kind == "struct" and k in node.fields
            yield "f:" + k, v, node.child(k), named
    elif isinstance(value, list):
        inode = node.item()
        for v in value:
            yield item_element(v, node, where), v, inode, False


def to_field_set(value: Any, node: Node, prefix: Path = ()) -> FieldSet:
    """Return the field set of ``value`` (leaves, list items, map keys) under ``prefix``."""
    out: FieldSet = set()
    _to_set(value, node, prefix, out)
    return out


def _to_set(value: Any, node: Node, path: Path, out: FieldSet) -> None:
    if _is_leaf(node, value):
        if path:
            out.add(path)
        return
    if isinstance(value, list):
        seen: dict[str, int] = {}
        items = list(_children(node, value, _pretty(path)))
        for pe, _, _, _ in items:
            seen[pe] = seen.get(pe, 0) + 1
        for pe, v, cnode, _ in items:
            if seen[pe] > 1:
                out.add((*path, pe))
                continue
            _to_set(v, cnode, (*path, pe), out)
            out.add((*path, pe))
        return
    for pe, v, cnode, named in _children(node, value, _pretty(path)):
        p = (*path, pe)
        _to_set(v, cnode, p, out)
        if v is None or (isinstance(v, dict) and not v) or not named:
            out.add(p)


def compare(old: Any, new: Any, node: Node) -> tuple[FieldSet, FieldSet, FieldSet]:
    """Return (added, modified, removed) paths from ``old`` to ``new`` (MISSING: absent)."""
    added: FieldSet = set()
    modified: FieldSet = set()
    removed: FieldSet = set()
    _compare(old, new, node, (), added, modified, removed)
    return added, modified, removed


def _compare(
    old: Any,
    new: Any,
    node: Node,
    path: Path,
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
) -> None:
    if old is MISSING and new is MISSING:
        return
    if old is MISSING:
        _all_paths(new, node, path, added)
        return
    if new is MISSING:
        _all_paths(old, node, path, removed)
        return
    leaf = _is_leaf(node, old) or _is_leaf(node, new) or type(old) is not type(new)
    if leaf:
        if old != new and path:
            modified.add(path)
        return
    where = _pretty(path)
    if isinstance(old, dict):
        for k in old.keys() | new.keys():
            cnode = node.child(k)
            _compare(
                old.get(k, MISSING),
                new.get(k, MISSING),
                cnode,
                (*path, "f:" + k),
                added,
                modified,
                removed,
            )
        return
    olds = _index(old, node, where)
    news = _index(new, node, where)
    inode = node.item()
    for pe in olds.keys() | news.keys():
        o = olds.get(pe, [MISSING])
        n = news.get(pe, [MISSING])
        if len(o) > 1 or len(n) > 1:
            if o != n:
                modified.add((*path, pe))
            continue
        _compare(o[0], n[0], inode, (*path, pe), added, modified, removed)


def _all_paths(value: Any, node: Node, path: Path, out: FieldSet) -> None:
    """Add ``path`` and every path beneath it (compare's view of an added subtree)."""
    if path:
        out.add(path)
    if _is_leaf(node, value):
        return
    for pe, v, cnode, _ in _children(node, value, _pretty(path)):
        _all_paths(v, cnode, (*path, pe), out)


def _index(items: list[Any], node: Node, where: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for v in items:
        out.setdefault(item_element(v, node, where), []).append(v)
    return out


class _Trie:
    __slots__ = ("children", "member")

    def __init__(self) -> None:
        self.member = False
        self.children: dict[str, _Trie] = {}


def _trie(paths: Iterable[Path]) -> _Trie:
    root = _Trie()
    for p in paths:
        t = root
        for pe in p:
            nxt = t.children.get(pe)
            if nxt is None:
                nxt = t.children[pe] = _Trie()
            t = nxt
        t.member = True
    return root


def remove_paths(value: Any, paths: Iterable[Path], node: Node) -> Any:
    """Return ``value`` without ``paths`` (a path removes its whole subtree).

    A map or list emptied by the removal disappears too (as a Go ``omitempty`` field
    does); one that was empty before stays.
    """
    trie = _trie(paths)
    if not trie.children:
        return value
    out = _remove(value, node, trie, "")
    return {} if out is MISSING else out


def _remove(value: Any, node: Node, trie: _Trie, where: str) -> Any:
    if _is_leaf(node, value):
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = trie.children.get("f:" + k)
            if sub is None:
                out[k] = v
                continue
            if sub.member:
                continue
            nv = _remove(v, node.child(k), sub, where)
            if nv is not MISSING:
                out[k] = nv
        if not out and value:
            return MISSING
        return out
    items: list[Any] = []
    inode = node.item()
    for v in value:
        sub = trie.children.get(item_element(v, node, where))
        if sub is None:
            items.append(v)
            continue
        if sub.member:
            continue
        nv = _remove(v, inode, sub, where)
        if nv is not MISSING:
            items.append(nv)
    if not items and value:
        return MISSING
    return items


def merge(live: Any, config: Any, node: Node, path: Path = ()) -> Any:
    """Return ``config`` merged over ``live`` as server-side apply merges them.

    Structs and granular maps merge key by key; keyed lists merge item by item (the
    live order kept, config items in config order); leaves, atomic lists and atomic
    maps are replaced by the config's value.
    """
    if live is MISSING:
        return config
    if config is MISSING:
        return live
    if _is_leaf(node, config) or _is_leaf(node, live) or type(live) is not type(config):
        return config
    if isinstance(config, dict):
        out = dict(live)
        for k, v in config.items():
            out[k] = merge(live.get(k, MISSING), v, node.child(k), (*path, "f:" + k))
        return out
    return _merge_list(live, config, node, path)


def _merge_list(live: list[Any], config: list[Any], node: Node, path: Path) -> list[Any]:
    where = _pretty(path)
    lpes = [item_element(v, node, where) for v in live]
    rpes = [item_element(v, node, where) for v in config]
    lmap = dict(zip(lpes, live, strict=True))
    rmap = dict(zip(rpes, config, strict=True))
    lpes = list(dict.fromkeys(lpes))
    rpes = list(dict.fromkeys(rpes))
    inode = node.item()
    shared = [pe for pe in rpes if pe in lmap]
    nxt = shared.pop(0) if shared else None
    merged: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged.add(pe)
                out.append(merge(lmap[pe], rmap[pe], inode, (*path, pe)))
                li += 1
                ri += 1
                nxt = shared.pop(0) if shared else None
                continue
            if pe in rmap and nxt is not None and nxt != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in rmap:
                out.append(lmap[pe])
                li += 1
                continue
            if pe in merged:
                li += 1
        if ri < len(rpes):
            pe = rpes[ri]
            merged.add(pe)
            out.append(merge(lmap.get(pe, MISSING), rmap[pe], inode, (*path, pe)))
            ri += 1
            if nxt is not None and nxt == pe:
                nxt = shared.pop(0) if shared else None
    return out


def named_fields_as_members(paths: FieldSet, root: Node) -> FieldSet:
    """Return ``paths`` plus every ancestor that is a declared struct field.

    structured-merge-diff's ``EnsureNamedFieldsAreMembers``: pruning a manager's old
    fields treats the struct fields it had set beneath as its own.
    """
    out = set(paths)
    for p in paths:
        node = root
        for i, pe in enumerate(p[:-1]):
            if pe.startswith("f:"):
                name = pe[2:]
                if node.kind == "struct" and name in node.fields:
                    out.add(p[: i + 1])
                node = node.child(name)
            else:
                node = node.item()
    return out


def strip(paths: FieldSet, exact: Iterable[Path] = (), subtrees: Iterable[Path] = ()) -> FieldSet:
    """Return ``paths`` without the ``exact`` paths and without anything under ``subtrees``."""
    ex = set(exact)
    subs = tuple(subtrees)
    return {p for p in paths if p not in ex and not any(p[: len(s)] == s for s in subs)}


# ---------------------------------------------------------------- fieldsV1 JSON form


def _sort_key(pe: str) -> tuple[int, Any]:
    tag = pe[:2]
    if tag == "f:":
        return (0, pe[2:])
    if tag == "k:":
        return (1, pe[2:])
    if tag == "v:":
        return (2, pe[2:])
    if tag == "i:":
        try:
            return (3, int(pe[2:]))
        except ValueError:
            return (3, 0)
    return (4, pe)


def encode(paths: Iterable[Path]) -> dict[str, Any]:
    """Return the ``fieldsV1`` object of a field set (sorted as the apiserver sorts it)."""
    return _encode(_trie(paths), include_self=False)


def _encode(t: _Trie, include_self: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if include_self and t.member and t.children:
        out["."] = {}
    for pe in sorted(t.children, key=_sort_key):
        out[pe] = _encode(t.children[pe], include_self=True)
    return out


def decode(fields: Any) -> FieldSet:
    """Return the field set of a ``fieldsV1`` object (ignores malformed parts)."""
    out: FieldSet = set()
    if isinstance(fields, dict):
        _decode(fields, (), out)
    return out


def _decode(obj: dict[str, Any], path: Path, out: FieldSet) -> None:
    for k, v in obj.items():
        if k == ".":
            if path:
                out.add(path)
            continue
        p = (*path, k)
        if isinstance(v, dict) and v:
            _decode(v, p, out)
        else:
            out.add(p)


def pretty(path: Path) -> str:
    """Return the path as structured-merge-diff prints it: ``.spec.containers[name="a"]``."""
    return _pretty(path)


def _pretty(path: Path) -> str:
    parts: list[str] = []
    for pe in path:
        tag, body = pe[:2], pe[2:]
        if tag == "f:":
            parts.append("." + body)
        elif tag == "k:":
            try:
                key = json.loads(body)
                inner = ",".join(f"{k}={json.dumps(v)}" for k, v in key.items())
            except ValueError:
                inner = body
            parts.append(f"[{inner}]")
        elif tag == "v:":
            parts.append(f"[={body}]")
        elif tag == "i:":
            parts.append(f"[{body}]")
        else:
            parts.append(pe)
    return "".join(parts)
