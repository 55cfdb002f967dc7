"""``review --live``: what syncing a commit would change in the cluster, from a dry run.

Called by the ``review`` command, which hands the returned function to
:mod:`reconciler.review.reports` (review itself never talks to a cluster).
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.engine import reconciling
from reconciler.engine.seams import Context
from reconciler.specs.models import Environment


def live_plan(ctx: Context) -> Callable[[Environment, str, str], list[str]]:
    """Return review's live part: the changes a dry-run sync of a commit would make.

    Nothing is written, not even a record; only changes are listed (``Kind/ns/name action``).
    """

    def plan(env: Environment, branch: str, sha: str) -> list[str]:
        out = reconciling.reconcile(ctx, env.name, branch, ref=sha, dry_run=True)
        return [str(e) for e in out.changeset.entries if e.action != "unchanged"]

    return plan
