"""Plan one environment instance: the sync data path as a server-side dry run.

Called by the ``plan`` and ``review`` commands (through the engine). Costs what a sync
costs in reads (one GET of the ApplySet parent, one LIST per kind), plus one dry-run
PATCH per object that is new, changed or drifted; objects whose owned fields match
exactly (:mod:`reconciler.apply.fields`) cost nothing, and
pruning costs no request (the listed objects are what would be deleted).
"""

from __future__ import annotations

from reconciler.apply.applysets import ApplySet
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import SyncOptions, SyncResult, dry_run_options, sync_objects
from reconciler.structs.changesets import ChangeSet
from reconciler.structs.manifests import Manifest


def plan_result(
    manager: ResourceManager,
    *,
    applyset: ApplySet,
    desired: list[Manifest],
    options: SyncOptions | None = None,
) -> SyncResult:
    """Return the full dry-run result (change set, missing operators, request counts).

    ``options`` are the sync's (prune guards included); ``dry_run`` and ``diff`` are forced on.
    """
    return sync_objects(
        manager, applyset=applyset, desired=desired, options=dry_run_options(options)
    )


def plan_objects(
    manager: ResourceManager,
    *,
    applyset: ApplySet,
    desired: list[Manifest],
    options: SyncOptions | None = None,
) -> ChangeSet:
    """Return what syncing ``desired`` would do: each entry's action means "would be".

    CONFIGURED entries carry a unified diff of the changed fields only (server-owned
    fields, status and bookkeeping annotations dropped; Secret values masked). Nothing
    in the cluster changes.
    """
    return plan_result(manager, applyset=applyset, desired=desired, options=options).changeset
