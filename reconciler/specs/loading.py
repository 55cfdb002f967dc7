"""Read YAML from the watched repository safely, keeping line and column positions.

Called by render (pipeline and environment files), validate and review before
``reconciler.specs.validation`` turns documents into models. Everything a user can get
wrong in a file (syntax, size, duplicate keys, several documents where one is expected,
alias "bombs", custom tags, undecodable bytes) becomes a :class:`SpecError` raised as
:class:`SpecErrors`; no YAML exception escapes.

Documents are ruamel.yaml round-trip types (``CommentedMap``/``CommentedSeq`` with
``.lc`` positions) so that :class:`Locator` can point errors at a line. Aliases are not
copied by ruamel (an alias is the same Python object as its anchor), but any consumer that
walks or serialises the data expands them, so documents whose expansion exceeds a node
budget, or that contain recursive aliases, are refused before they are constructed.

Field paths (``spec.steps[1].needs[0]``) are written and read by :func:`format_field` and
:func:`parse_field`: simple keys (``[A-Za-z0-9_-]+``) are joined with dots, other keys
are quoted as JSON strings in brackets (``metadata.labels["app.kubernetes.io/name"]``),
list indices are ``[n]``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from reconciler.structs.errors import SpecError, SpecErrors

MAX_BYTES = 1 << 20
"""Files larger than this (1 MiB) are refused unless the caller passes a larger limit."""

MAX_DEPTH = 64
"""Deepest nesting of collections accepted (guards the recursive parts of the loader)."""

MAX_ALIAS_EXPANSION = 10_000
"""Nodes that aliases may add to a document once expanded (a billion-laughs guard)."""

YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    YAML_TAG_PREFIX + t
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
)

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_FIELD_TOKEN = re.compile(r'\.?([A-Za-z0-9_-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def format_field(parts: Sequence[str | int]) -> str:
    """Join keys and indices into a field path (``spec.steps[1].needs[0]``).

    Keys that are not ``[A-Za-z0-9_-]+`` (label keys with dots or slashes, empty keys) are
    written as ``["..."]`` (JSON string syntax), so every path parses back unambiguously.
    """
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _SIMPLE_KEY.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def join_field(base: str, part: str | int) -> str:
    """Return ``base`` extended by one key or index (see :func:`format_field`)."""
    if isinstance(part, int):
        return f"{base}[{part}]"
    tail = format_field([part])
    if not base:
        return tail
    return f"{base}{tail}" if tail.startswith("[") else f"{base}.{tail}"


def parse_field(field: str) -> list[str | int] | None:
    """Split a field path into keys and indices; None if it is not a well-formed path."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(field):
        m = _FIELD_TOKEN.match(field, pos)
        if m is None or (pos == 0 and field.startswith(".")):
            return None
        if m.group(1) is not None:
            if pos > 0 and not field.startswith(".", pos):
                return None
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(json.loads(m.group(3)))
        pos = m.end()
    return parts


class Locator:
    """Maps a field path of one document to its ``(line, column)``, both 1-based.

    Built from a document loaded by this module (ruamel round-trip types). A mapping
    entry is located at its key, a list item at the item. When the full path does not
    exist (a missing required field, or a field an overlay patch added that the source
    file lacks) the nearest existing ancestor's position is returned, unless ``exact``
    is asked for. ``(0, 0)`` means unknown: plain dicts carry no positions.
    """

    def __init__(self, doc: Any) -> None:
        self._doc = doc

    @classmethod
    def of(cls, doc: Any) -> Locator:
        """Return the Locator of a document (any value; plain data locates nothing)."""
        return cls(doc)

    def position(self, field: str, *, exact: bool = False) -> tuple[int, int]:
        """Return the 1-based ``(line, column)`` of ``field``, ``(0, 0)`` if unknown.

        ``""`` is the document itself. With ``exact=True`` a path that does not exist in
        full gives ``(0, 0)`` instead of its nearest ancestor's position.
        """
        node = self._doc
        pos = _own_position(node)
        parts = parse_field(field)
        if parts is None:
            return (0, 0) if exact else _one_based(pos)
        for part in parts:
            found: tuple[int, int] | None = None
            if isinstance(part, str) and isinstance(node, CommentedMap) and part in node:
                try:
                    found = tuple(node.lc.key(part))
                except (KeyError, TypeError, AttributeError):  # merged keys have no position
                    found = None
                node = node[part]
            elif isinstance(part, int) and isinstance(node, CommentedSeq) and 0 <= part < len(node):
                try:
                    found = tuple(node.lc.item(part))
                except (KeyError, TypeError, AttributeError):
                    found = None
                node = node[part]
            else:
                return (0, 0) if exact else _one_based(pos)
            if found is None:
                if exact:
                    return (0, 0)
                continue
            pos = found
        return _one_based(pos)


def _own_position(node: Any) -> tuple[int, int] | None:
    if isinstance(node, (CommentedMap, CommentedSeq)):
        line, col = node.lc.line, node.lc.col
        if isinstance(line, int) and isinstance(col, int):
            return (line, col)
    return None


def _one_based(pos: tuple[int, int] | None) -> tuple[int, int]:
    return (0, 0) if pos is None else (pos[0] + 1, pos[1] + 1)


def load_document(content: bytes, *, path: str, max_bytes: int = MAX_BYTES) -> Any:
    """Load exactly one YAML document; an empty file gives None.

    Raises SpecErrors for: more than ``max_bytes`` bytes, bytes that are not UTF-8,
    syntax errors, duplicate keys, custom tags, nesting deeper than ``MAX_DEPTH``,
    recursive aliases or aliases expanding beyond ``MAX_ALIAS_EXPANSION`` nodes, and a
    second document in the file (``---`` followed by content).
    """
    docs = _load(content, path=path, max_bytes=max_bytes, single=True)
    return docs[0] if docs else None


def load_documents(content: bytes, *, path: str, max_bytes: int = MAX_BYTES) -> list[Any]:
    """Load every YAML document of a stream (kustomize output, multi-document files).

    Empty documents (``---`` with nothing after it) are dropped. The same checks as
    :func:`load_document` apply to each document; the size limit to the whole stream.
    """
    return _load(content, path=path, max_bytes=max_bytes, single=False)


def _load(content: bytes, *, path: str, max_bytes: int, single: bool) -> list[Any]:
    if len(content) > max_bytes:
        raise SpecErrors(
            [
                SpecError(
                    path, 0, 0, "", f"file is {len(content)} bytes, over the {max_bytes}-byte limit"
                )
            ]
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = content[: e.start].count(b"\n") + 1
        col = e.start - (content.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecErrors([SpecError(path, line, col, "", "file is not valid UTF-8")]) from None
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    docs: list[Any] = []
    try:
        constructor, parser = yaml.get_constructor_parser(io.StringIO(text))
        try:
            composer = constructor.composer
            first_mark = None
            while composer.check_node():
                node = composer.get_node()
                if node is None or _is_empty(node):
                    continue
                if single and first_mark is not None:
                    mark = node.start_mark
                    raise SpecErrors(
                        [
                            SpecError(
                                path,
                                mark.line + 1,
                                mark.column + 1,
                                "",
                                "a second YAML document: this file must hold exactly one "
                                "(remove the '---' separator or split the file)",
                            )
                        ]
                    )
                first_mark = node.start_mark
                _check_node(node, path=path)
                data = constructor.construct_document(node)
                if data is not None:
                    docs.append(data)
        finally:
            parser.dispose()
    except SpecErrors:
        raise
    except MarkedYAMLError as e:
        raise SpecErrors([_yaml_error(e, path, text)]) from None
    except ReaderError as e:
        line, col = _text_position(text, e.position)
        what = f"character #x{e.character:04x}" if isinstance(e.character, int) else "character"
        raise SpecErrors(
            [
                SpecError(
                    path, line, col, "", f"unacceptable {what}: control characters are not allowed"
                )
            ]
        ) from None
    except YAMLError as e:
        raise SpecErrors([SpecError(path, 0, 0, "", f"YAML error: {_one_line(str(e))}")]) from None
    except RecursionError:  # a ruamel.yaml without ``max_depth`` (early 0.18 releases)
        line, col = _text_position(text, _flow_depth_index(text))
        raise SpecErrors(
            [SpecError(path, line, col, "", f"YAML nesting deeper than {MAX_DEPTH} levels")]
        ) from None
    return docs


def _flow_depth_index(text: str) -> int:
    """Return the index of the first ``[``/``{`` that nests deeper than MAX_DEPTH (-1: none)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif ch in "]}":
            depth = max(0, depth - 1)
    return -1


def _is_empty(node: Node) -> bool:
    """True for an empty document (``---`` with nothing after it): a plain empty null."""
    return (
        isinstance(node, ScalarNode)
        and node.value == ""
        and str(node.tag) == YAML_TAG_PREFIX + "null"
        and not node.style
    )


def _text_position(text: str, index: int) -> tuple[int, int]:
    """Return the 1-based line and column of a character index of ``text``."""
    if not isinstance(index, int) or index < 0:
        return (0, 0)
    line = text.count("\n", 0, index) + 1
    return (line, index - (text.rfind("\n", 0, index) + 1) + 1)


def _yaml_error(e: MarkedYAMLError, path: str, text: str | None = None) -> SpecError:
    """Turn a ruamel error into one SpecError at the problem's position."""
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    name = type(e).__name__
    problem = _one_line(str(e.problem or ""))
    if name == "DuplicateKeyError" or "duplicate key" in problem:
        m = re.search(r'duplicate key "(.*)" with value', str(e.problem or ""))
        key = m.group(1) if m else ""
        message = f"duplicate key {key!r}" if key else "duplicate key"
        return SpecError(path, line, col, "", message)
    if name == "MaxDepthExceededError":
        return SpecError(path, line, col, "", f"YAML nesting deeper than {MAX_DEPTH} levels")
    context = _one_line(str(e.context or ""))
    detail = f"{context}: {problem}" if context and problem else (problem or context or name)
    quote = _unclosed_quote(text, line) if text is not None else None
    if quote is not None:  # a quote left open swallows the lines after it: the real cause
        q_line, q_col, q_char = quote
        return SpecError(
            path,
            q_line,
            q_col,
            "",
            f"an unclosed quote: the {q_char} that starts this value is never closed on its "
            f"line (close it, or quote a value that contains {q_char} with the other quote)",
        )
    words = _in_words(context, problem)
    if words:
        return SpecError(path, line, col, "", f"{words} (YAML: {detail})")
    return SpecError(path, line, col, "", f"YAML syntax error: {detail}")


def _in_words(context: str, problem: str) -> str:
    """Say what a YAML syntax error means for someone editing a spec ("" if unknown)."""
    if "'\\t'" in problem or "\t" in problem:
        return "a tab character: YAML indents with spaces only, never tabs"
    if "mapping values are not allowed here" in problem:
        return (
            "bad indentation: a 'key: value' where only a value can be (this line is "
            "indented deeper than the keys above it, or the line above ends a value), "
            "or a value with ': ' in it that needs quotes"
        )
    if "could not find expected ':'" in problem:
        return "a line without 'key: value' inside a mapping: a missing ':' or bad indentation"
    if "expected <block end>" in problem:
        return (
            "bad indentation: this line does not line up with the keys or items above it "
            "(every key of one mapping, and every '- ' of one list, at the same column)"
        )
    if "quoted scalar" in context and "end of stream" in problem:
        return "an unclosed quote: the file ends inside a quoted value"
    if "flow sequence" in context:
        return "an unclosed '[': a list written [a, b] needs its closing ']'"
    if "flow mapping" in context:
        return "an unclosed '{': a mapping written {a: 1} needs its closing '}'"
    return ""


_QUOTE_START = re.compile(r"""^\s*(?:-\s+)*(?:[^\s#'"][^#'"]*?:\s+|-\s+)?(["'])""")


def _unclosed_quote(text: str, upto: int) -> tuple[int, int, str] | None:
    """Return (line, column, quote) of the first value on lines 1..``upto`` that opens a
    quote and does not close it on its line; None if every quote closes."""
    for number, raw in enumerate(text.splitlines()[: max(upto, 1)], start=1):
        m = _QUOTE_START.match(raw)
        if not m:
            continue
        quote, start = m.group(1), m.end(1)
        rest = raw[start:]
        if quote == '"':
            closed = re.search(r'(?<!\\)"', rest) is not None
        else:
            closed = "'" in rest.replace("''", "")
        if not closed:
            return (number, start, quote)
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_node(root: Node, *, path: str) -> None:
    """Refuse recursive aliases, alias expansion over budget and non-standard tags.

    Walks the composed node graph without recursion. A node reached twice is an alias;
    its subtree size is counted once per reference to bound the expanded size.
    """
    sizes: dict[int, int] = {}
    distinct = 0
    on_stack: set[int] = set()
    # iterative post-order: (node, children_done)
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_stack.discard(key)
            size = 1 + sum(sizes[id(c)] for c in _children(node))
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_stack:
            _refuse(path, node, "a recursive YAML alias (an anchor used inside itself)")
        tag = str(node.tag or "")
        if tag and tag not in _ALLOWED_TAGS:
            _refuse(path, node, f"YAML tag {tag!r} is not supported (only plain data)")
        distinct += 1
        on_stack.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_stack:
                _refuse(path, child, "a recursive YAML alias (an anchor used inside itself)")
            if id(child) not in sizes:
                stack.append((child, False))
    expanded = sizes[id(root)]
    if expanded - distinct > MAX_ALIAS_EXPANSION:
        _refuse(
            path,
            root,
            f"YAML aliases expand this document to {expanded} nodes "
            f"(more than {MAX_ALIAS_EXPANSION} added by aliases); refusing to load it",
        )


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        out: list[Node] = []
        for k, v in node.value:
            out.append(k)
            out.append(v)
        return out
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, ScalarNode):
        return []
    return []


def _refuse(path: str, node: Node, message: str) -> None:
    mark = node.start_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    raise SpecErrors([SpecError(path, line, col, "", message)])


class LazyLocator(Locator):
    """A Locator that loads its source file only when a position is first asked for.

    Render keeps one per pipeline source so that errors found later (after Kustomize, in
    dataset resolution) point at a line, without holding every parsed document in memory
    for the lifetime of a reconcile. A file that no longer parses locates nothing.
    """

    def __init__(self, content: bytes, *, path: str) -> None:
        super().__init__(None)
        self._content: bytes | None = content
        self._path = path

    def position(self, field: str, *, exact: bool = False) -> tuple[int, int]:
        """Return the 1-based ``(line, column)`` of ``field`` (see :meth:`Locator.position`)."""
        if self._content is not None:
            content, self._content = self._content, None
            try:
                self._doc = load_document(content, path=self._path)
            except SpecErrors:
                self._doc = None
        return super().position(field, exact=exact)
