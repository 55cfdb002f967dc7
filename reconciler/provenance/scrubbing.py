"""Keep secrets out of provenance records: redact URL credentials and credential-like env values.

Called by :mod:`reconciler.provenance.records` on every record before it is serialised, so no
caller can write a secret by mistake. Pipelines hold secrets by reference only (``secretEnv``);
this is the defensive second line: a literal ``env`` value whose *name* looks like a credential
(``WANDB_API_KEY``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``, ``HF_TOKEN``) is replaced by
:data:`REDACTED`, and ``user:password@`` is removed from every URL-looking string.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"

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


def scrub(value: Any, *, _in_env: bool = False) -> Any:
    """Return a deep copy of JSON-like data with secrets redacted.

    Every string has URL credentials removed. Inside a mapping under a key named ``env``
    (a step's ``env: {NAME: value}``) or a Kubernetes env list (``[{name, value}]``), values of
    credential-like names become :data:`REDACTED`. Tuples become lists; other scalars are
    returned as they are.
    """
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if _in_env and isinstance(key, str) and is_credential_name(key):
                out[key] = REDACTED if item is not None else None
                continue
            out[key] = scrub(item, _in_env=isinstance(key, str) and key in _ENV_KEYS)
        return out
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            if (
                _in_env
                and isinstance(item, dict)
                and isinstance(item.get("name"), str)
                and "value" in item
                and is_credential_name(item["name"])
            ):
                item = {**item, "value": REDACTED}
            items.append(scrub(item))
        return items
    return value
