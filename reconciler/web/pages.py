"""Page data: from the snapshot and Git reads to what each template shows.

Called by :mod:`reconciler.web.app` (one function per page). Pure but for the reads of
:class:`reconciler.web.readers.Readers`; nothing here talks to the cluster. Lists that can
get long (pipelines, changes, runs) are filtered by the search box's text and cut into
pages of :data:`PAGE_SIZE` on the server, so a page costs the same with 10 pipelines or
10,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from markupsafe import Markup

from reconciler.provenance.records import RunRecord
from reconciler.queries import history
from reconciler.web import charts, redaction
from reconciler.web.readers import Readers
from reconciler.web.snapshots import EnvironmentView, PipelineView, Snapshot

T = TypeVar("T")
PAGE_SIZE = 50
MAX_CHARTS = 6


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a filtered list: its items, position and the query that made it."""

    items: Sequence[T]
    number: int
    pages: int
    total: int
    query: str

    @property
    def first(self) -> int:
        """Return the 1-based index of the first item shown (0 when empty)."""
        return 0 if not self.total else (self.number - 1) * PAGE_SIZE + 1

    @property
    def last(self) -> int:
        """Return the 1-based index of the last item shown."""
        return min(self.total, self.number * PAGE_SIZE)


def paginate(items: Sequence[T], *, number: int, query: str, text_of: Any) -> Page[T]:
    """Return page ``number`` (1-based, clamped) of the items whose text contains ``query``."""
    needle = query.strip().lower()
    chosen = [i for i in items if needle in text_of(i).lower()] if needle else list(items)
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    number = min(max(1, number), pages)
    start = (number - 1) * PAGE_SIZE
    return Page(chosen[start : start + PAGE_SIZE], number, pages, len(chosen), query)


def env_query(view: EnvironmentView) -> str:
    """Return the query string naming a branch-pattern instance (``""`` for a fixed one)."""
    return "?" + urlencode({"branch": view.branch}) if "@" in view.key else ""


def retry_command(view: EnvironmentView, pipeline: str) -> str:
    """Return the command that starts a new attempt of a pipeline's current run."""
    branch = f" --branch {view.branch}" if "@" in view.key else ""
    return f"reconciler retry {pipeline} --env {view.env}{branch}"


def overview(snapshot: Snapshot, *, query: str, number: int) -> dict[str, Any]:
    """Return the environments page: every instance, with totals by state."""
    envs = snapshot.environments
    page = paginate(
        envs, number=number, query=query, text_of=lambda v: f"{v.key} {v.namespace} {v.state}"
    )
    totals: dict[str, int] = {}
    for v in envs:
        totals[v.state] = totals.get(v.state, 0) + 1
    return {
        "page": page,
        "totals": sorted(totals.items()),
        "in_flight": sum(v.in_flight for v in envs),
        "failed_runs": sum(len(v.failed_runs) for v in envs),
    }


def environment(view: EnvironmentView, *, query: str, number: int) -> dict[str, Any]:
    """Return one instance's page: its state and a page of its pipelines."""
    page = paginate(
        view.pipelines,
        number=number,
        query=query,
        text_of=lambda p: f"{p.name} {p.run} {p.status} {p.health} {p.serving_model}",
    )
    counts: dict[str, int] = {}
    for p in view.pipelines:
        counts[p.status] = counts.get(p.status, 0) + 1
    return {"view": view, "page": page, "counts": sorted(counts.items())}


def _step_caption(seconds: float | None) -> str:
    return "" if seconds is None else history.format_duration(seconds)


def pipeline(readers: Readers, view: EnvironmentView, p: PipelineView) -> dict[str, Any]:
    """Return a pipeline's page: its current run's steps, serving and promotion decision."""
    record = readers.record(p.name, view.env, p.run)
    steps = []
    for s in p.steps:
        started, finished = s.started, s.finished
        step_record = record.step(s.name) if record else None
        if step_record is not None:
            started = started or _iso(step_record.started)
            finished = finished or _iso(step_record.finished)
        steps.append({"step": s, "started": started, "finished": finished})
    nodes = [charts.Node(s.name, s.needs, s.phase, _step_caption(s.seconds)) for s in p.steps]
    serving = readers.record(p.name, view.env, p.serving_run) if p.serving_run else None
    return {
        "view": view,
        "p": p,
        "record": record,
        "steps": steps,
        "graph": charts.step_graph(nodes),
        "serving_record": serving,
        "retry": retry_command(view, p.name) if p.status == "Failed" else "",
    }


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def metric_charts(
    records: Sequence[RunRecord], *, href: Any, gate: tuple[str, float] | None
) -> list[tuple[str, Markup]]:
    """Return one chart per metric over the runs (``records`` newest first), promoted marked."""
    ordered = list(reversed(records))
    names: list[str] = []
    for rec in ordered:
        for k, v in rec.metrics_flat.items():
            if k not in names and not k.startswith("_") and _numeric(v) is not None:
                names.append(k)
    if gate and gate[0] in names:
        names.remove(gate[0])
        names.insert(0, gate[0])
    out = []
    for name in names[:MAX_CHARTS]:
        points = [
            charts.Point(rec.run_name, value, href(rec.run_name), rec.promoted)
            for rec in ordered
            if (value := _numeric(rec.metrics_flat.get(name))) is not None
        ]
        limit = gate[1] if gate and gate[0] == name else None
        out.append((name, charts.metric_chart(name, points, gate=limit)))
    return out


def runs(
    readers: Readers, view: EnvironmentView, name: str, *, number: int, query: str, href: Any
) -> dict[str, Any]:
    """Return a pipeline's run history: charts of its metrics and a page of its records."""
    found = readers.history(name, view.env)
    rows = [row for h in found.environments for row in h.rows]
    p = view.pipeline(name)
    gate = (p.gate_metric, p.gate_min) if p and p.gate_metric and p.gate_min is not None else None
    page = paginate(
        rows,
        number=number,
        query=query,
        text_of=lambda r: (
            f"{r.record.run_name} {r.record.status} {r.record.source.commit} {r.reason} {r.source}"
        ),
    )
    return {
        "view": view,
        "name": name,
        "p": p,
        "charts": metric_charts([r.record for r in rows], href=href, gate=gate),
        "page": page,
        "notes": [
            redaction.redact_text(f"{branch}: {note}")
            for h in found.environments
            for branch, note in sorted(h.notes.items())
        ],
        "errors": [redaction.redact_text(e) for e in found.errors],
        "redact": redaction.redact_text,
        "key_metrics": lambda rec: redaction.redact_data(history.key_metrics(rec)),
        "fmt": history.format_value,
        "duration": history.format_duration,
    }


def record(readers: Readers, view: EnvironmentView, name: str, run: str) -> dict[str, Any] | None:
    """Return one run's provenance record page, or None if there is no such record."""
    row = readers.row(name, view.env, run)
    if row is None:
        return None
    rec = row.record
    data = redaction.redact_data(rec.to_dict())
    return {
        "view": view,
        "name": name,
        "branch": row.branch,
        "reason": redaction.redact_text(row.reason),
        "rec": rec,
        "data": data,
        "yaml": redaction.redact_text(rec.to_yaml()),
        "serving": row.serving,
        "retry": retry_command(view, name) if str(rec.status) == "Failed" else "",
        "duration": history.format_duration,
        "fmt": history.format_value,
    }


def changes(view: EnvironmentView, *, query: str, number: int) -> dict[str, Any]:
    """Return an instance's pending changes (planned) or unfinished ones (applied)."""
    page = paginate(
        view.changes, number=number, query=query, text_of=lambda c: f"{c.subject} {c.action}"
    )
    counts: dict[str, int] = {}
    for c in view.changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    return {"view": view, "page": page, "counts": sorted(counts.items())}


def failures(readers: Readers, snapshot: Snapshot) -> dict[str, Any]:
    """Return every failing instance and every failed current run, with reason and retry."""
    failing = [v for v in snapshot.environments if v.failing]
    failed = []
    for v in snapshot.environments:
        for p in v.failed_runs:
            row = readers.row(p.name, v.env, p.run)
            rec = row.record if row else None
            reason = row.reason if row else p.health_reason
            failed.append(
                {
                    "view": v,
                    "p": p,
                    "reason": redaction.redact_text(reason or "step failed"),
                    "finished": rec.finished if rec else None,
                    "commit": rec.source.commit if rec else v.commit,
                    "retry": retry_command(v, p.name),
                }
            )
    return {"failing": failing, "failed": failed}
