"""YAML request bodies read as kube-apiserver reads them: go-yaml v2, then JSON.

Called by :mod:`.request_params` for a body that is not JSON under a YAML content type
(``application/apply-patch+yaml``, ``application/yaml``). kube-apiserver decodes such a body
with ``sigs.k8s.io/yaml``: go-yaml v2 into untyped data, then JSON. So its scalars are not
PyYAML's YAML 1.1 and not the YAML 1.2 the project's own documents use:

- a scalar that looks like a timestamp stays the string it was written as (go-yaml keeps
  it a string when decoding into untyped data; PyYAML would make a ``date``, which JSON
  cannot carry);
- ``y``/``yes``/``on`` and ``n``/``no``/``off`` (any of the three casings) are booleans;
- integers are read as Go's ``strconv.ParseInt`` with base 0 reads them after underscores
  are dropped: ``0x``, ``0o``, ``0b`` prefixes and a leading ``0`` for octal; there are
  no base-60 numbers (``10:20:30`` is a string);
- ``.nan`` and ``.inf`` are floats that JSON has not: the body is refused (400), as
  kube-apiserver's JSON step refuses them; nothing is stored;
- aliases are expanded as go-yaml expands them, up to its limit: a document in which
  aliases make more than a share of the nodes (99% up to 400,000 nodes, falling to 10% at
  4,000,000) is refused as "excessive aliasing" after counting, never expanded, so an
  alias bomb costs the size of its text; a recursive alias is refused too. A body that
  uses an alias within the limit is copied out, so no two places share one object.
"""

from __future__ import annotations

import json
import re
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.resolver import BaseResolver

from reconciler.structs.codec import CParser


class Refused(ValueError):
    """A body go-yaml or Go's JSON encoder refuses (a value JSON has not, too many aliases);
    the message is theirs."""


class _Resolver(BaseResolver):  # type: ignore[misc]  # PyYAML has no type hints
    """go-yaml v2's implicit types for untyped data (no timestamps, no base 60)."""


_CASES = "y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
_INT = r"^[-+]?(?:0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)$"
_FLOAT = (
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", f"^(?:{_CASES})$", list("yYnNtTfFoO")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),  # before float: tried first
    ("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789.")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    _Resolver.add_implicit_resolver(_tag, re.compile(_pattern), _first)

_OCTAL = re.compile(r"^[-+]?0[0-7]+$")


class _Constructor(SafeConstructor):  # type: ignore[misc]
    """Plain data as go-yaml v2 then Go's JSON encoder make it; no float JSON lacks."""

    def construct_yaml_int(self, node: Any) -> int:
        text = str(self.construct_scalar(node)).replace("_", "")
        if _OCTAL.match(text):
            return int(text, 8)
        return int(text, 0)

    def construct_yaml_float(self, node: Any) -> float:
        text = str(self.construct_scalar(node)).replace("_", "").lower()
        if text.lstrip("+-") in (".inf", ".nan"):
            name = "NaN" if text == ".nan" else ("-Inf" if text.startswith("-") else "+Inf")
            raise Refused(f"json: unsupported value: {name}")
        return float(text)

    def construct_yaml_bool(self, node: Any) -> bool:
        text = str(self.construct_scalar(node))
        return text in ("y", "Y") or text.lower() in ("true", "yes", "on")


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)
_Constructor.add_constructor("tag:yaml.org,2002:bool", _Constructor.construct_yaml_bool)
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


class _Loader(CParser, _Constructor, _Resolver):  # type: ignore[misc]
    def __init__(self, stream: str | bytes) -> None:
        CParser.__init__(self, stream)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


def load(text: str) -> Any:
    """Return the data of a YAML body's first document (go-yaml reads no further);
    ``yaml.YAMLError`` (with its line) if it does not parse, :class:`Refused` if it aliases
    too much or holds a value JSON cannot carry."""
    loader = _Loader(text)
    try:  # go-yaml reads the first document of a stream and ignores the rest
        data = loader.get_data() if loader.check_data() else None
    finally:
        loader.dispose()
    if "*" not in text:
        return data
    expanded, distinct = _node_counts(data)
    added = expanded - distinct
    if expanded > 1000 and added > 100 and added / expanded > _allowed_alias_share(expanded):
        raise Refused("yaml: document contains excessive aliasing")
    return json.loads(json.dumps(data))  # shared objects copied apart


def _allowed_alias_share(nodes: int) -> float:
    """go-yaml v2's ``allowedAliasRatio``: the share of nodes aliases may add."""
    low, high = 400_000, 4_000_000
    if nodes <= low:
        return 0.99
    if nodes >= high:
        return 0.10
    return 0.99 - 0.89 * (nodes - low) / (high - low)


def _node_counts(data: Any) -> tuple[int, int]:
    """Return (nodes once aliases are expanded, distinct nodes) of constructed data, each
    shared mapping or sequence counted by reference without being walked again; a
    recursive alias (a structure inside itself) is :class:`Refused`."""
    if not isinstance(data, dict | list):
        return 1, 1
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()
    distinct = 0
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        item, done = stack.pop()
        children = list(item.values()) if isinstance(item, dict) else item
        if done:
            on_stack.discard(id(item))
            keys = len(item) if isinstance(item, dict) else 0
            sizes[id(item)] = (
                1 + keys + sum(sizes[id(c)] if isinstance(c, dict | list) else 1 for c in children)
            )
            continue
        if id(item) in sizes:
            continue
        distinct += 1 + (len(item) if isinstance(item, dict) else 0)
        on_stack.add(id(item))
        stack.append((item, True))
        for child in children:
            if not isinstance(child, dict | list):
                distinct += 1
            elif id(child) in on_stack:
                raise Refused("yaml: a recursive alias (an anchor used inside itself)")
            elif id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(data)], distinct
