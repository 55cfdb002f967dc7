"""What a reconcile logs: the change set it applied and every run and step it started.

One INFO line each, with ``env``, ``pipeline``, ``run`` and ``commit`` as fields (JSON
fields with ``--log-format json``). The ends of runs are logged where they are recorded
(:mod:`reconciler.runs.tracking`). A Namespace used as it is (someone else created it) is
noted once per process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from reconciler.engine.seams import Source
from reconciler.render import environments
from reconciler.runs import tracking
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest, ObjectRef, group_kind_of

if TYPE_CHECKING:
    from reconciler.apply.manager import LiveObjects
    from reconciler.apply.sync import SyncResult

log = logging.getLogger(__name__)


_NOTED_NAMESPACES: set[tuple[str, str]] = set()
"""(env, namespace) whose "used as it is" note this process has logged already."""


def _note_foreign_namespace(prepared: environments.Prepared, result: SyncResult) -> None:
    """Log once per process that an environment uses a Namespace it did not create."""
    from reconciler.apply.ownership import FOREIGN_NAMESPACE_NOTE

    key = (prepared.env.name, prepared.target.namespace)
    if key in _NOTED_NAMESPACES:
        return
    for entry in result.changeset.entries:
        if entry.subject.kind == "Namespace" and entry.message == FOREIGN_NAMESPACE_NOTE:
            _NOTED_NAMESPACES.add(key)
            log.info(
                "namespace used as it is",
                extra={"env": key[0], "namespace": key[1], "note": FOREIGN_NAMESPACE_NOTE},
            )
            return


def report(
    source: Source,
    prepared: environments.Prepared,
    desired: list[Manifest],
    live: LiveObjects,
    result: SyncResult,
    *,
    scoped: bool = False,
) -> None:
    """Log the change set a sync applied and every run it started (INFO, one line each).

    ``scoped``: the sync was a reconcile's scoped first pass (its line says ``scoped``).

    A run started is a run whose first step object this sync created (no step object of
    that run was live before); its later steps are logged as ``step started``. The ends of
    runs are logged where they are recorded (:mod:`reconciler.runs.tracking`).
    """
    counts = result.changeset.counts()
    env = prepared.env.name
    _note_foreign_namespace(prepared, result)
    if counts["created"] or counts["configured"] or counts["deleted"]:
        log.info(
            "change set applied",
            extra={
                "env": env,
                "commit": source.commit.sha,
                "objects_created": counts["created"],
                "objects_configured": counts["configured"],
                "objects_deleted": counts["deleted"],
                "objects_failed": counts["failed"] + counts["conflict"],
                **({"scoped": True} if scoped else {}),
            },
        )
    created = {e.subject.key for e in result.changeset.entries if e.action == "created"}
    if not created:
        return  # nothing started (a no-op: the live objects need not be looked at)
    live_runs = {k for k in map(_run_key, live.values()) if k is not None}
    for obj in desired:
        run_key = _run_key(obj)
        if run_key is None or ObjectRef.of(obj).key not in created:
            continue
        pipeline, run = run_key
        meta_labels = (obj.get("metadata") or {}).get("labels") or {}
        fields = {
            "env": env,
            "pipeline": pipeline,
            "run": run,
            "commit": source.commit.sha,
            "step": str(meta_labels.get(labels.STEP, "")),
            "kind": str(obj.get("kind", "")),
        }
        if run_key in live_runs:
            log.info("step started", extra=fields)
        else:
            live_runs.add(run_key)
            log.info("run started", extra=fields)


def _run_key(obj: Manifest) -> tuple[str, str] | None:
    """Return ``(pipeline, run)`` of a step object (None for anything else)."""
    if group_kind_of(obj) not in tracking.STEP_KINDS:
        return None
    meta_labels = (obj.get("metadata") or {}).get("labels") or {}
    pipeline, run = meta_labels.get(labels.PIPELINE), meta_labels.get(labels.RUN)
    return (str(pipeline), str(run)) if pipeline and run else None
