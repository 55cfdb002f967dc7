"""Which branch an environment's run records are committed to (design.md, "Provenance").

Called by the engine (where a finishing run is recorded), by ``reconciler retry`` (the
record of the run to retry), by review (records of the runs a branch would reuse), by the
run history and by environment discovery (provenance branches are never environments'
branches). One definition, so the writer and every reader agree; it lives with the specs
because it reads only the Environment, and every stage may use it.

An Environment's ``provenanceBranch`` is a template: ``{pipeline}`` is the pipeline and
``{source}`` the branch the run was rendered from. Records never go to a branch people push
to: a template that would resolve to the source branch itself (``"{source}"``) is refused
by spec validation, and a branch-pattern environment records each branch's runs on a
branch of its own beside it, ``runs/<branch>`` by default (``runs/exp/lr-sweep`` for
``exp/lr-sweep``): the engineer's branch never receives a commit from the reconciler, so
their next push is a fast-forward and a pull brings no ``runs/`` into their tree. Those
sibling branches are ordinary branches, so ``git fetch`` (``refs/heads/*``) brings them,
hosted git servers accept them, and ``history``, ``review`` and the web page read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from reconciler.specs.models import Environment

PIPELINE = "{pipeline}"
SOURCE = "{source}"
DEFAULT_TEMPLATE = "experiments/{pipeline}"
"""Where a fixed-branch environment records by default: one orphan branch per pipeline."""
BRANCH_TEMPLATE = "runs/{source}"
"""Where a branch-pattern environment records by default: a sibling branch per branch."""


def resolve(template: str, *, pipeline: str, source: str) -> str:
    """Return the branch a template names for one pipeline and source branch."""
    return template.replace(PIPELINE, pipeline).replace(SOURCE, source)


def branch_for(env: Environment, pipeline: str, source: str) -> str:
    """Return the branch the records of ``pipeline`` in ``env`` go to, for a source branch.

    ``source`` is the branch the run was rendered from (the environment's own branch, or
    the matching branch of a branch-pattern environment).
    """
    return resolve(env.provenance_branch, pipeline=pipeline, source=source)


def per_source(template: str) -> bool:
    """True if a template names one branch per source branch (it contains ``{source}``)."""
    return SOURCE in template


def _regex(template: str) -> re.Pattern[str]:
    """Return a regex matching every branch the template can name (groups for both parts)."""
    seen: set[str] = set()
    out = []
    for part in re.split(r"(\{pipeline\}|\{source\})", template):
        if part in (PIPELINE, SOURCE):
            name = part.strip("{}")
            body = "[^/]+" if part == PIPELINE else ".+"
            out.append(f"(?P={name})" if name in seen else f"(?P<{name}>{body})")
            seen.add(name)
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def source_of(template: str, branch: str, *, pipeline: str | None = None) -> str | None:
    """Return the source branch a provenance branch was resolved from, or None.

    ``runs/{source}`` + ``runs/exp/lr-sweep`` -> ``exp/lr-sweep``. None if the branch does
    not come from the template (or, with ``pipeline``, not for that pipeline), or if the
    template has no ``{source}``.
    """
    if not per_source(template):
        return None
    m = _regex(template).fullmatch(branch)
    if m is None:
        return None
    if pipeline is not None and PIPELINE in template and m.group("pipeline") != pipeline:
        return None
    return m.group("source")


def is_provenance_branch(envs: Iterable[Environment], branch: str) -> bool:
    """True if ``branch`` is where some environment commits records (never a spec branch).

    Used by environment discovery so that a broad branch pattern (``**``) never treats a
    branch of records as a branch to deploy.
    """
    return any(_regex(env.provenance_branch).fullmatch(branch) is not None for env in envs)
