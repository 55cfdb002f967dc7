"""Keep secrets out of provenance records: redact URL credentials and credential-like env values.

Called by :mod:`reconciler.provenance.records` on every record before it is serialised, so no
caller can write a secret by mistake. Pipelines hold secrets by reference only (``secretEnv``);
this is the defensive second line: a literal ``env`` value whose *name* looks like a credential
(``WANDB_API_KEY``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``, ``HF_TOKEN``) is replaced by
:data:`REDACTED`, ``user:password@`` is removed from every URL-looking string, and any part
of any string that looks like a credential by its *value* (``ghp_...``, ``AKIA...``, a JWT,
a long random string: :mod:`reconciler.structs.secrets`) becomes :data:`REDACTED`.

The escape hatch is the one the spec check honours: values under a key named in the
record's ``spec.metadata.annotations["reconciler.ml/not-secret"]`` are kept by value (a
credential-like *name* is still redacted).
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.structs import secrets

REDACTED = secrets.REDACTED

_CREDENTIAL_NAME = re.compile(
    r"(^|[_.-])(PASS|PASSWORD|PASSWD|SECRET|SECRETS|TOKEN|TOKENS|APIKEY|API_KEY|ACCESS_KEY"
    r"|PRIVATE_KEY|CREDENTIAL|CREDENTIALS|AUTH|AUTHORIZATION|COOKIE|SESSION_KEY)($|[_.-])",
    re.IGNORECASE,
)
# scheme://userinfo@ ; the userinfo may not contain "/", "@" or whitespace.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_ENV_KEYS = frozenset({"env", "environment"})


def is_credential_name(name: str) -> bool:
    """Return True if an environment variable name looks like it holds a credential.

    Matches whole ``_``-separated words, so ``MAX_TOKENS`` matches (``TOKENS``) but
    ``AUTHOR`` or ``PASSTHROUGH`` do not.
    """
    return bool(_CREDENTIAL_NAME.search(name))


def redact_url(text: str) -> str:
    """Return ``text`` with credentials removed from every ``scheme://userinfo@`` in it.

    ``https://user:pw@host`` and ``https://TOKEN@host`` lose the whole userinfo (for HTTP
    the user part is often the token itself); for other schemes (``ssh://git@host``) a bare
    user name is kept and only ``:password`` is dropped.
    """

    def _sub(m: re.Match[str]) -> str:
        scheme, userinfo = m.group("scheme"), m.group("userinfo")
        if scheme.lower().startswith("http"):
            return scheme
        user = userinfo.partition(":")[0]
        return f"{scheme}{user}@"

    return _URL_USERINFO.sub(_sub, text)


def scrub(value: Any) -> Any:
    """Return a deep copy of JSON-like data with secrets redacted.

    Every string has URL credentials and credential-looking values removed (except under
    the keys the record's pipeline declares not secret). Inside a mapping under a key named
    ``env`` (a step's ``env: {NAME: value}``) or a Kubernetes env list (``[{name, value}]``),
    values of credential-like names become :data:`REDACTED`. Tuples become lists; other
    scalars are returned as they are.
    """
    return _Scrubber(_not_secret(value)).scrub(value, in_env=False, key="")


def _not_secret(record: Any) -> frozenset[str]:
    """Return the names the record's pipeline declares not secret (see the module docstring)."""
    if not isinstance(record, dict):
        return frozenset()
    for doc in (record.get("spec"), record):
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
            return secrets.not_secret_names(meta["annotations"])
    return frozenset()


class _Scrubber:
    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def text(self, value: str, key: str) -> str:
        value = redact_url(value)
        return value if key in self.allowed else secrets.redact(value)

    def scrub(self, value: Any, *, in_env: bool, key: str) -> Any:
        if isinstance(value, str):
            return self.text(value, key)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, item in value.items():
                if in_env and isinstance(k, str) and is_credential_name(k):
                    out[k] = REDACTED if item is not None else None
                    continue
                child_env = isinstance(k, str) and k in _ENV_KEYS
                out[k] = self.scrub(item, in_env=child_env, key=str(k))
            return out
        if isinstance(value, list | tuple):
            items = []
            for item in value:
                if (
                    in_env
                    and isinstance(item, dict)
                    and isinstance(item.get("name"), str)
                    and "value" in item
                    and is_credential_name(item["name"])
                ):
                    item = {**item, "value": REDACTED}
                scrubbed = self.scrub(item, in_env=False, key=key)
                named = isinstance(item, dict) and item.get("name") in self.allowed
                if in_env and named and isinstance(item.get("value"), str):
                    scrubbed["value"] = redact_url(item["value"])
                items.append(scrubbed)
            return items
        return value
