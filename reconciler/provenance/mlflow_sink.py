"""Mirror run records into MLflow, for teams that track experiments there (optional).

Needs the ``mlflow`` extra (``pip install 'reconciler[mlflow]'``, the ``mlflow-skinny``
client). A :class:`MlflowSink` given to :class:`~reconciler.provenance.store.ProvenanceStore`
(``sinks=[...]``) logs every record the store commits, as one MLflow run per record:

- experiment: ``experiment`` with ``{pipeline}`` and ``{env}`` filled in (default the
  pipeline's name), created on first use;
- run name: the run name (``<run-id>`` or ``<run-id>-<N>``); start and end time from the
  record; status FINISHED (Succeeded), FAILED or KILLED (Cancelled);
- params: the run's params, plus ``dataset.<name>.md5``;
- metrics: numeric metrics by name (the flat view) and as ``<step>.<metric>``;
- tags: ``reconciler.*`` (run, attempt, id, env, pipeline, status, commit, promoted, model,
  trigger, record path) and ``mlflow.source.git.commit``.

Logging is idempotent: a run already tagged with the same env, pipeline and run name is
found and returned instead of logging a second one. Git stays the source of truth: a sink
that fails only logs a warning (see the store).
"""

from __future__ import annotations

import json
import math
from typing import Any

from reconciler.provenance.records import RunRecord
from reconciler.structs.errors import ProvenanceError
from reconciler.structs.runs import RunStatus

MAX_PARAM_LENGTH = 500
"""MLflow's oldest limit on a param value; longer values are truncated."""

_STATUS = {
    RunStatus.SUCCEEDED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.CANCELLED: "KILLED",
}


def _millis(record_time: Any) -> int | None:
    return None if record_time is None else int(record_time.timestamp() * 1000)


def _number(value: Any) -> float | None:
    """Return a finite metric value as float, None for anything MLflow cannot plot."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:MAX_PARAM_LENGTH]


def record_params(record: RunRecord) -> dict[str, str]:
    """Return the MLflow params of a record: its params and each dataset's md5."""
    params = {str(k): _param_text(v) for k, v in record.params.items()}
    for d in record.datasets:
        if d.md5:
            params[f"dataset.{d.name}.md5"] = d.md5
    return params


def record_metrics(record: RunRecord) -> dict[str, float]:
    """Return the numeric metrics of a record: flat by name and ``<step>.<metric>``."""
    out: dict[str, float] = {}
    for name, value in record.metrics_flat.items():
        number = _number(value)
        if number is not None and not str(name).startswith("_"):
            out[str(name)] = number
    for step, metrics in record.metrics.items():
        for name, value in metrics.items():
            number = _number(value)
            if number is not None and not str(name).startswith("_"):
                out[f"{step}.{name}"] = number
    return out


def record_tags(record: RunRecord) -> dict[str, str]:
    """Return the tags that identify a record's run in MLflow."""
    tags = {
        "reconciler.id": record.run_name,
        "reconciler.run": record.run,
        "reconciler.attempt": str(record.attempt),
        "reconciler.env": record.env,
        "reconciler.pipeline": record.pipeline,
        "reconciler.status": str(record.status),
        "reconciler.promoted": "true" if record.promoted else "false",
        "reconciler.trigger": str(record.trigger),
        "reconciler.record": record.path,
    }
    if record.reason:
        tags["reconciler.reason"] = record.reason[:MAX_PARAM_LENGTH]
    if record.source.commit:
        tags["reconciler.commit"] = record.source.commit
        tags["mlflow.source.git.commit"] = record.source.commit
    if record.source.repo:
        tags["mlflow.source.git.repoURL"] = record.source.repo
    if record.model_output:
        tags["reconciler.model"] = record.model_output
    return tags


class MlflowSink:
    """Logs records as MLflow runs on a tracking server or store (``tracking_uri``).

    Raises ProvenanceError at construction if the ``mlflow`` package is not installed.
    """

    def __init__(self, tracking_uri: str | None = None, *, experiment: str = "{pipeline}") -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise ProvenanceError(
                "the MLflow sink needs the mlflow extra: pip install 'reconciler[mlflow]'"
            ) from exc
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment = experiment
        self._experiments: dict[str, str] = {}

    def __call__(self, record: RunRecord) -> str:
        """Log a record (the store calls sinks this way); see :meth:`log`."""
        return self.log(record)

    def experiment_id(self, name: str) -> str:
        """Return the id of the experiment called ``name``, creating it if needed."""
        if name not in self._experiments:
            found = self.client.get_experiment_by_name(name)
            self._experiments[name] = (
                found.experiment_id if found is not None else self.client.create_experiment(name)
            )
        return self._experiments[name]

    def find(self, record: RunRecord) -> str | None:
        """Return the MLflow run id already logged for this record, or None."""
        exp = self.experiment_id(self._experiment_name(record))
        query = " and ".join(
            f"tags.`{key}` = '{record_tags(record)[key]}'"
            for key in ("reconciler.env", "reconciler.pipeline", "reconciler.id")
        )
        runs = self.client.search_runs([exp], filter_string=query, max_results=1)
        return runs[0].info.run_id if runs else None

    def log(self, record: RunRecord) -> str:
        """Log one record as one MLflow run and return its run id (the existing one if any)."""
        from mlflow.entities import Metric, Param

        existing = self.find(record)
        if existing is not None:
            return existing
        exp = self.experiment_id(self._experiment_name(record))
        tags = record_tags(record)
        run = self.client.create_run(
            exp,
            start_time=_millis(record.started or record.created),
            tags=tags,
            run_name=record.run_name,
        )
        run_id: str = run.info.run_id
        when = _millis(record.finished) or 0
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, when, 0) for k, v in record_metrics(record).items()],
            params=[Param(k, v) for k, v in record_params(record).items()],
            tags=[],
        )
        self.client.set_terminated(
            run_id, status=_STATUS[record.status], end_time=_millis(record.finished)
        )
        return run_id

    def _experiment_name(self, record: RunRecord) -> str:
        return self.experiment.replace("{pipeline}", record.pipeline).replace("{env}", record.env)


def sinks_for(tracking_uri: str | None) -> list[MlflowSink]:
    """Return the store sinks for ``--mlflow-tracking-uri`` ([] without one).

    Raises ProvenanceError naming the extra if the mlflow client is not installed.
    """
    return [MlflowSink(tracking_uri)] if tracking_uri else []
