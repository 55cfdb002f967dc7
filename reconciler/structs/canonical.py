"""Canonical JSON of a manifest: the bytes every applied hash is taken of, made fast.

Used by :mod:`reconciler.apply.fields` (the applied hash of each desired object, every
sync); :func:`orjson_sorted` alone by :mod:`reconciler.specs.validation` (the content
address of a document found valid, which needs equal texts only for equal documents, not
the reference's bytes). The reference encoding is the standard library's::

    json.dumps(obj, sort_keys=True, separators=(",", ":"))

(ASCII only, non-ASCII and DEL escaped as ``\\uXXXX``, floats as ``repr``, ``NaN`` and
``Infinity`` as such). Every applied hash in a cluster was taken of those bytes, so the
encoding must never change, not even for one value: a different byte means a new hash and
a request for every object that holds it.

orjson encodes the same data 10-20 times faster, and its bytes equal the reference's
exactly when all of this holds, which :func:`canonical_bytes` checks on its answer before
using it, and otherwise encodes with the reference:

- every value is of an exact built-in type (dict, list, tuple, str, int, bool, None):
  subclasses (a YAML library's scalars and maps), datetimes and dataclasses are refused
  by orjson here (``OPT_PASSTHROUGH_*`` with a ``default`` that refuses), as are integers
  beyond 64 bits and nesting deeper than orjson's limit;
- no float (orjson writes ``0.00001`` where the reference writes ``1e-05``, and ``null``
  for ``NaN`` and ``Infinity``): the answer holds no number token with a fraction or an
  exponent, and no ``null`` at all (a ``None`` is ``null`` in both; such objects simply
  take the reference's path);
- the text is ASCII without DEL (orjson writes non-ASCII as UTF-8 and DEL raw; every
  other ASCII character, control characters included, is written alike by both:
  ``tests/apply/test_canonical.py`` checks each one).

The checks are conservative: every float matches, and so may a string that merely looks
like one where a value could start (``"x,1.5"``, ``"[1.5]"``; not an image tag such as
``"serve:1.0.0"``); such an object goes down the reference's path, which gives the same
bytes, more slowly. One difference is left: an :class:`enum.Enum` member, which the
reference refuses (TypeError), orjson writes as its value; manifests come from YAML and
JSON and hold none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_NUMBER_WITH_FRACTION = rb"-?[0-9]+[.eE]"
_FLOATS = (
    re.compile(rb'":' + _NUMBER_WITH_FRACTION),  # a map's value
    re.compile(rb"\[" + _NUMBER_WITH_FRACTION),  # a list's first item
    re.compile(rb"," + _NUMBER_WITH_FRACTION),  # a list's next item
)
"""Where a float may start in compact JSON (besides the very start): each begins with a
literal, which the regular expression engine finds fast (one expression with the three
as alternatives tried every position and was slower than the standard library's encoder)."""
_FLOAT_FIRST = re.compile(_NUMBER_WITH_FRACTION)


def _refuse(value: Any) -> Any:
    raise TypeError(f"not encoded by the fast path: {type(value).__name__}")


def _same_as_reference(out: bytes) -> bool:
    """True if orjson's ``out`` is byte for byte what the reference encoder writes."""
    return out.isascii() and b"\x7f" not in out and b"null" not in out and not _has_float(out)


def _has_float(out: bytes) -> bool:
    """True if compact JSON ``out`` may hold a float: a number with a fraction or exponent
    where a value starts (first, after a key's ``":``, after ``[`` or ``,``)."""
    return _FLOAT_FIRST.match(out) is not None or any(f.search(out) for f in _FLOATS)


def orjson_sorted(obj: Any) -> bytes | None:
    """Return orjson's sorted compact JSON of ``obj``, or None where it refuses ``obj``.

    Refused: a subclass of a built-in type (a YAML library's scalars and maps), a
    datetime, a dataclass, an integer beyond 64 bits, nesting deeper than orjson's limit.
    Its bytes are not always the reference's (see the module docstring): floats, non-ASCII
    text, and ``NaN`` and ``Infinity``, which it writes as ``null``.
    """
    try:
        return orjson.dumps(obj, default=_refuse, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


def canonical_bytes(obj: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """Return the reference canonical JSON of ``obj`` (see the module docstring), as bytes.

    ``default`` is the reference encoder's (``str`` to encode any value as its text);
    without it a value JSON cannot hold raises TypeError, as the reference does.
    """
    out = orjson_sorted(obj)
    if out is not None and _same_as_reference(out):
        return out
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=default).encode()
