"""Check a spec document against the JSON Schema; each problem becomes a positioned SpecError.

Called by ``reconciler.specs.validation`` for every Pipeline and Environment. Two steps:

1. :func:`to_plain` turns a loaded document (ruamel types) or Kustomize output into plain
   JSON data, reporting what JSON cannot hold: non-string keys, ``.inf``/``.nan``.
   YAML dates are kept as they are so that the schema's type checks name them.
2. :func:`schema_errors` validates with ``jsonschema`` (draft-07, integers are never
   floats or booleans) and maps each error to ``(field, message)``: one error per field
   (the first by the schema's keyword order), one per unknown or missing key, a
   property-name error at the key itself. Messages come from the schema's
   ``x-messages`` or from the defaults below, and never echo an env value.

Formats implemented here: ``quantity`` and ``duration`` (``reconciler.specs.units``),
``branch`` and ``provenance-branch`` (``reconciler.specs.branches``).
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import jsonschema
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from ruamel.yaml.scalarbool import ScalarBoolean

from reconciler.specs import branches, patterns, schema, units
from reconciler.specs import schema_fields as fields
from reconciler.specs.loading import MAX_DEPTH, join_field

Report = Callable[[str, str], None]
"""``report(field, message)``: how checks hand an error to the caller."""

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "object": "a mapping",
    "array": "a list",
    "boolean": "true or false",
    "null": "null",
}


def type_name(value: Any) -> str:
    """Return the spec-language name of a value's type (``mapping``, ``list``, ``date``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, date | datetime):
        return "date (quote it)"
    return type(value).__name__


def to_plain(value: Any, report: Report, field: str = "", depth: int = 0) -> Any:
    """Return ``value`` as plain dict/list/str/int/float/bool/None (ruamel types dropped).

    Non-string keys and non-finite numbers are reported and dropped; dates and other
    values are kept (the schema's type check names them).
    """
    return _to_plain(value, report, field, depth)


def _field(where: Any) -> str:
    """Return the field path ``where`` (see :func:`_to_plain`) as ``report`` receives it."""
    parts: list[str | int] = []
    while isinstance(where, tuple):
        where, part = where
        parts.append(part)
    field = str(where)
    for part in reversed(parts):
        field = join_field(field, part)
    return field


def _to_plain(value: Any, report: Report, where: Any, depth: int) -> Any:
    """:func:`to_plain` of ``value`` at ``where``: the base field, then ``(parent, key or
    index)`` pairs, spelled out by :func:`_field` only for a report (most documents have
    nothing to report, and joining every field's path cost most of the walk)."""
    if depth > MAX_DEPTH + 8:
        report(_field(where), f"nested deeper than {MAX_DEPTH} levels")
        return None
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # already plain (most of a document): what the checks below return
    if kind is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                report(_field(where), f"key {k!r} must be a string, not {type_name(k)} (quote it)")
                continue
            key = str(k)
            out[key] = _to_plain(v, report, (where, key), depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_to_plain(v, report, (where, i), depth + 1) for i, v in enumerate(value)]
    if isinstance(value, bool | ScalarBoolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            report(_field(where), "must be a finite number (JSON has no inf or nan)")
            return None
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


# --- formats ------------------------------------------------------------------------------

_formats = jsonschema.FormatChecker(formats=())


def _quantity(value: object) -> bool:
    problem = units.quantity_problem(value)
    if problem:
        raise ValueError(problem)
    return True


def _duration(value: object) -> bool:
    if isinstance(value, str):
        units.spec_duration(value)
    return True


def _branch(value: object) -> bool:
    problem = branches.pattern_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValueError(f"{value!r} is not a valid branch name or pattern: {problem}")
    return True


def _provenance_branch(value: object) -> bool:
    if not isinstance(value, str):
        return True
    sample = value.replace("{pipeline}", "resnet50").replace("{source}", "exp/lr-sweep")
    problem = branches.ref_name_problem(sample)
    if problem:
        raise ValueError(f"{value!r} does not make a valid branch name: {problem}")
    return True


for _name, _check in (
    ("quantity", _quantity),
    ("duration", _duration),
    ("branch", _branch),
    ("provenance-branch", _provenance_branch),
):
    _formats.checks(_name, raises=ValueError)(_check)


# --- the validators -----------------------------------------------------------------------


def _is_integer(_checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pattern(_validator: Any, pattern: str, value: Any, _schema: Any) -> Iterator[ValidationError]:
    """``pattern`` as ECMA-262 reads it: ``$`` never matches before a final newline."""
    if isinstance(value, str) and not patterns.matches(pattern, value):
        yield ValidationError(f"{value!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(
    Draft7Validator,
    validators={"pattern": _pattern},
    type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@functools.cache
def validator(kind: str) -> Any:
    """Return the (cached) validator of ``Pipeline`` or ``Environment`` documents."""
    make = schema.pipeline_schema if kind == "Pipeline" else schema.environment_schema
    return _Validator(make(), format_checker=_formats)


def schema_errors(data: Any, kind: str) -> list[tuple[str, str]]:
    """Return ``(field, message)`` for each schema violation of a plain document.

    One error per field, in the order jsonschema finds them; ``""`` is the document.
    Results are cached by the document's canonical JSON: the same pipeline is validated
    in every environment and at every reconcile, and jsonschema costs milliseconds.
    """
    try:
        key = json.dumps(data, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):  # a YAML date or another non-JSON value: no cache
        return _schema_errors(data, kind)
    return list(_cached_errors(key, kind))


@functools.lru_cache(maxsize=2048)
def _cached_errors(key: str, kind: str) -> tuple[tuple[str, str], ...]:
    return tuple(_schema_errors(json.loads(key), kind))


def _schema_errors(data: Any, kind: str) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for error in validator(kind).iter_errors(data):
        for field, message in _explain(error):
            seen.setdefault(field, message)
    return list(seen.items())


def _explain(error: ValidationError) -> Iterator[tuple[str, str]]:
    path: list[str | int] = list(error.absolute_path)
    base = _format(path)
    sub: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required" and isinstance(error.instance, Mapping):
        for key in error.validator_value:
            if key not in error.instance:
                yield join_field(base, key), "required field is missing"
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = list(sub.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                yield join_field(base, key), unknown_field_message(key, allowed)
        return
    if "propertyNames" in error.absolute_schema_path:
        yield join_field(base, str(error.instance)), _message(error, sub, key=True)
        return
    yield base, _message(error, sub, key=False)


def _format(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        out = join_field(out, part)
    return out


def _message(error: ValidationError, sub: Mapping[str, Any], *, key: bool) -> str:
    kw, value = str(error.validator), error.instance
    blank = isinstance(value, str) and not value.strip()
    if blank and not key and kw in ("minLength", "pattern", "format"):
        return "must not be empty"
    custom = (sub.get(fields.MESSAGES) or {}).get(kw)
    if isinstance(custom, str):
        return _fill(custom, value, error.validator_value)
    if kw == "format" and error.cause is not None:
        return str(error.cause)
    return _default_message(kw, value, error.validator_value, sub) or error.message


_TOKEN = re.compile(r"\{(value|name|type|count|limit)\}")


def _fill(template: str, value: Any, limit: Any) -> str:
    def one(m: re.Match[str]) -> str:
        token = m.group(1)
        if token == "value":
            return repr(value)
        if token == "name":
            return str(value)
        if token == "type":
            return type_name(value)
        if token == "count":
            return str(len(value)) if isinstance(value, list | dict | str) else "?"
        return str(limit)

    return _TOKEN.sub(one, template)


def _default_message(kw: str, value: Any, limit: Any, sub: Mapping[str, Any]) -> str | None:
    if kw == "type":
        expected = limit if isinstance(limit, str) else None
        words = _TYPE_WORDS.get(expected or "", "one of: " + ", ".join(map(str, limit)))
        quote = expected == "string" and isinstance(value, int | float)
        return f"must be {words}, not {type_name(value)}" + (" (quote it)" if quote else "")
    if kw in ("minimum", "maximum") and "minimum" in sub and "maximum" in sub:
        return f"{value} is out of range {sub['minimum']}..{sub['maximum']}"
    if kw == "minimum":
        return f"{value} is less than the minimum of {limit}"
    if kw == "maximum":
        return f"{value} is over the maximum of {limit}"
    if kw == "exclusiveMinimum":
        return f"must be greater than {limit}"
    if kw == "minLength":
        return f"must be at least {limit} characters"
    if kw == "maxLength":
        return f"{value!r} is {len(value)} characters, over the limit of {limit}"
    if kw == "enum":
        shown = repr(value) if isinstance(value, str) else type_name(value)
        return f"{shown} is not one of: {', '.join(map(str, limit))}"
    if kw == "const":
        return f"must be {limit}" + (f", not {value!r}" if isinstance(value, str) else "")
    if kw == "uniqueItems" and isinstance(value, list):
        dup = next((v for i, v in enumerate(value) if v in value[:i]), None)
        return f"{dup!r} is listed twice"
    if kw == "minItems":
        return f"must have at least {limit} items"
    if kw == "maxItems":
        return f"{len(value)} items, over the limit of {limit}"
    if kw == "not":
        return f"{value!r} is not allowed"
    return None


def unknown_field_message(key: str, allowed: Sequence[str]) -> str:
    """Return the message of an unknown field, suggesting the closest allowed one."""
    norm = {a.lower().replace("_", "").replace("-", ""): a for a in allowed}
    close = norm.get(key.lower().replace("_", "").replace("-", ""))
    if close is None:
        found = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
        close = found[0] if found else None
    if close is not None:
        return f"unknown field {key!r}; did you mean {close!r}?"
    return f"unknown field {key!r}; allowed: {', '.join(allowed)}"
