"""Track every run of one environment instance through one reconcile.

Called by the engine between listing the live objects and rendering. For each declared
pipeline: observe its run (``observing``), record the runs that just finished or must be
cancelled (``recording`` + the provenance store: outbox first, then git), and observe again
so the new record counts at once (a just-promoted run is served in the same reconcile).
For pipelines no longer declared: their unrecorded runs are recorded (Cancelled if still
running) before their objects are pruned. Objects of a run whose record could not be
written are protected from pruning: nothing is lost.

An older run (superseded, or of a removed pipeline) is judged and recorded with its own
run spec: the run spec the pipeline had at the commit last applied (``run_spec_at_applied``, rendered
only when such a run is found), so its record carries its steps, full spec and commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from reconciler import health
from reconciler.provenance.records import record_path
from reconciler.render import steps as step_objects
from reconciler.render.runspecs import RunSpec
from reconciler.runs import observing, reasons, recording, trimming
from reconciler.structs import labels
from reconciler.structs.errors import RecordError, SpecError
from reconciler.structs.manifests import Manifest, ObjectRef, group_kind_of
from reconciler.structs.runs import RunState, split_run_name

if TYPE_CHECKING:
    from reconciler.provenance import records as rec
    from reconciler.provenance.store import ProvenanceStore

STEP_KINDS = tuple(
    (api.split("/")[0] if "/" in api else "", kind)
    for api, kind in step_objects.STEP_KINDS.values()
)
SERVING_KINDS = (("apps", "Deployment"), ("serving.kserve.io", "InferenceService"))

log = logging.getLogger(__name__)


TRACK_GROUP = 256
"""Declared pipelines observed, read and recorded together (see :meth:`RunTracker.track`)."""


def object_name(obj: Manifest) -> str:
    """Return ``metadata.name``."""
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclass
class LiveRuns:
    """A pipeline-indexed view of the live objects: step objects and serving objects."""

    steps: dict[str, list[Manifest]] = field(default_factory=dict)
    serving: dict[str, Manifest] = field(default_factory=dict)

    @classmethod
    def of(cls, objs: Sequence[Manifest]) -> LiveRuns:
        """Index live objects by their ``reconciler.ml/pipeline`` label."""
        out = cls()
        for obj in objs:
            name = ((obj.get("metadata") or {}).get("labels") or {}).get(labels.PIPELINE)
            if not name:
                continue
            kind = group_kind_of(obj)
            if kind in STEP_KINDS:
                out.steps.setdefault(name, []).append(obj)
            elif kind in SERVING_KINDS and object_name(obj) == name:
                out.serving[name] = obj
        return out


@dataclass
class Tracked:
    """What the engine renders and reports from: states, protections, records written."""

    states: dict[str, RunState] = field(default_factory=dict)
    recorded_status: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, observing.RecordedRun] = field(default_factory=dict)
    """The record of each pipeline's current run, where it has one."""
    protected: set[str] = field(default_factory=set)
    records: list[str] = field(default_factory=list)
    pending: int = 0
    errors: list[SpecError | RecordError] = field(default_factory=list)
    in_flight: bool = False
    unrecorded: list[str] = field(default_factory=list)
    """In a dry run: ``<pipeline> run <run>`` of each finished run a sync would record."""


@dataclass
class RunTracker:
    """Observe and record the runs of one environment instance (see the module docstring).

    ``provenance`` is a ProvenanceStore; ``branch_for(pipeline)`` the provenance branch of a
    pipeline; ``list_pods()`` lists the namespace's pods (called at most once, and only when
    a run finished); ``read_whole(obj)`` reads a trimmed step object again, whole (see
    :mod:`.trimming`; None if it is gone), before its run is recorded; ``record_context``
    carries env, source, server and namespace; ``applied_commit`` is the commit last
    applied to the namespace and ``run_spec_at_applied(pipeline)`` the pipeline's run spec
    at that commit (None if unknown).
    """

    env: str
    namespace: str
    server: str
    source: recording.SourceFacts
    provenance: ProvenanceStore
    branch_for: Callable[[str], str]
    list_pods: Callable[[], list[Manifest]]
    read_whole: Callable[[Manifest], Manifest | None] = lambda obj: obj
    dry_run: bool = False
    applied_commit: str = ""
    run_spec_at_applied: Callable[[str], RunSpec | None] = lambda _pipeline: None
    reads_at_once: int = 1
    """Step objects read whole concurrently (see :meth:`track`)."""
    _pods: dict[str, list[Manifest]] | None = None
    _wholes: dict[ObjectRef, Manifest | Exception | None] = field(default_factory=dict)

    def run_spec_of(self, pipeline: str) -> observing.RunSpecFn:
        """Return a lookup of an older run's run spec by run name (the applied commit's run spec)."""
        return lambda run: observing.run_spec_for_run(self.run_spec_at_applied(pipeline), run)

    def pods(self) -> dict[str, list[Manifest]]:
        """Pods by owning step object name (one LIST, on first use)."""
        if self._pods is None:
            self._pods = recording.pods_by_job(self.list_pods())
        return self._pods

    def record_of(self, pipeline: str) -> Callable[[str], observing.RecordedRun | None]:
        """Return a lookup of a pipeline's records by run name."""
        branch = self.branch_for(pipeline)

        def lookup(run: str) -> observing.RecordedRun | None:
            r = self.provenance.summary(branch, self.env, pipeline, run)
            if r is None:
                return None
            return observing.RecordedRun(
                run=r.run_name,
                status=r.status,
                promoted=r.promoted,
                model_uri=r.model_output or "",
                reason=reasons.run_reason(r),
                not_served_because=reasons.gate_reason(r),
            )

        return lookup

    def track(
        self,
        run_specs: Mapping[str, RunSpec],
        attempts: Mapping[str, int],
        live: LiveRuns,
        *,
        ignore: Container[str],
    ) -> Tracked:
        """Track declared pipelines (``run_specs``) and undeclared ones found live (not in ``ignore``).

        Declared pipelines go in groups of :data:`TRACK_GROUP`: each group is observed,
        the trimmed step objects of its finishing runs are read whole, ``reads_at_once``
        at a time, then its runs are recorded. One GET after another was 8,400 reads for
        the 2,807 runs one sync recorded at 10,000 pipelines (7 s against the sandbox; a
        minute at a remote API server's 10 ms); the groups bound how many whole objects
        are held at once.
        """
        out = Tracked()
        names = sorted(run_specs)
        for start in range(0, len(names), TRACK_GROUP):
            group = names[start : start + TRACK_GROUP]
            seen = {n: self._observe(run_specs[n], attempts.get(n, 1), live) for n in group}
            self._read_wholes(
                o for obs in seen.values() for fin in obs.finishing for o in fin.objects.values()
            )
            for name in group:
                self._track_declared(out, run_specs[name], attempts.get(name, 1), live, seen[name])
            self._wholes.clear()
        for name, objs in sorted(live.steps.items()):
            if name not in run_specs and name not in ignore:
                self._track_removed(out, name, objs)
        return out

    def _observe(self, run_spec: RunSpec, attempt: int, live: LiveRuns) -> observing.Observation:
        name = run_spec.pipeline.name
        return observing.observe(
            run_spec,
            attempt=attempt,
            live_steps=live.steps.get(name, []),
            record_of=self.record_of(name),
            phase_of=health.step_phase,
            live_serving=live.serving.get(name),
            run_spec_of=self.run_spec_of(name),
        )

    def _read_wholes(self, objs: Iterable[Manifest]) -> None:
        """Read the trimmed ones of ``objs`` whole, ``reads_at_once`` at a time, for
        :meth:`_whole` (a failed read is kept as its exception, raised there)."""
        trimmed = [o for o in objs if trimming.is_trimmed(o)]
        if self.dry_run or not trimmed:
            return

        def read(obj: Manifest) -> Manifest | Exception | None:
            try:
                return self.read_whole(obj)
            except Exception as e:  # raised by _whole, where the record fails
                return e

        workers = min(self.reads_at_once, len(trimmed))
        if workers <= 1:
            results = [read(o) for o in trimmed]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(read, trimmed))
        for obj, result in zip(trimmed, results, strict=True):
            self._wholes[ObjectRef.of(obj)] = result

    def _track_declared(
        self, out: Tracked, run_spec: RunSpec, attempt: int, live: LiveRuns,
        obs: observing.Observation,
    ) -> None:  # fmt: skip
        name = run_spec.pipeline.name
        if obs.finishing:
            for fin in obs.finishing:
                self._record(out, fin, name)
            obs = self._observe(run_spec, attempt, live)
        out.states[name] = obs.state
        found = self.record_of(name)(obs.state.run) if obs.state.recorded else None
        out.recorded_status[name] = str(found.status) if found else ""
        if found is not None:
            out.recorded[name] = found
        out.in_flight = out.in_flight or obs.in_flight

    def _track_removed(self, out: Tracked, pipeline: str, objs: list[Manifest]) -> None:
        lookup, run_spec_of = self.record_of(pipeline), self.run_spec_of(pipeline)
        for run, steps in sorted(observing.group_by_run(objs).items()):
            if lookup(run) is not None:
                continue
            phases = {s: health.step_phase(o) for s, o in steps.items()}
            run_spec = run_spec_of(run)
            status, reason = observing.older_run_status(
                run_spec, phases, "pipeline removed from the environment"
            )
            fin = observing.Finishing(
                run, status, reason, steps, phases, current=False, run_spec=run_spec
            )
            self._record(out, fin, pipeline)

    def _record(self, out: Tracked, fin: observing.Finishing, pipeline: str) -> None:
        names = {object_name(o) for o in fin.objects.values()}
        if self.dry_run:  # nothing is written: keep what is not recorded
            out.protected |= names
            out.unrecorded.append(f"{pipeline} run {fin.run}")
            return
        source = self.source
        if not fin.current and self.applied_commit:  # an older run: its own commit
            source = replace(source, commit=self.applied_commit)
        try:
            fin = replace(fin, objects={s: self._whole(o, s, fin) for s, o in fin.objects.items()})
        except Exception as e:  # the record would lack its steps' images: not this pass
            out.protected |= names
            path = record_path(self.env, pipeline, fin.run)
            out.errors.append(RecordError(path, f"cannot read its step objects: {e}"))
            return
        record = recording.build_record(
            fin,
            env=self.env,
            pipeline=pipeline,
            run_spec=fin.run_spec,
            pods=self.pods(),
            source=source,
            server=self.server,
            namespace=self.namespace,
            superseded_by=self.source.commit,
        )
        try:
            written = self.provenance.write(self.branch_for(pipeline), record)
        except Exception as e:  # whatever failed, never prune an unrecorded run
            out.protected |= names
            out.errors.append(RecordError(record.path, str(e)))
            return
        out.records.append(record.path)
        pending = bool(getattr(written, "pending", False))
        out.pending += int(pending)
        self._log_finished(record, fin, pending=pending)

    def _whole(self, obj: Manifest, step: str, fin: observing.Finishing) -> Manifest:
        """Return ``obj`` whole: read again if it was trimmed.

        One deleted since it was listed gets the templates its run's spec renders for it
        (:func:`~reconciler.runs.trimming.with_templates_of`), so its record still names its
        image and resources; without a run spec that renders it, it stays as listed.
        """
        if not trimming.is_trimmed(obj):
            return obj
        key = ObjectRef.of(obj)
        if key in self._wholes:  # read with its group (None: gone since it was listed)
            read = self._wholes.pop(key)
            if isinstance(read, Exception):
                raise read
            whole = read
        else:
            whole = self.read_whole(obj)
        if whole is not None:
            return whole
        if fin.run_spec is None:
            return obj
        try:
            spec_step = fin.run_spec.pipeline.step(step)
        except KeyError:  # not a step of that spec: nothing renders it
            return obj
        rendered = step_objects.step_object(fin.run_spec, spec_step, split_run_name(fin.run)[1])
        return trimming.with_templates_of(obj, rendered)

    def _log_finished(
        self, record: rec.RunRecord, fin: observing.Finishing, *, pending: bool
    ) -> None:
        """Log a run's end (succeeded, failed, cancelled), its record and its promotion."""
        fields = {
            "env": self.env,
            "pipeline": record.pipeline,
            "run": record.run_name,
            "commit": record.source.commit or (self.applied_commit if not fin.current else ""),
            "status": str(record.status),
        }
        if record.reason:
            fields["reason"] = record.reason
        if record.superseded_by:
            fields["superseded_by"] = record.superseded_by
        log.info("run %s", str(record.status).lower(), extra=fields)
        branch = self.branch_for(record.pipeline)
        log.info(
            "run recorded",
            extra={**fields, "record": record.path, "branch": branch, "pushed": not pending},
        )
        promotion = record.promotion
        if promotion is not None and promotion.promoted:
            extra = {**fields, "metric": promotion.metric, "value": promotion.value}
            log.info("run promoted", extra=extra)
