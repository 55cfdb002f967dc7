"""Recognise credentials by their value: known token formats, URL passwords, random strings.

Used by the spec checks (:mod:`reconciler.specs.secret_values`: a literal value that looks
like a credential is an error), by :mod:`reconciler.provenance.scrubbing` (records) and by
the daemon's log formatters, so a secret pasted into ``env``, ``params`` or ``args`` is
caught even when its variable name looks harmless.

What counts as a credential:

- known prefixes and shapes: GitHub (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``,
  ``github_pat_``), GitLab (``glpat-``), Slack (``xoxb-``, ``xoxp-``...), AWS access key
  ids (``AKIA``/``ASIA`` + 16), OpenAI-style keys (``sk-``), Hugging Face (``hf_``), JSON
  Web Tokens (``eyJ...``.``eyJ...``.sig), PEM private keys;
- a URL with a password (``scheme://user:password@host``);
- a long random-looking string: 32 characters or more of ``[A-Za-z0-9+/=_-]``, with upper
  and lower case letters and digits, and at least 4.3 bits of entropy per character.
  Hexadecimal strings (digests, commit ids, md5s) and UUIDs never match.

The escape hatch for a value that is not a secret but looks like one: name its variable
(or param) in the pipeline's ``metadata.annotations["reconciler.ml/not-secret"]``
(comma-separated); see :func:`not_secret_names`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

NOT_SECRET_ANNOTATION = "reconciler.ml/not-secret"
REDACTED = "<redacted>"
MIN_RANDOM_LENGTH = 32
MIN_ENTROPY_BITS = 4.3

_KNOWN: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
        ("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
        ("a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("an API key (sk-)", r"\bsk-[A-Za-z0-9_-]{20,}"),
        ("a Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}\b"),
        ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        ("a URL with a password", r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@"),
    )
)
_RANDOM_RUN = re.compile(rf"[A-Za-z0-9+/=_-]{{{MIN_RANDOM_LENGTH},}}")


def entropy(text: str) -> float:
    """Return the Shannon entropy of ``text`` in bits per character."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _random_looking(token: str) -> bool:
    return (
        any(c.isupper() for c in token)
        and any(c.islower() for c in token)
        and any(c.isdigit() for c in token)
        and entropy(token) >= MIN_ENTROPY_BITS
    )


def find_secret(text: str) -> str:
    """Return what kind of credential ``text`` contains ("a GitHub token"), or ""."""
    for kind, pattern in _KNOWN:
        if pattern.search(text):
            return kind
    for m in _RANDOM_RUN.finditer(text):
        if _random_looking(m.group(0)):
            return "a long random string (a key or token?)"
    return ""


def redact(text: str) -> str:
    """Return ``text`` with every credential-looking part replaced by :data:`REDACTED`.

    A URL keeps its scheme and host: only ``user:password@`` goes.
    """
    for kind, pattern in _KNOWN:
        if kind == "a URL with a password":
            text = pattern.sub(lambda m: m.group(0).split("://", 1)[0] + "://", text)
        else:
            text = pattern.sub(REDACTED, text)
    return _RANDOM_RUN.sub(lambda m: REDACTED if _random_looking(m.group(0)) else m.group(0), text)


def not_secret_names(annotations: Mapping[str, Any] | None) -> frozenset[str]:
    """Return the names a pipeline declares as not secret (``reconciler.ml/not-secret``)."""
    value = (annotations or {}).get(NOT_SECRET_ANNOTATION)
    if not isinstance(value, str):
        return frozenset()
    return frozenset(n.strip() for n in value.split(",") if n.strip())
