"""Run data shared by render, runs, provenance and the CLI (design.md, "Runs").

A *run id* is the short hash of a run's inputs (see ``reconciler.render.runids``); a *run
name* is the run id for the first attempt and ``<run-id>-<N>`` for attempt N >= 2 (made by
``reconciler retry``). Object names and provenance paths use the run name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.structs.manifests import Manifest


class RunStatus(StrEnum):
    """The state of a run; the last three are final and recorded in provenance."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        """True for Succeeded, Failed and Cancelled."""
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepPhase(StrEnum):
    """The phase of one step object, as health reads it from the cluster.

    Unknown: the object's status cannot be read (malformed); the run is not finished.
    """

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


def run_name(run_id: str, attempt: int) -> str:
    """Return the run name of an attempt: the id itself for attempt 1, ``<id>-<N>`` after."""
    return run_id if attempt <= 1 else f"{run_id}-{attempt}"


def split_run_name(name: str) -> tuple[str, int]:
    """Return ``(run_id, attempt)`` of a run name (inverse of :func:`run_name`)."""
    head, _, tail = name.rpartition("-")
    if head and tail.isdigit():
        return head, int(tail)
    return name, 1


@dataclass(frozen=True)
class ServedModel:
    """The model a pipeline serves in an environment: the run it came from and its URI."""

    run: str
    model_uri: str


@dataclass(frozen=True)
class RunState:
    """What render needs to know about a pipeline's current run, derived from cluster + records.

    ``recorded`` is True once a provenance record exists for ``run`` (the run is final and
    is never started again). ``live_steps`` are the step objects that exist in the cluster,
    ``succeeded_steps`` those among them that succeeded, ``failed`` whether any step failed.
    ``serving`` is the model the pipeline should serve, or None for no serving.
    ``live_objects`` are the live step objects of ``run`` by step name, as listed (read
    only: render hands them to the sync as they are, see
    :func:`reconciler.render.environments.pipeline_objects`); not part of equality.
    """

    run: str
    attempt: int = 1
    recorded: bool = False
    live_steps: frozenset[str] = field(default_factory=frozenset)
    succeeded_steps: frozenset[str] = field(default_factory=frozenset)
    failed: bool = False
    serving: ServedModel | None = None
    live_objects: Mapping[str, Manifest] = field(default_factory=dict, compare=False, repr=False)
