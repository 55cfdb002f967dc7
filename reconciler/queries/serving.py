"""Which run an environment serves at a commit, from Git and the provenance records alone.

Called by review (the base column: what the base commit would serve), by the run history
(the ``serving`` marker) and by the web page. The contract's rule, replayed offline:
serving points at the newest Succeeded attempt of the *current spec's* run that passed the
promotion gate; until there is one it stays on the model it had. So the served run at a
commit is found by walking that branch's spec commits back from it (first parent, skipping
commits that only touched ``runs/``): the first commit whose run of the pipeline has a
promoted record is the one served. After a ``git revert`` that is the earlier run (the
reverted spec has its run id), never the newest promoted record by time.

Without a cluster this cannot see a retry that is still running or an operator's manual
change; ``status`` reads the live serving object for that. Run ids are computed by
rendering the environment at each commit (cached per commit, environment and branch); the
walk stops after :data:`MAX_SPEC_COMMITS` spec commits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler import engine
from reconciler.provenance.records import RunRecord
from reconciler.source import repos
from reconciler.structs.errors import ReconcilerError
from reconciler.structs.runs import RunStatus

MAX_SPEC_COMMITS = 20
"""How far back the walk goes; older commits are not searched (``note`` says so)."""


@dataclass(frozen=True)
class Served:
    """The answer for one pipeline in one environment instance at one commit.

    ``record`` is the record of the served run (None: nothing is served); ``run_id`` is the
    run the commit's own spec would run (None if the pipeline does not render there);
    ``from_commit`` the spec commit whose run is served; ``note`` says why nothing, or an
    older run, is served.
    """

    record: RunRecord | None
    run_id: str | None
    from_commit: str = ""
    note: str = ""

    @property
    def run_name(self) -> str | None:
        """The run name of the served run (``<id>`` or ``<id>-<attempt>``), if any."""
        return self.record.run_name if self.record is not None else None


@dataclass(frozen=True)
class SpecRuns:
    """The run of every pipeline that renders in one environment instance at one commit.

    ``runs`` maps pipeline -> run id; ``serving`` is the set of pipelines that serve there
    (the pipeline has ``serve`` and the environment ``serve: true``).
    """

    runs: dict[str, str]
    serving: frozenset[str]


@functools.lru_cache(maxsize=256)
def spec_runs(repo: Path, sha: str, env_name: str, branch: str) -> SpecRuns | None:
    """Return the run ids an environment instance has at a commit (None: it does not render).

    Cached by commit (content-addressed: the same commit always gives the same runs).
    """
    try:
        with repos.checkout_tree(repo, sha) as (root, _):
            prepared = engine.prepare_target(root, env_name, branch=branch)
    except ReconcilerError:
        return None
    runs = {name: spec.run_id for name, spec in prepared.run_specs.items()}
    serving = frozenset(
        name
        for name, spec in prepared.run_specs.items()
        if spec.pipeline.serve is not None and prepared.env.serve
    )
    return SpecRuns(runs, serving)


def spec_commits(repo: Path, sha: str, limit: int = MAX_SPEC_COMMITS) -> list[str]:
    """Return up to ``limit`` first-parent commits from ``sha`` back that touched specs.

    Commits that only touched ``runs/`` (provenance) are skipped, as the engine skips them.
    """
    out = repos.git(
        repo,
        "log",
        "--first-parent",
        "--format=%H",
        f"-n{limit}",
        sha,
        "--",
        ".",
        f":(exclude){repos.PROVENANCE_DIR}",
    )
    return out.decode().split()


def promoted_record(records: Iterable[RunRecord], run_id: str) -> RunRecord | None:
    """Return the newest attempt of ``run_id`` that Succeeded and was promoted, or None."""
    found = [r for r in records if r.run == run_id and r.status == RunStatus.SUCCEEDED]
    found = [r for r in found if r.promoted]
    return max(found, key=lambda r: r.attempt, default=None)


def served_at(
    repo: Path,
    *,
    env_name: str,
    branch: str,
    sha: str,
    pipeline: str,
    records: Sequence[RunRecord],
) -> Served:
    """Return what an environment instance serves for ``pipeline`` at commit ``sha``.

    ``records`` are the pipeline's records in that environment (from its provenance
    branch). See the module docstring for the rule. Without any promoted record nothing
    is rendered: nothing can be served.
    """
    if not any(r.promoted and r.status == RunStatus.SUCCEEDED for r in records):
        return Served(None, None, note="no run has passed its promotion gate yet")
    head_run: str | None = None
    for i, commit in enumerate(spec_commits(repo, sha)):
        runs = spec_runs(repo, commit, env_name, branch)
        if runs is None or (i > 0 and pipeline not in runs.runs):
            continue  # did not render then: the cluster kept what it had
        run_id = runs.runs.get(pipeline)
        if i == 0:
            head_run = run_id
        if run_id is None or pipeline not in runs.serving:
            return Served(None, head_run, note=_not_serving(runs, pipeline, env_name, commit))
        found = promoted_record(records, run_id)
        if found is None:
            continue
        if i == 0:
            return Served(found, head_run, commit)
        current = (
            f"the current spec's run {head_run} is not promoted"
            if head_run
            else f"the spec at {sha[:12]} does not render"
        )
        return Served(found, head_run, commit, f"{current}: still serving {found.run_name}")
    return Served(None, head_run, note="no run of this spec has passed its promotion gate yet")


def _not_serving(runs: SpecRuns, pipeline: str, env_name: str, commit: str) -> str:
    if pipeline not in runs.runs:
        return f"pipeline {pipeline} does not render in {env_name} at {commit[:12]}"
    return f"pipeline {pipeline} does not serve in {env_name}"
