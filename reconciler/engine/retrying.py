"""``reconciler retry``: ask for a new attempt of a pipeline's finished run.

Called by the ``retry`` command. The decision rules (which attempt is current, what the
request looks like) are in :mod:`reconciler.runs.retries`; this module reads what they
need (the spec at the branch's commit, the Namespace, the run's record) and writes the
request.
"""

from __future__ import annotations

import logging

from reconciler.engine import preparing, sources
from reconciler.engine.seams import Context
from reconciler.runs import retries
from reconciler.specs import provenance_branches
from reconciler.structs.errors import ReconcilerError
from reconciler.structs.manifests import ObjectRef

log = logging.getLogger(__name__)


def request_retry(
    ctx: Context, env_name: str, pipeline: str, branch: str | None = None
) -> retries.RetryRequest:
    """Ask for a new attempt of a pipeline's current run (``reconciler retry``).

    Only a finished run (recorded Succeeded, Failed or Cancelled) can be retried; a
    running or never-started one raises ReconcilerError. The request is an annotation on
    the environment's Namespace, written with its own field manager, so it survives the
    reconciler's applies and any restart; the next reconcile starts attempt N+1.
    """
    source = sources.resolve_source(ctx.repo, env_name, branch, None)
    prepared = preparing.prepare(ctx, source, env_name)
    run_spec = prepared.run_specs.get(pipeline)
    if run_spec is None:
        if pipeline in prepared.failed_pipelines:
            raise ReconcilerError(
                f"pipeline {pipeline!r} does not render in {env_name!r}: fix it first"
            )
        raise ReconcilerError(f"no pipeline {pipeline!r} in environment {env_name!r}")
    namespace = prepared.target.namespace
    manager = ctx.manager_for(prepared.env.cluster_context)
    ns = manager.get(ObjectRef("", "Namespace", "", namespace, "v1"))
    if ns is None:
        raise ReconcilerError(f"namespace {namespace!r} does not exist: sync {env_name!r} first")
    attempt = retries.attempt_of(run_spec, ns)
    pbranch = provenance_branches.branch_for(prepared.env, pipeline, source.branch)
    try:  # the daemon that recorded the run pushed it from elsewhere: read the remote's
        ctx.provenance.fetch([pbranch])
    except ReconcilerError as exc:
        log.warning("provenance branch %s not fetched (%s): using what is known here", pbranch, exc)
    record = ctx.provenance.get(pbranch, prepared.env.name, pipeline, run_spec.run_name(attempt))
    if record is None:
        raise ReconcilerError(
            f"run {run_spec.run_name(attempt)} of {pipeline!r} in {env_name!r} has not finished: "
            "only a finished run can be retried"
        )
    manager.call(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        query=[("fieldManager", retries.FIELD_MANAGER)],
        body=retries.request_patch(run_spec, attempt + 1),
        content_type="application/merge-patch+json",
    )
    return retries.RetryRequest(pipeline, run_spec.run_id, attempt + 1, str(record.status))
