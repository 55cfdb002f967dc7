"""Branch names, branch patterns and the namespace of each branch of an environment.

Called by the schema's ``branch`` and ``provenance-branch`` formats, by the rules that
join an Environment's ``branch`` and ``namespace``, and by render, the engine and review
to find which environment instance a branch belongs to and in which namespace it runs.

Patterns: ``*`` and ``?`` match within one path segment (never ``/``), ``**`` matches
across segments, ``[abc]``/``[!abc]`` are character classes; the pattern must match the
whole branch name (``exp/*`` matches ``exp/a``, not ``exp/a/b``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from reconciler.specs import models
from reconciler.specs.patterns import NAMESPACE_HASH_LENGTH, OBJECT_NAME_MAX
from reconciler.structs import labels

HEADS = "refs/heads/"
_GLOB_TOKEN = re.compile(r"\*\*|\*|\?|\[!?\]?[^\]]*\]")


def ref_name_problem(name: str) -> str | None:
    """Return why ``name`` is not a valid branch name (git check-ref-format), or None."""
    if not name:
        return "is empty"
    if name.startswith("refs/"):
        return "give the branch name without 'refs/heads/'"
    if name.startswith("-"):
        return "must not start with '-'"
    if name == "@":
        return "must not be '@'"
    for ch in name:
        if ord(ch) < 0x20 or ord(ch) == 0x7F or ch in " ~^:?*[\\":
            return f"must not contain {ch!r}" if ch.isprintable() else "must not contain controls"
    if ".." in name:
        return "must not contain '..'"
    if "@{" in name:
        return "must not contain '@{'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "must not start or end with '/' or contain '//'"
    if name.endswith("."):
        return "must not end with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return "no path component may start with '.'"
        if part.endswith(".lock"):
            return "no path component may end with '.lock'"
    return None


def is_pattern(text: str) -> bool:
    """True if ``text`` is a branch pattern (has a wildcard) rather than one branch."""
    return any(c in text for c in "*?[")


def pattern_problem(pattern: str) -> str | None:
    """Return why a branch name or pattern is invalid, or None."""
    if not is_pattern(pattern):
        return ref_name_problem(pattern)
    if pattern.count("[") != pattern.count("]"):
        return "has an unbalanced '[' ']'"
    sample = _GLOB_TOKEN.sub("x", pattern)
    if any(c in sample for c in "*?[]"):
        return "has a malformed wildcard"
    return ref_name_problem(sample)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    pos = 0
    for m in _GLOB_TOKEN.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        tok = m.group(0)
        if tok == "**":
            out.append(".*")
        elif tok == "*":
            out.append("[^/]*")
        elif tok == "?":
            out.append("[^/]")
        else:
            body = tok[1:-1]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            chars = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            chars = chars.replace("]", "\\]")
            out.append(f"(?!/)[{'^' if negate else ''}{chars}]")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


def pattern_matches(pattern: str, branch: str) -> bool:
    """True if a branch name matches a branch pattern (``*``/``?`` within a segment)."""
    return _glob_regex(pattern).fullmatch(short_branch(branch)) is not None


def short_branch(branch: str) -> str:
    """Return a branch name without its ``refs/heads/`` prefix."""
    return branch[len(HEADS) :] if branch.startswith(HEADS) else branch


def branch_matches(env: models.Environment, branch: str) -> bool:
    """True if ``branch`` belongs to the environment (equal name, or matches its pattern).

    ``branch`` is a short name (``exp/lr-sweep``); a ``refs/heads/`` prefix is dropped.
    """
    branch = short_branch(branch)
    if not env.is_pattern:
        return branch == env.branch
    return _glob_regex(env.branch).fullmatch(branch) is not None


def _pattern_prefix(pattern: str) -> str:
    """Return the literal text of a pattern before its first wildcard."""
    idx = min((pattern.index(c) for c in "*?[" if c in pattern), default=len(pattern))
    return pattern[:idx]


def branch_slug(env: models.Environment, branch: str) -> str:
    """Return the ``{branch}`` value of a branch: the part after the pattern's literal prefix.

    Lowercased, runs of characters outside ``[a-z0-9-]`` (and of ``-``) become one ``-``,
    leading and trailing ``-`` trimmed. May be empty (the caller adds a hash).
    """
    rest = short_branch(branch)[len(_pattern_prefix(env.branch)) :]
    slug = re.sub(r"[^a-z0-9]+", "-", rest.lower())
    return slug.strip("-")


def namespace_for_branch(env: models.Environment, branch: str) -> str:
    """Return the namespace of one branch of an environment: one namespace per branch.

    For a fixed branch, the environment's namespace. For a pattern, its namespace with
    ``{branch}`` replaced by :func:`branch_slug` (``exp/*`` + ``exp/lr-sweep`` →
    ``lr-sweep``). Whenever the slug is not the branch's part as it is (lowercased, a
    character replaced, cut to fit 63 characters, or empty), or the namespace would be a
    system namespace, the slug is suffixed with the first 8 hex digits of the branch
    name's sha256: ``exp/a-b`` → ``ml-exp-a-b``, ``exp/a_b`` → ``ml-exp-a-b-<hash>``,
    ``exp/A.B`` → ``ml-exp-a-b-<other hash>``. The Namespace also carries the branch
    (``reconciler.ml/branch``), and a namespace that belongs to another branch is
    refused at sync (:func:`owner_problem`). Raises ValueError if the branch is not the
    environment's.
    """
    if not branch_matches(env, branch):
        raise ValueError(
            f"branch {branch!r} does not match environment {env.name!r} ({env.branch})"
        )
    if not env.is_pattern:
        return env.namespace
    rest = short_branch(branch)[len(_pattern_prefix(env.branch)) :]
    slug = branch_slug(env, branch)
    literal = len(env.namespace) - len("{branch}")
    plain = env.namespace.replace("{branch}", slug)
    if slug and slug == rest and len(plain) <= OBJECT_NAME_MAX and plain not in system_namespaces():
        return plain
    digest = hashlib.sha256(short_branch(branch).encode()).hexdigest()[:NAMESPACE_HASH_LENGTH]
    room = OBJECT_NAME_MAX - literal - NAMESPACE_HASH_LENGTH - 1
    cut = slug[: max(room, 0)].rstrip("-")
    return env.namespace.replace("{branch}", f"{cut}-{digest}" if cut else digest)


# --- who may use a namespace --------------------------------------------------------------

SYSTEM_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "reconciler-system"}
)
"""Namespaces no Environment gets unless it sets ``allowSystemNamespace: true``."""
OWN_NAMESPACE_VARIABLE = "POD_NAMESPACE"
"""Set in the reconciler's own pod (``reconciler manifests``): its namespace is refused too."""


def system_namespaces() -> frozenset[str]:
    """Return the system namespaces, with the reconciler's own (``$POD_NAMESPACE``) if set."""
    own = os.environ.get(OWN_NAMESPACE_VARIABLE, "").strip()
    return SYSTEM_NAMESPACES | {own} if own else SYSTEM_NAMESPACES


def owner_problem(live: Mapping[str, Any] | None, *, env: str, branch: str | None) -> str | None:
    """Return why an environment instance may not use a live Namespace, or None.

    ``live`` is the Namespace as the cluster has it (None: it does not exist yet).
    ``branch`` is the branch of a branch-pattern instance (None for a fixed branch). A
    Namespace whose branch annotation names another branch belongs to that branch's
    instance: syncing this one there would prune the other's runs.
    """
    if live is None or branch is None:
        return None
    meta = live.get("metadata") or {}
    owner = (meta.get("annotations") or {}).get(labels.BRANCH)
    owner_env = (meta.get("labels") or {}).get(labels.ENV)
    name = meta.get("name", "")
    if owner and owner != short_branch(branch) and owner_env in (None, env):
        return (
            f"namespace {name!r} belongs to branch {owner!r} of environment {env!r}; "
            f"branch {short_branch(branch)!r} cannot use it (rename one of the branches, "
            "or change the environment's namespace pattern)"
        )
    return None
