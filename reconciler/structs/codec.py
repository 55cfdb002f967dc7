"""Machine-written YAML, read and written at C speed with YAML 1.2 semantics.

Called by :mod:`reconciler.provenance.records` (``RunRecord.to_yaml``/``from_yaml``) and
:mod:`reconciler.render.kustomize` (Kustomize's output, :func:`load_stream`). Records and
Kustomize output are machine-written and read thousands of times per reconcile, so they go
through libyaml (PyYAML's C parser and emitter) instead of a pure-Python parser with
position tracking (which the pipeline specs people write keep).

The resolver is YAML 1.2's core schema as the project's other YAML (ruamel) reads it:
``yes``/``no``/``on``/``off`` are strings, ``0o17`` is octal, ``1e3`` is a float. Scalars
that look like timestamps are strings (no date is ever constructed: the record's times are
ISO strings). The emitter uses the same resolver, so a string that would read back as
something else is quoted.

Bytes matter: the same record must always be the same blob, also when an older reconciler
(which wrote with ruamel) wrote it first. libyaml's output equals ruamel's for plain printable
text (tests compare both on generated data); where the two emitters may choose different
quoting (quotes, backslashes, line breaks, characters outside the printable Basic Multilingual
Plane), the record is also written by ruamel and that form is kept if it reads back exactly.
Whatever is written reads back exactly as the data it came from.

Anchors and aliases never appear in what we write; a record that has them is refused, so a
hand-made "alias bomb" cannot make anything that walks the data explode.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.representer import SafeRepresenter
from yaml.resolver import BaseResolver

try:
    from yaml.cyaml import CEmitter
    from yaml.cyaml import CParser as CParser  # re-exported: the sandbox reads YAML with it
except ImportError:  # PyYAML built without libyaml: the same classes in pure Python, slower
    from yaml.composer import Composer
    from yaml.emitter import Emitter as _PyEmitter
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner
    from yaml.serializer import Serializer

    class CParser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef,misc]
        def __init__(self, stream: str | bytes) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)

    class CEmitter(_PyEmitter, Serializer):  # type: ignore[no-redef,misc]
        def __init__(self, stream: Any, **kw: Any) -> None:
            _PyEmitter.__init__(
                self, stream, width=kw.get("width"), allow_unicode=kw.get("allow_unicode")
            )
            Serializer.__init__(self)


YAMLError = yaml.YAMLError

_IMPLICIT: list[tuple[str, str, list[str]]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (
        "tag:yaml.org,2002:float",
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        list("-+0123456789."),
    ),
    (
        "tag:yaml.org,2002:int",
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""",
        list("-+0123456789"),
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (
        "tag:yaml.org,2002:timestamp",
        r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
        list("0123456789"),
    ),
    ("tag:yaml.org,2002:value", r"^(?:=)$", ["="]),
]


class Resolver(BaseResolver):  # type: ignore[misc]  # PyYAML has no type hints
    """YAML 1.2 core-schema implicit types (as ruamel resolves them), timestamps included."""


for _tag, _pattern, _first in _IMPLICIT:
    Resolver.add_implicit_resolver(_tag, re.compile(_pattern, re.X), _first)


class Constructor(SafeConstructor):  # type: ignore[misc]
    """Plain data with YAML 1.2 numbers; timestamps and ``=`` stay strings."""

    def construct_yaml_int(self, node: Any) -> int:
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text[0] == "-" else 1
        text = text.lstrip("+-")
        for prefix, base in (("0b", 2), ("0x", 16), ("0o", 8)):
            if text.startswith(prefix):
                return sign * int(text[2:], base)
        return sign * int(text)

    def construct_yaml_float(self, node: Any) -> float:
        text = str(self.construct_scalar(node)).replace("_", "").lower()
        sign = -1.0 if text[0] == "-" else 1.0
        text = text.lstrip("+-")
        if text == ".inf":
            return sign * float("inf")
        if text == ".nan":
            return float("nan")
        return sign * float(text)

    def construct_yaml_bool(self, node: Any) -> bool:
        return str(self.construct_scalar(node)).lower() == "true"


Constructor.add_constructor("tag:yaml.org,2002:int", Constructor.construct_yaml_int)
Constructor.add_constructor("tag:yaml.org,2002:float", Constructor.construct_yaml_float)
Constructor.add_constructor("tag:yaml.org,2002:bool", Constructor.construct_yaml_bool)
Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
Constructor.add_constructor("tag:yaml.org,2002:value", SafeConstructor.construct_yaml_str)


class Representer(SafeRepresenter):  # type: ignore[misc]
    """Plain data as ruamel's YAML 1.2 safe representer writes it; never an anchor."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_float(self, data: float) -> yaml.ScalarNode:
        if data != data:
            value = ".nan"
        elif data == float("inf"):
            value = ".inf"
        elif data == float("-inf"):
            value = "-.inf"
        else:
            value = repr(data).lower()
        return self.represent_scalar("tag:yaml.org,2002:float", value)


Representer.add_representer(float, Representer.represent_float)


class Loader(CParser, Constructor, Resolver):  # type: ignore[misc]
    """libyaml's parser with :class:`Constructor` and :class:`Resolver`."""

    def __init__(self, stream: str | bytes) -> None:
        CParser.__init__(self, stream)
        Constructor.__init__(self)
        Resolver.__init__(self)


class Dumper(CEmitter, Representer, Resolver):  # type: ignore[misc]
    """libyaml's emitter with :class:`Representer` and :class:`Resolver`."""

    def __init__(self, stream: Any, **kw: Any) -> None:
        CEmitter.__init__(
            self,
            stream,
            canonical=None,
            indent=None,
            width=kw.get("width"),
            allow_unicode=kw.get("allow_unicode"),
            line_break=None,
            encoding=None,
            explicit_start=None,
            explicit_end=None,
            version=None,
            tags=None,
        )
        Representer.__init__(  # type: ignore[call-arg]
            self,
            default_style=None,
            default_flow_style=kw.get("default_flow_style"),
            sort_keys=kw.get("sort_keys", False),
        )
        Resolver.__init__(self)


# Output in which libyaml and ruamel may have chosen different quoting or escapes. An
# empty string (`` ''`` ending its line) is written alike by both; any other ``''`` (an
# escaped quote inside a single-quoted scalar) is not known to be.
_UNSURE = re.compile("[\"\\\\]|(?<! )''|''(?!\n)|\\? |\n\n|[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd]")


def dump(data: Any) -> str:
    """Return the block-style YAML of plain data, keys in insertion order (see the module)."""
    text: str = yaml.dump(
        data,
        Dumper=Dumper,
        default_flow_style=False,
        width=4096,
        allow_unicode=True,
        sort_keys=False,
    )
    if _UNSURE.search(text):
        legacy = _ruamel_dump(data)
        if legacy != text and _reads_back(legacy, data):
            return legacy
    return text


def _ruamel_dump(data: Any) -> str:
    """Return what the ruamel-based writer of earlier versions wrote for ``data``."""
    import io

    from ruamel.yaml import YAML

    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.width = 4096
    writer.representer.sort_base_mapping_type_on_output = False
    buf = io.StringIO()
    writer.dump(data, buf)
    return buf.getvalue()


def _reads_back(text: str, data: Any) -> bool:
    try:
        return bool(load(text) == data)
    except YAMLError:
        return False


def load(text: str | bytes) -> Any:
    """Parse one YAML document into plain data; YAMLError (with its mark) if it is not one.

    A document with anchors or aliases is refused with a ConstructorError.
    """
    data = yaml.load(text, Loader=Loader)  # our own safe Loader
    probe = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if (b"&" in probe or b"*" in probe) and _shares_nodes(data):
        raise ConstructorError(None, None, "anchors and aliases are not allowed in a record")
    return data


def load_stream(text: str | bytes) -> list[Any]:
    """Parse every document of a YAML stream into plain data (YAML 1.2, timestamps as text).

    Unlike :func:`load` anchors and aliases are allowed (Kustomize's inputs are checked
    for alias bombs before it runs). Raises YAMLError (with its mark) if it does not parse.
    """
    return list(yaml.load_all(text, Loader=Loader))


def _shares_nodes(data: Any) -> bool:
    """True if a mapping or sequence appears twice in ``data`` (an alias was used)."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                return True
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return False
