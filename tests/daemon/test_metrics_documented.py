"""The README's daemon Observability paragraph lists exactly what ``/metrics`` exports.

Every metric family of :class:`reconciler.daemon.prometheus.Metrics` is named there (and
nothing else), and the ``state`` values of ``reconciler_runs`` listed there are exactly the
states a pipeline's row can have: a run status, or ``RenderError``. A real reconcile in the
sandbox, with one pipeline that does not render, goes through the daemon's wiring into the
gauge: ``reconciler_runs{state="RenderError"}`` counts it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reconciler import engine
from reconciler.cli import wiring
from reconciler.daemon import prometheus
from reconciler.health import pipelines as pipeline_health
from reconciler.structs.runs import RunStatus
from tests.workflows.world import make_world

README = Path(__file__).resolve().parents[2] / "README.md"


def observability() -> str:
    """Return the README's daemon Observability paragraph (up to the logs)."""
    text = README.read_text()
    start = text.index("- **Observability.**")
    return text[start : text.index("Logs:", start)]


def exported_names(metrics: prometheus.Metrics) -> set[str]:
    """Return the names the daemon's metric families are scraped by (``_total`` counters)."""
    suffix = {"counter": "_total", "info": "_info"}
    return {f.name + suffix.get(f.type, "") for f in metrics.registry.collect()}


def test_every_exported_metric_and_every_runs_state_is_documented(
    tmp_path: Path, sandbox: Any
) -> None:
    paragraph = observability()
    documented = set(re.findall(r"`(reconciler_[a-z_]+)", paragraph))
    metrics = prometheus.Metrics()
    assert documented == exported_names(metrics)

    runs = paragraph[paragraph.index("`reconciler_runs{env,state}`") :]
    runs = runs[: runs.index("`reconciler_provenance")]
    states = set(re.findall(r"`([A-Z][A-Za-z]+)`", runs))
    assert states == {str(s) for s in RunStatus} | {pipeline_health.RENDER_ERROR}

    world = make_world(tmp_path, sandbox)
    world.edit("pipelines/fraud-detector.yaml", "  params:", "  paramz: {}\n  params:")
    world.commit_and_push("Typo")
    metrics.observe_reconcile("dev", wiring.outcome_for(engine.reconcile(world.ctx, "dev")), 1.0)
    exposition = metrics.render().decode()
    assert 'reconciler_runs{env="dev",state="RenderError"} 1.0' in exposition, exposition
    seen = set(re.findall(r'reconciler_runs\{env="dev",state="([^"]+)"\}', exposition))
    assert seen and seen <= states, seen
