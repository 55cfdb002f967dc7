"""What the verbs take and give: request parameters, results, and decoded bodies.

Callers: :mod:`.handlers` and the verb modules it is made of (:mod:`.listing`,
:mod:`.scaling`, :mod:`.deletes`), :mod:`.server`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.sandbox import errors, yaml_bodies

Obj = dict[str, Any]


def clone(obj: Any) -> Any:
    """Return a deep copy of JSON-compatible data (faster than copy.deepcopy)."""
    return json.loads(json.dumps(obj))


@dataclass
class Params:
    """The query parameters and headers of one request that the verbs care about."""

    query: dict[str, str] = field(default_factory=dict)
    user_agent: str = ""

    def get(self, name: str, default: str = "") -> str:
        """Return one query parameter."""
        return self.query.get(name, default)

    @property
    def dry_run(self) -> bool:
        """True for ``dryRun=All``; other values are a 400 (checked by :meth:`check`)."""
        return self.query.get("dryRun", "") == "All"

    def check_dry_run(self) -> None:
        """Raise 400 for a dryRun value other than All."""
        value = self.query.get("dryRun")
        if value not in (None, "", "All"):
            raise errors.bad_request(f'Invalid dryRun value "{value}": supported values are "All"')

    def field_manager(self, *, required: bool, options: str = "PatchOptions") -> str:
        """Return the field manager (``fieldManager`` or the User-Agent's product).

        ``options``: the kind of the request's options (``CreateOptions`` for POST,
        ``UpdateOptions`` for PUT, ``PatchOptions``), which a 422 names.
        """
        name = self.query.get("fieldManager", "")
        if not name:
            if required:
                raise errors.invalid(
                    "PatchOptions",
                    "meta.k8s.io",
                    "",
                    [
                        (
                            "FieldValueRequired",
                            "fieldManager",
                            "Required value: is required for apply patch",
                        )
                    ],
                )
            name = self.user_agent.split("/", 1)[0] if self.user_agent else "unknown"
        if len(name.encode()) > 128:
            raise errors.invalid(
                options,
                "meta.k8s.io",
                "",
                [("FieldValueTooLong", "fieldManager", "Too long: may not be more than 128 bytes")],
            )
        return name

    @property
    def field_validation(self) -> str:
        """``Strict``, ``Warn`` (the server default) or ``Ignore``."""
        value = self.query.get("fieldValidation", "") or "Warn"
        if value not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{value}": supported values: '
                '"Ignore", "Strict", "Warn"'
            )
        return value


@dataclass
class Result:
    """A verb's outcome: HTTP code, body, warnings for the ``Warning`` header."""

    code: int
    body: Obj
    warnings: list[str] = field(default_factory=list)


def _not_json(name: str) -> Any:
    """Refuse ``NaN`` and ``Infinity``, which Python's decoder accepts and JSON has not."""
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def parse_body(raw: bytes, content_type: str) -> Any:
    """Decode a request body in JSON (or YAML for apply and yaml types); 400 if malformed."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise errors.bad_request("the body of the request was empty")
    try:
        return json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise errors.bad_request("error decoding JSON: exceeded max depth") from None
    except ValueError:
        if "yaml" not in content_type:
            raise errors.bad_request(
                f"error decoding JSON: invalid character in the body: {text[:80]!r}"
            ) from None
    try:
        return yaml_bodies.load(text)
    except yaml_bodies.Refused as exc:
        step = "encoding patch" if "apply-patch" in content_type else "converting YAML to JSON"
        raise errors.bad_request(f"error {step}: {exc}") from None
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"error converting YAML to JSON: {exc}") from None
