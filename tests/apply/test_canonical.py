"""The fast canonical JSON is byte for byte the standard library's, whatever the value."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.apply import fields
from reconciler.structs import canonical


def reference(obj: Any, default: Any = None) -> bytes:
    """The encoding every applied hash in a cluster was taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=default).encode()


class Text(str):
    pass


class Number(int):
    pass


class Fraction(float):
    pass


@dataclasses.dataclass
class Point:
    x: int


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-05, 1e16, 1e22, -0.0, 0.1, 100.0, 5e-324]),
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=0x7F)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(VALUES)
def test_any_json_value_encodes_exactly_as_the_standard_library(value: Any) -> None:
    assert canonical.canonical_bytes(value) == reference(value)
    assert fields.hash_of({"v": value}) == fields.hash_of_text(reference({"v": value}, str))


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_encodes_as_the_standard_library(code: int) -> None:
    value = {"k": f"a{chr(code)}b", chr(code): [chr(code)]}
    assert canonical.canonical_bytes(value) == reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1e-05, "b": [0.00001]},  # orjson alone: 0.00001
        {"nan": float("nan"), "inf": float("-inf")},  # orjson alone: null
        {"big": 2**64, "small": -(2**63) - 1},  # orjson refuses 64-bit overflow
        {"name": "café", "emoji": "\U0001f600", "del": "\x7f"},  # non-ASCII, DEL
        {"z": 1, "a": {"y": 2, "b": 3}, "m": (1, 2)},  # order, tuples
        {"s": Text("x"), "n": Number(3), "f": Fraction(0.5)},  # subclasses
        OrderedDict([("b", 1), ("a", 2)]),
        {"deep": json.loads("[" * 300 + "]" * 300)},  # deeper than orjson nests
        {"path": "/dev/null", "ratio": "x,1.5", "range": "[2.5", "key": '\\":1.5'},
    ],
)
def test_what_orjson_would_write_differently_takes_the_reference_path(value: Any) -> None:
    assert canonical.canonical_bytes(value) == reference(value)


def test_a_value_json_cannot_hold_raises_as_the_reference_does() -> None:
    for value in ({"t": datetime.datetime(2026, 1, 1)}, {"p": Point(1)}, {"s": {1, 2}}):
        with pytest.raises(TypeError):
            reference(value)
        with pytest.raises(TypeError):
            canonical.canonical_bytes(value)
        assert canonical.canonical_bytes(value, default=str) == reference(value, str)


def test_a_manifest_takes_the_fast_path() -> None:
    """Image tags (``serve:1.0.0``) and quantities do not look like floats."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m", "labels": {"app": "m"}, "annotations": {"a": "1"}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "registry.example.com/serve:1.0.0",
                            "resources": {"requests": {"cpu": "0.5", "memory": "1.5Gi"}},
                            "args": ["--port=8080", "--ratio", "0.25"],
                        }
                    ]
                }
            },
        },
    }
    fast = canonical.canonical_bytes(manifest)
    assert canonical._same_as_reference(fast)
    assert fast == reference(manifest)
