"""Keep secret values off every page: redaction of free text and of JSON-like data.

Called by :mod:`reconciler.web.snapshots` (change diffs and messages) and by the page
builders (records, params, metrics, review diffs). Records are already scrubbed when they
are written (:mod:`reconciler.provenance.scrubbing`); this is the display's own line of
defence, stricter because a page may show text no record went through (object diffs of
ConfigMaps, messages from the API server):

- every ``scheme://user:password@`` loses its credentials (the provenance scrubber's rule);
- a ``NAME: value`` or ``NAME=value`` line whose name looks like a credential
  (``DB_PASSWORD``, ``api_token``, ``AWS_SECRET_ACCESS_KEY``) shows :data:`REDACTED`,
  unless the value is a number, a boolean or null (``max_tokens: 512`` is no secret);
- in a Kubernetes env list (``- name: HF_TOKEN`` then ``value: ...``) the value line does too;
- in data, a string under a credential-like key anywhere is redacted (numbers are kept:
  ``max_tokens: 512`` is not a secret).
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.provenance import scrubbing

REDACTED = scrubbing.REDACTED

_ASSIGNMENT = re.compile(
    r"^(?P<lead>[\s+\-]*(?:-\s+)?[\"']?)(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>[\"']?\s*[:=]\s*)(?P<value>\S.*)$"
)
_ENV_NAME = re.compile(r"^[\s+\-]*-?\s*name:\s*[\"']?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)")
_NOT_SECRET = re.compile(r"^(-?\d+(\.\d+)?|true|false|null|~),?$", re.IGNORECASE)
_ENV_VALUE = re.compile(r"^(?P<lead>[\s+\-]*value:\s*)(?P<value>\S.*)$")


def redact_text(text: str) -> str:
    """Return ``text`` with URL credentials and credential-like assignments redacted."""
    if not text:
        return text
    out: list[str] = []
    secret_env = False
    for line in text.split("\n"):
        line = scrubbing.redact_url(line)
        if secret_env and (m := _ENV_VALUE.match(line)):
            line = f"{m.group('lead')}{REDACTED}"
        secret_env = False
        if (n := _ENV_NAME.match(line)) and scrubbing.is_credential_name(n.group("name")):
            secret_env = True
        elif (
            (m := _ASSIGNMENT.match(line))
            and scrubbing.is_credential_name(m.group("name"))
            and not _NOT_SECRET.match(m.group("value").strip())
        ):
            line = f"{m.group('lead')}{m.group('name')}{m.group('sep')}{REDACTED}"
        out.append(line)
    return "\n".join(out)


SECRET_DIFF = "(the content of a Secret is never shown)"


def redact_diff(subject: str, diff: str) -> str:
    """Return an object's diff for display: none of a Secret's, others redacted as text.

    ``subject`` is the object's identity (``Kind/namespace/name``, or ``Kind/name``).
    """
    if not diff:
        return diff
    if subject.split("/", 1)[0] == "Secret":
        return SECRET_DIFF
    return redact_text(diff)


def redact_data(value: Any) -> Any:
    """Return a copy of JSON-like data with string values under credential-like keys redacted.

    Also applies the provenance scrubber (URL credentials, env values by name).
    """
    value = scrubbing.scrub(value)
    return _redact(value)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and isinstance(item, str) and scrubbing.is_credential_name(key):
                out[key] = REDACTED
            else:
                out[key] = _redact(item)
        return out
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
