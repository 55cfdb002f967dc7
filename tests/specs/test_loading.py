"""Safe YAML loading: errors with positions, defensive limits, and the Locator."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.specs import loading
from reconciler.structs.errors import SpecErrors
from tests.specs.samples import PIPELINE, load_errors

P = "pipelines/resnet50.yaml"


def test_one_document_with_positions() -> None:
    doc = loading.load_document(PIPELINE.encode(), path=P)
    assert doc["spec"]["steps"][1]["name"] == "train"
    loc = loading.Locator.of(doc)
    assert loc.position("") == (1, 1)
    assert loc.position("metadata.name") == (4, 3)
    assert loc.position("spec.steps[1]") == (14, 7)
    assert loc.position("spec.steps[1].needs[0]") == (15, 15)
    assert loc.position("spec.serve.autoscale.maxReplicas") == (38, 33)


def test_locator_falls_back_to_the_nearest_ancestor_unless_exact() -> None:
    loc = loading.Locator.of(loading.load_document(PIPELINE.encode(), path=P))
    assert loc.position("spec.steps[1].nothing.deeper") == (14, 7)
    assert loc.position("spec.steps[9]") == (9, 3)
    assert loc.position("spec.steps[1].nothing", exact=True) == (0, 0)
    assert loc.position("not a [path") == (1, 1)
    assert loading.Locator.of({"a": 1}).position("a") == (0, 0)
    assert loading.Locator.of(None).position("") == (0, 0)


def test_locator_reads_quoted_keys() -> None:
    doc = loading.load_document(
        b"metadata:\n  labels:\n    app.kubernetes.io/name: x\n", path="f.yaml"
    )
    field = loading.format_field(["metadata", "labels", "app.kubernetes.io/name"])
    assert field == 'metadata.labels["app.kubernetes.io/name"]'
    assert loading.Locator.of(doc).position(field) == (3, 5)


@given(
    st.lists(st.one_of(st.integers(min_value=0, max_value=10**6), st.text(max_size=8)), max_size=6)
)
def test_field_paths_round_trip(parts: list[str | int]) -> None:
    assert loading.parse_field(loading.format_field(parts)) == parts


def test_join_field() -> None:
    assert loading.join_field("", "spec") == "spec"
    assert loading.join_field("spec", "steps") == "spec.steps"
    assert loading.join_field("spec.steps", 2) == "spec.steps[2]"
    assert loading.join_field("env", "A.B") == 'env["A.B"]'


BAD_INDENT = (
    "bad indentation: a 'key: value' where only a value can be (this line is indented "
    "deeper than the keys above it, or the line above ends a value), or a value with ': ' "
    "in it that needs quotes"
)
UNCLOSED = (
    'an unclosed quote: the " that starts this value is never closed on its line (close it, '
    'or quote a value that contains " with the other quote)'
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"a: [1, 2\nb: 3\n",
            "f.yaml:2:2: an unclosed '[': a list written [a, b] needs its closing ']' "
            "(YAML: while parsing a flow sequence: expected ',' or ']', but got ':')",
        ),
        (b"a: b: c\n", f"f.yaml:1:5: {BAD_INDENT} (YAML: mapping values are not allowed here)"),
        (
            b"a:\n  b: 1\n    c: 2\n",
            f"f.yaml:3:6: {BAD_INDENT} (YAML: mapping values are not allowed here)",
        ),
        (
            b"a:\n    b: 1\n   c: 2\n",
            "f.yaml:3:4: bad indentation: this line does not line up with the keys or items "
            "above it (every key of one mapping, and every '- ' of one list, at the same "
            "column) (YAML: while parsing a block mapping: expected <block end>, but found "
            "'<block mapping start>')",
        ),
        (
            b"a:\n  b: 1\n  c\n  d: 2\n",
            "f.yaml:4:3: a line without 'key: value' inside a mapping: a missing ':' or bad "
            "indentation (YAML: while scanning a simple key: could not find expected ':')",
        ),
        (
            b"a:\n\t- x\n",
            "f.yaml:2:1: a tab character: YAML indents with spaces only, never tabs "
            "(YAML: while scanning for the next token: found character '\\t' that cannot "
            "start any token)",
        ),
        (b'a: 1\nb: "x\nc: 2\nd: [x, "y"]\n', f"f.yaml:2:4: {UNCLOSED}"),
        (b"a: 'x\nb: 2\n", f"f.yaml:1:4: {UNCLOSED.replace(chr(34), chr(39))}"),
        (b"a: *nope\n", "f.yaml:1:4: YAML syntax error: found undefined alias 'nope'"),
        (b"a: 1\nb: 2\na: 3\n", "f.yaml:3:1: duplicate key 'a'"),
        (b"m: {a: 1, a: 2}\n", "f.yaml:1:11: duplicate key 'a'"),
        (
            b"a: 1\n---\nb: 2\n",
            "f.yaml:3:1: a second YAML document: this file must hold "
            "exactly one (remove the '---' separator or split the file)",
        ),
        (b"a: !secret x\n", "f.yaml:1:4: YAML tag '!secret' is not supported (only plain data)"),
        (
            b"a: !!python/object:os.system x\n",
            "f.yaml:1:4: YAML tag "
            "'tag:yaml.org,2002:python/object:os.system' is not supported (only plain data)",
        ),
        (b"a: \xe9\n", "f.yaml:1:4: file is not valid UTF-8"),
        (
            b"a: 1\nb: \x07\n",
            "f.yaml:2:4: unacceptable character #x0007: control characters are not allowed",
        ),
        (b"[" * 100_000, "f.yaml:1:65: YAML nesting deeper than 64 levels"),
        (b"a: &a [1, *a]\n", "f.yaml:1:4: a recursive YAML alias (an anchor used inside itself)"),
    ],
)
def test_load_errors(content: bytes, expected: str) -> None:
    assert load_errors(content, "f.yaml") == [expected]


def test_billion_laughs_is_refused_before_expansion() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    errors = load_errors("\n".join(lines).encode(), "f.yaml")
    assert len(errors) == 1
    assert errors[0].startswith("f.yaml:1:1: YAML aliases expand this document to ")
    assert "refusing to load it" in errors[0]


def test_a_few_aliases_are_fine() -> None:
    doc = loading.load_document(
        b"base: &r {cpu: '1'}\nx: *r\ny:\n  <<: *r\n  memory: 1Gi\n", path="f.yaml"
    )
    assert json.loads(json.dumps(doc)) == {
        "base": {"cpu": "1"},
        "x": {"cpu": "1"},
        "y": {"memory": "1Gi", "cpu": "1"},
    }


def test_size_limit() -> None:
    big = b"a: " + b"x" * loading.MAX_BYTES + b"\n"
    assert load_errors(big, "f.yaml") == [
        f"f.yaml:0:0: file is {len(big)} bytes, over the {loading.MAX_BYTES}-byte limit"
    ]
    assert loading.load_document(big, path="f.yaml", max_bytes=2 * loading.MAX_BYTES)


def test_empty_documents() -> None:
    assert loading.load_document(b"", path="f.yaml") is None
    assert loading.load_document(b"# only a comment\n", path="f.yaml") is None
    assert loading.load_document(b"---\na: 1\n---\n", path="f.yaml") == {"a": 1}
    assert loading.load_document(b"\xef\xbb\xbfa: 1\n", path="f.yaml") == {"a": 1}  # BOM


def test_load_documents() -> None:
    docs = loading.load_documents(b"---\na: 1\n---\n---\nb: 2\n", path="f.yaml")
    assert docs == [{"a": 1}, {"b": 2}]
    assert loading.Locator.of(docs[1]).position("b") == (5, 1)
    with pytest.raises(SpecErrors) as e:
        loading.load_documents(b"a: 1\n---\nb: [\n", path="out.yaml")
    assert e.value.errors[0].path == "out.yaml" and e.value.errors[0].line == 4


@given(st.text(alphabet="ab:-[]{}&*!|>'\"#\n \t,?%@`~\\.0", max_size=60))
def test_arbitrary_text_never_raises_anything_but_spec_errors(text: str) -> None:
    try:
        loading.load_document(text.encode(), path="f.yaml")
    except SpecErrors as e:
        assert all(err.path == "f.yaml" for err in e.errors)
