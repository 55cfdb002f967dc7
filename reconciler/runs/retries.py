"""Retry requests: ``reconciler retry`` asks for attempt N+1 of a pipeline's finished run.

Called by the engine (which attempt is current, when a reconcile tracks runs; the request
itself, for ``reconciler retry``) and by the daemon's wiring (a changed request is a reason
to reconcile that pipeline now). A request is an annotation on the environment's Namespace,

    reconciler.ml/retry.<pipeline>: <run-id>:<attempt>

written with its own field manager (:data:`FIELD_MANAGER`), so the reconciler's own apply
never removes it and it survives restarts. A request that names an older run id (the spec
changed since) is ignored: the current run starts at attempt 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.render.runspecs import RunSpec
from reconciler.structs.manifests import Manifest

ANNOTATION_PREFIX = "reconciler.ml/retry."
FIELD_MANAGER = "reconciler-retry"


@dataclass(frozen=True)
class RetryRequest:
    """A retry that was requested: the pipeline, its run id and the new attempt."""

    pipeline: str
    run_id: str
    attempt: int
    previous_status: str

    @property
    def run(self) -> str:
        """The run name of the new attempt."""
        return f"{self.run_id}-{self.attempt}"


def requested(namespace: Manifest | None) -> dict[str, tuple[str, int]]:
    """Return the retry requests on an environment Namespace: ``{pipeline: (run_id, attempt)}``.

    Annotations that are not well-formed (no ``:``, a non-numeric attempt) are ignored.
    """
    out: dict[str, tuple[str, int]] = {}
    ann = ((namespace or {}).get("metadata") or {}).get("annotations") or {}
    for key, value in ann.items():
        if key.startswith(ANNOTATION_PREFIX) and ":" in str(value):
            rid, _, n = str(value).partition(":")
            if n.isdigit():
                out[key[len(ANNOTATION_PREFIX) :]] = (rid, int(n))
    return out


def attempt_of(run_spec: RunSpec, namespace: Manifest | None) -> int:
    """Return a pipeline's current attempt: the requested one if it names the current run."""
    rid, n = requested(namespace).get(run_spec.pipeline.name, ("", 1))
    return n if rid == run_spec.run_id else 1


def current_attempts(
    run_specs: Mapping[str, RunSpec], namespace: Manifest | None
) -> dict[str, int]:
    """Return every pipeline's current attempt (see :func:`attempt_of`)."""
    return {name: attempt_of(run_spec, namespace) for name, run_spec in run_specs.items()}


def request_patch(run_spec: RunSpec, attempt: int) -> Manifest:
    """Return the merge patch of the Namespace that asks for ``attempt`` of ``run_spec``'s run."""
    key = ANNOTATION_PREFIX + run_spec.pipeline.name
    return {"metadata": {"annotations": {key: f"{run_spec.run_id}:{attempt}"}}}


def changed_requests(before: Manifest | None, after: Manifest | None) -> set[str]:
    """Return the pipelines whose retry request differs between two versions of a Namespace."""
    old, new = requested(before), requested(after)
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
