"""The records' YAML: libyaml with YAML 1.2 semantics, exact round trips, ruamel's bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.provenance.records import RunRecord
from reconciler.structs import codec
from reconciler.structs.errors import ProvenanceError

Factory = Callable[..., RunRecord]

# Strings YAML 1.1, YAML 1.2 and the two emitters disagree about.
TRICKY = [
    "yes", "no", "on", "off", "y", "n", "true", "True", "FALSE", "null", "Null", "~", "",
    "0o17", "017", "0x1F", "0b101", "1_000", "1:20", "1e3", "1.0", "3.", ".5", "+1", "-0",
    ".inf", "-.inf", ".nan", "1e-05", "2024-01-01", "2024-05-01T13:00:00Z", "=", "<<", "-",
    "a: b", "- x", "#x", "x #y", "@x", "`x", "!x", "&x", "*x", "%x", "'q'", '"d"', "it's",
    "a\nb", "\n", " lead", "trail ", "tab\there", "é ü 中", "\x85", "\u2028", "\ufeff",
    "https://user:pw@host/x", "s3://models/{run}/", "[x]", "{a}", "a,b", "?x", "|", ">",
    "\U0001f680", "\x00", "\x7f",
]  # fmt: skip
text = st.one_of(st.sampled_from(TRICKY), st.text(max_size=24))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
data = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=24,
)
documents = st.dictionaries(text, data, min_size=1, max_size=6)


def ruamel_dump(value: Any) -> str:
    """What earlier versions wrote: ruamel's safe dumper, block style, insertion order."""
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.width = 4096
    writer.representer.sort_base_mapping_type_on_output = False
    buf = io.StringIO()
    writer.dump(value, buf)
    return buf.getvalue()


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (True is not 1, 1.0 is not 1)."""
    return repr(a) == repr(b)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents)
def test_what_we_write_reads_back_exactly(doc: dict[str, Any]) -> None:
    assert same(codec.load(codec.dump(doc)), doc)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents)
def test_bytes_are_ruamels_whenever_ruamel_round_trips(doc: dict[str, Any]) -> None:
    """A record written by an older reconciler and the same record written now: one blob."""
    legacy = ruamel_dump(doc)
    try:
        legacy_exact = same(codec.load(legacy), doc)
    except codec.YAMLError:
        legacy_exact = False
    if legacy_exact:
        assert codec.dump(doc) == legacy


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents)
def test_reads_what_ruamel_reads(doc: dict[str, Any]) -> None:
    legacy = ruamel_dump(doc)
    if any(c in legacy for c in "\x85\u2028\u2029"):
        return  # ruamel writes these raw inside quotes, where a YAML reader folds them
    assert same(codec.load(legacy), YAML(typ="safe", pure=True).load(legacy))


def test_yaml_1_2_semantics_and_no_dates() -> None:
    doc = codec.load(
        "a: yes\nb: off\nc: 0o17\nd: 017\ne: 1e3\nf: 2024-01-01\ng: 0x1F\nh: ~\ni: 1_000\n"
    )
    assert doc == {
        "a": "yes", "b": "off", "c": 15, "d": 17, "e": 1000.0, "f": "2024-01-01",
        "g": 31, "h": None, "i": 1000,
    }  # fmt: skip
    assert codec.dump({"x": "2024-01-01", "y": "yes", "z": "0o17"}) == (
        "x: '2024-01-01'\ny: yes\nz: '0o17'\n"
    )


def test_records_round_trip_byte_for_byte(record_factory: Factory) -> None:
    rec = record_factory()
    text = rec.to_yaml()
    assert text == ruamel_dump(rec.to_dict())
    assert RunRecord.from_yaml(text) == rec
    assert RunRecord.from_yaml(text).to_yaml() == text


def test_aliases_are_refused_with_the_file_named() -> None:
    bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\nrun: r\n"
    with pytest.raises(ProvenanceError, match=r"^runs/x\.yaml: invalid YAML: anchors and aliases"):
        RunRecord.from_yaml(bomb, path="runs/x.yaml")
    # an ampersand or asterisk in a value is not an alias
    assert codec.load("a: 'x & y'\nb: '*'\n") == {"a": "x & y", "b": "*"}


def test_syntax_errors_name_line_and_column() -> None:
    with pytest.raises(ProvenanceError, match=r"^r\.yaml:2:1: invalid YAML: "):
        RunRecord.from_yaml("run: [oops\n", path="r.yaml")


def test_empty_strings_are_written_alike_without_the_slow_writer() -> None:
    """An empty string (``''`` ending its line) is libyaml's and ruamel's alike: a record of
    a successful run (``reason: ''``) is not written twice to compare."""
    data = {"reason": "", "steps": [{"name": "train", "reason": "", "digest": ""}, ""]}
    text = codec.dump(data)
    assert text == codec._ruamel_dump(data)
    assert not codec._UNSURE.search(text)
    for tricky in ("it's", " '", "'", ""):
        assert codec.load(codec.dump({tricky: tricky})) == {tricky: tricky}
        assert codec.dump({tricky: tricky}) == codec._ruamel_dump({tricky: tricky})
