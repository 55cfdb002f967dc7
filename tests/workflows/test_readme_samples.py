"""The README's sample output is what the commands print today, run ids and all.

The "Push: train, then serve" workflow is run as the README shows it (``reconciler plan``
then ``reconciler sync`` until every run is recorded) on a copy of the example repository
against the sandbox; the ``plan`` block must be the output, line for line (the commit is
the copy's, so it is read from the output), and every line of the ``sync`` block must be
printed by some sync. The run ids of the review sample are the ones the example gives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from reconciler import engine
from reconciler.cli.main import cli
from reconciler.source import repos
from tests.support import dvcrepos
from tests.workflows.world import World, make_world

README = Path(__file__).resolve().parents[2] / "README.md"
COMMIT = re.compile(r"(?<= at )[0-9a-f]{12}$", re.MULTILINE)
ROW = re.compile(r"^  \S+ +run \S+ ")
SUMMARY = re.compile(
    r"^created \d+, updated \d+, unchanged \d+, pruned \d+, conflicts \d+, failed \d+$"
)


def block_after(marker: str) -> str:
    """Return the first fenced block after the line containing ``marker``."""
    text = README.read_text()
    at = text.index(marker)
    start = text.index("```", at)
    body = text.index("\n", start) + 1
    return text[body : text.index("```", body)]


def run(world: World, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            *args,
            "--env",
            "dev",
            "--repo",
            str(world.work),
            "--kubeconfig",
            str(world.sandbox.kubeconfig),
            "--state-dir",
            str(world.work.parent / "cli-state"),
        ],
    )


def test_plan_and_sync_print_what_the_readme_shows(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    # As the README says: resnet50's evaluate reports no accuracy, so it is not served.
    world.outcomes(
        {"20-fraud-eval": {"match": "*/fraud-detector-*-evaluate", "message": '{"auc": 0.97}'}}
    )
    shown_plan = block_after("`plan` on a fresh environment:")
    plan = run(world, "plan")
    assert plan.exit_code == 2, plan.output
    (commit,) = COMMIT.findall(plan.stdout.splitlines()[0])
    assert COMMIT.sub(commit, shown_plan) == plan.stdout

    shown_sync = block_after("moves serving to a run that passed its gate:")
    printed: list[str] = []
    for _ in range(200):
        result = run(world, "sync")
        assert result.exit_code in (0, 2), result.output
        printed += result.stdout.splitlines()
        rows = [line for line in result.stdout.splitlines() if ROW.match(line)]
        if rows and all(" Succeeded " in line for line in rows):
            break
    assert rows == [line for line in shown_sync.splitlines() if ROW.match(line)]
    # Which sync prints which line depends on when steps finish; the counts of the summary
    # line too, so only its shape is compared.
    printed = [SUMMARY.sub("created N, ...", line) for line in printed]
    shown = [
        SUMMARY.sub("created N, ...", line) for line in COMMIT.sub(commit, shown_sync).splitlines()
    ]
    assert [line for line in shown if line not in printed] == []


def run_ids(repo: Path, env: str, branch: str | None = None) -> dict[str, str]:
    sha = repos.commit_info(repo, branch or "HEAD").sha
    with repos.checkout_tree(repo, sha) as (root, _):
        prepared = engine.prepare_target(root, env, branch=branch)
    return {name: spec.run_id for name, spec in prepared.run_specs.items()}


def test_the_review_sample_has_the_examples_run_ids(tmp_path: Path) -> None:
    work = dvcrepos.copy_example_repo(tmp_path / "work", origin=False)
    prod_base = run_ids(work, "prod")
    dvcrepos.git(work, "checkout", "-q", "-b", "exp/lr-sweep")
    spec = work / "pipelines" / "resnet50.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.02", 1))
    dvcrepos.commit_all(work, "Try a higher learning rate")
    prod_head = run_ids(work, "prod")
    exp_head = run_ids(work, "exp", "exp/lr-sweep")
    sample = block_after("The report, Markdown fit for a PR comment")
    exp_part, prod_part = sample.split("### Environment `prod`")
    rows = re.compile(r"^\| (\S+) \| (?:-|`(\w+)`) \| `(\w+)` \|", re.MULTILINE)
    assert {name: head for name, _, head in rows.findall(exp_part)} == exp_head
    prod_rows = rows.findall(prod_part.split("### Metrics")[0])
    assert {name: base for name, base, _ in prod_rows} == prod_base
    assert {name: head for name, _, head in prod_rows} == prod_head
    metrics = prod_part.split("### Metrics")[1]
    assert f"(prod `{prod_base['resnet50']}`)" in metrics
    assert f"(exp `{exp_head['resnet50']}`)" in metrics
