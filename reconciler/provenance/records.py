"""The provenance record of one finished run, and its YAML form (design.md, "Provenance").

The run engine builds a :class:`RunRecord` when a run ends (Succeeded, Failed or Cancelled)
and hands it to :class:`reconciler.provenance.store.ProvenanceStore`; ``history``, ``status``
and the engine read records back with :meth:`RunRecord.from_yaml`.

The YAML is written with a fixed key order (so the same record always gives the same bytes,
which is what makes a write idempotent) by :mod:`reconciler.structs.codec` (libyaml, YAML
1.2 semantics), and read tolerantly: unknown top-level fields are
kept in :attr:`RunRecord.extra` and written back, so an older reconciler never drops what a
newer one recorded. Every record is scrubbed of secrets on the way out
(:mod:`reconciler.provenance.scrubbing`).

Layout of ``runs/<env>/<pipeline>/<run-name>.yaml``::

    apiVersion, kind, id (run name), run (run id), attempt, pipeline, env, status, reason,
    trigger, supersededBy, promotion, modelOutput, metricsFlat, metrics (by step),
    timestamps, source, params, datasets, cluster, steps, spec, reconcilerVersion
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from reconciler import __version__
from reconciler.provenance import scrubbing
from reconciler.structs import codec
from reconciler.structs.errors import ProvenanceError
from reconciler.structs.manifests import ObjectRef, split_api_version
from reconciler.structs.runs import RunStatus, run_name

API_VERSION = "reconciler.ml/v1alpha1"
KIND = "RunRecord"
RUNS_DIR = "runs"
FINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)

_PATH_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Trigger(StrEnum):
    """Why a run was started."""

    PUSH = "push"
    RETRY = "retry"
    REVERT = "revert"
    DATASET_CHANGE = "dataset-change"


def record_path(env: str, pipeline: str, run_name: str) -> str:
    """Return the repository path of a record: ``runs/<env>/<pipeline>/<run-name>.yaml``.

    Raises ProvenanceError if a part is empty or could escape its directory (``/``, ``..``).
    """
    for label, part in (("env", env), ("pipeline", pipeline), ("run", run_name)):
        if not _PATH_PART.match(part or "") or ".." in part:
            raise ProvenanceError(f"invalid {label} name for a provenance path: {part!r}")
    return f"{RUNS_DIR}/{env}/{pipeline}/{run_name}.yaml"


def records_dir(env: str, pipeline: str) -> str:
    """Return the directory holding every record of a pipeline in an environment."""
    return record_path(env, pipeline, "x").rsplit("/", 1)[0]


@dataclass
class SourceInfo:
    """Where the spec of a run came from; ``repo`` is always stored without credentials."""

    repo: str = ""
    ref: str = ""
    commit: str = ""
    spec_path: str = ""
    spec_sha256: str = ""


@dataclass
class DatasetRecord:
    """One dataset a run read: its pointer path, DVC md5, size in bytes and remote URL."""

    name: str
    path: str = ""
    md5: str = ""
    size: int | None = None
    remote: str = ""


@dataclass
class StepRecord:
    """One step of a run: outcome, what ran (image, digest, resources) and where (object).

    ``object`` is the step's Kubernetes object (its namespace is the cluster namespace) and
    ``uid`` its metadata.uid; ``digest`` is the image digest the cluster reported, if any.
    ``metrics`` are the JSON metrics the step reported in its termination message.
    """

    name: str
    status: str = ""
    reason: str = ""
    image: str = ""
    digest: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    object: ObjectRef | None = None
    uid: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClusterInfo:
    """The cluster a run ran in: API server URL (credentials removed) and namespace."""

    server: str = ""
    namespace: str = ""


@dataclass
class Promotion:
    """The promotion gate's decision: ``promoted`` iff ``value >= threshold`` (or no gate)."""

    promoted: bool
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    reason: str = ""


@dataclass
class RunRecord:
    """The provenance of one finished run (one attempt).

    ``run`` is the run id (the hash of the run's inputs) and ``attempt`` counts from 1; the
    run *name* (file and object names) is ``run`` for attempt 1 and ``<run>-<attempt>`` after.
    ``spec`` is the resolved pipeline spec (after the overlay) as plain data. Timestamps are
    timezone-aware (naive ones are taken as UTC). ``superseded_by`` is the commit whose newer
    run cancelled this one. ``extra`` holds top-level fields this version does not know.
    """

    run: str
    pipeline: str
    env: str
    status: RunStatus
    attempt: int = 1
    reason: str = ""
    trigger: Trigger = Trigger.PUSH
    superseded_by: str | None = None
    source: SourceInfo = field(default_factory=SourceInfo)
    spec: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    datasets: list[DatasetRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    cluster: ClusterInfo = field(default_factory=ClusterInfo)
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    model_output: str | None = None
    promotion: Promotion | None = None
    reconciler_version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived views

    @property
    def run_name(self) -> str:
        """The run name: ``run`` for attempt 1, ``<run>-<attempt>`` for later attempts."""
        return run_name(self.run, self.attempt)

    @property
    def path(self) -> str:
        """The record's repository path (see :func:`record_path`)."""
        return record_path(self.env, self.pipeline, self.run_name)

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from ``started`` (or ``created``) to ``finished``; None if either is unknown."""
        start = self.started or self.created
        if start is None or self.finished is None:
            return None
        return round((self.finished - start).total_seconds(), 3)

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """The run's metrics, union by step: ``{step: {metric: value}}`` (empty steps left out)."""
        return {s.name: dict(s.metrics) for s in self.steps if s.metrics}

    @property
    def metrics_flat(self) -> dict[str, Any]:
        """Every metric by name; if two steps report the same name, the later step wins."""
        flat: dict[str, Any] = {}
        for step in self.steps:
            flat.update(step.metrics)
        return flat

    @property
    def images(self) -> dict[str, dict[str, str]]:
        """Per step: ``{image, digest}`` (digest ``""`` if the cluster reported none)."""
        return {s.name: {"image": s.image, "digest": s.digest} for s in self.steps}

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Per step: the resources it requested."""
        return {s.name: dict(s.resources) for s in self.steps}

    @property
    def promoted(self) -> bool:
        """True if the run succeeded and passed the promotion gate."""
        return (
            self.status == RunStatus.SUCCEEDED
            and self.promotion is not None
            and self.promotion.promoted
        )

    @property
    def sort_time(self) -> datetime:
        """The time records are ordered by: finished, else started, else created, else epoch."""
        return self.finished or self.started or self.created or datetime.fromtimestamp(0, UTC)

    def step(self, name: str) -> StepRecord | None:
        """Return the step record called ``name``, or None."""
        return next((s for s in self.steps if s.name == name), None)

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain data in the YAML's key order, scrubbed of secrets."""
        if self.status not in FINAL_STATUSES:
            raise ProvenanceError(
                f"{self.env}/{self.pipeline} run {self.run_name}: only finished runs are "
                f"recorded (status {self.status!s})"
            )
        if self.attempt < 1:
            raise ProvenanceError(
                f"{self.env}/{self.pipeline} run {self.run}: attempt must be >= 1"
            )
        out: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "id": self.run_name,
            "run": self.run,
            "attempt": self.attempt,
            "pipeline": self.pipeline,
            "env": self.env,
            "status": str(self.status),
            "reason": self.reason,
            "trigger": str(self.trigger),
            "supersededBy": self.superseded_by,
            "promotion": _promotion_to_dict(self.promotion),
            "modelOutput": self.model_output,
            "metricsFlat": _json_safe(self.metrics_flat),
            "metrics": _json_safe(self.metrics),
            "timestamps": {
                "created": _time_to_str(self.created),
                "started": _time_to_str(self.started),
                "finished": _time_to_str(self.finished),
                "durationSeconds": self.duration_seconds,
            },
            "source": {
                "repo": self.source.repo,
                "ref": self.source.ref,
                "commit": self.source.commit,
                "specPath": self.source.spec_path,
                "specSha256": self.source.spec_sha256,
            },
            "params": _json_safe(self.params),
            "datasets": {
                d.name: {"path": d.path, "md5": d.md5, "size": d.size, "remote": d.remote}
                for d in self.datasets
            },
            "cluster": {"server": self.cluster.server, "namespace": self.cluster.namespace},
            "steps": [_step_to_dict(s) for s in self.steps],
            "spec": _json_safe(self.spec),
            "reconcilerVersion": self.reconciler_version,
        }
        for key, value in self.extra.items():
            if key not in out:
                out[key] = _json_safe(value)
        scrubbed: dict[str, Any] = scrubbing.scrub(out)
        return scrubbed

    def to_yaml(self) -> str:
        """Return the record's YAML text (stable: same record, same bytes)."""
        return codec.dump(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "<record>") -> RunRecord:
        """Build a record from plain data; ProvenanceError naming ``path`` if it is not one.

        Unknown top-level fields are kept in ``extra``; unknown fields inside sections are
        ignored. ``metrics`` by step are merged into the steps (a step only named there gets
        a step record of its own).
        """
        if not isinstance(data, dict):
            raise ProvenanceError(f"{path}: not a run record (expected a mapping)")
        if data.get("kind", KIND) != KIND:
            raise ProvenanceError(f"{path}: not a run record (kind {data.get('kind')!r})")
        try:
            rec = cls._from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProvenanceError(f"{path}: invalid run record: {_describe(exc)}") from exc
        return rec

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> RunRecord:
        for required in ("run", "pipeline", "env", "status"):
            if not data.get(required):
                raise ValueError(f"missing field {required!r}")
        ts = _mapping(data.get("timestamps"), "timestamps")
        src = _mapping(data.get("source"), "source")
        cluster = _mapping(data.get("cluster"), "cluster")
        steps = [_step_from_dict(s) for s in _list(data.get("steps"), "steps")]
        by_name = {s.name: s for s in steps}
        for step_name, metrics in _mapping(data.get("metrics"), "metrics").items():
            step = by_name.get(str(step_name))
            if step is None:
                step = StepRecord(name=str(step_name))
                steps.append(step)
                by_name[step.name] = step
            step.metrics = dict(_mapping(metrics, f"metrics.{step_name}"))
        datasets = [
            DatasetRecord(
                name=str(name),
                path=str(d.get("path") or ""),
                md5=str(d.get("md5") or ""),
                size=None if d.get("size") is None else int(d["size"]),
                remote=str(d.get("remote") or ""),
            )
            for name, d in (
                (n, _mapping(v, f"datasets.{n}"))
                for n, v in _mapping(data.get("datasets"), "datasets").items()
            )
        ]
        superseded = data.get("supersededBy")
        model = data.get("modelOutput")
        return cls(
            run=str(data["run"]),
            attempt=int(data.get("attempt") or 1),
            pipeline=str(data["pipeline"]),
            env=str(data["env"]),
            status=RunStatus(str(data["status"])),
            reason=str(data.get("reason") or ""),
            trigger=_trigger(data.get("trigger")),
            superseded_by=None if superseded is None else str(superseded),
            source=SourceInfo(
                repo=str(src.get("repo") or ""),
                ref=str(src.get("ref") or ""),
                commit=str(src.get("commit") or ""),
                spec_path=str(src.get("specPath") or ""),
                spec_sha256=str(src.get("specSha256") or ""),
            ),
            spec=dict(_mapping(data.get("spec"), "spec")),
            params=dict(_mapping(data.get("params"), "params")),
            datasets=datasets,
            steps=steps,
            cluster=ClusterInfo(
                server=str(cluster.get("server") or ""),
                namespace=str(cluster.get("namespace") or ""),
            ),
            created=_time_from(ts.get("created")),
            started=_time_from(ts.get("started")),
            finished=_time_from(ts.get("finished")),
            model_output=None if model is None else str(model),
            promotion=_promotion_from(data.get("promotion")),
            reconciler_version=str(data.get("reconcilerVersion") or ""),
            extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        )

    @classmethod
    def from_yaml(cls, text: str | bytes, *, path: str = "<record>") -> RunRecord:
        """Parse a record's YAML; ProvenanceError naming ``path`` on garbage or a bad record."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProvenanceError(f"{path}: not UTF-8 text") from exc
        try:
            data = codec.load(text)
        except codec.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ProvenanceError(f"{path}{where}: invalid YAML: {problem}") from exc
        return cls.from_dict(data, path=path)


_KNOWN_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "id",
        "run",
        "attempt",
        "pipeline",
        "env",
        "status",
        "reason",
        "trigger",
        "supersededBy",
        "promotion",
        "modelOutput",
        "metricsFlat",
        "metrics",
        "timestamps",
        "source",
        "params",
        "datasets",
        "cluster",
        "steps",
        "spec",
        "reconcilerVersion",
    }
)


def _describe(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"field {name!r} must be a mapping")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"field {name!r} must be a list")
    return value


def _trigger(value: Any) -> Trigger:
    try:
        return Trigger(str(value or Trigger.PUSH))
    except ValueError:
        # A newer reconciler may know more triggers; reading must not fail on them.
        return Trigger.PUSH


def _time_to_str(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def _time_from(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        text = str(value)
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _json_safe(value: Any) -> Any:
    """Return JSON/YAML-safe plain data: tuples to lists, datetimes to ISO text, keys to str."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return _time_to_str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _promotion_to_dict(p: Promotion | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "promoted": bool(p.promoted),
        "metric": p.metric,
        "value": p.value,
        "threshold": p.threshold,
        "reason": p.reason,
    }


def _promotion_from(value: Any) -> Promotion | None:
    if value is None:
        return None
    d = _mapping(value, "promotion")
    return Promotion(
        promoted=bool(d.get("promoted")),
        metric=None if d.get("metric") is None else str(d["metric"]),
        value=None if d.get("value") is None else float(d["value"]),
        threshold=None if d.get("threshold") is None else float(d["threshold"]),
        reason=str(d.get("reason") or ""),
    )


def _step_to_dict(s: StepRecord) -> dict[str, Any]:
    obj = None
    if s.object is not None:
        api_version = f"{s.object.group}/{s.object.version}" if s.object.group else s.object.version
        obj = {
            "apiVersion": api_version,
            "kind": s.object.kind,
            "namespace": s.object.namespace,
            "name": s.object.name,
            "uid": s.uid,
        }
    return {
        "name": s.name,
        "status": s.status,
        "reason": s.reason,
        "image": s.image,
        "digest": s.digest,
        "resources": _json_safe(s.resources),
        "object": obj,
        "started": _time_to_str(s.started),
        "finished": _time_to_str(s.finished),
    }


def _step_from_dict(value: Any) -> StepRecord:
    d = _mapping(value, "steps[]")
    obj = d.get("object")
    ref = None
    uid = ""
    if obj is not None:
        o = _mapping(obj, "steps[].object")
        group, version = split_api_version(str(o.get("apiVersion") or ""))
        ref = ObjectRef(
            group=group,
            kind=str(o.get("kind") or ""),
            namespace=str(o.get("namespace") or ""),
            name=str(o.get("name") or ""),
            version=version,
        )
        uid = str(o.get("uid") or "")
    return StepRecord(
        name=str(d["name"]),
        status=str(d.get("status") or ""),
        reason=str(d.get("reason") or ""),
        image=str(d.get("image") or ""),
        digest=str(d.get("digest") or ""),
        resources=dict(_mapping(d.get("resources"), "steps[].resources")),
        object=ref,
        uid=uid,
        started=_time_from(d.get("started")),
        finished=_time_from(d.get("finished")),
    )
