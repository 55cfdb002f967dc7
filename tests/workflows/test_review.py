"""``reconciler review BASE..HEAD``: the pull-request report, offline and against a cluster."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reconciler.cli.main import cli
from tests.support import dvcrepos
from tests.workflows.world import GOOD, make_world, status


def review(repo: Path, spec: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["review", spec, "--repo", str(repo), "--state-dir", str(repo.parent / "state"), *args]
    )
    return result.exit_code, result.output


def json_keys(value: Any) -> set[str]:
    """Return every key of every object in a JSON document."""
    if isinstance(value, dict):
        return set(value).union(*(json_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(json_keys(v) for v in value))
    return set()


CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def test_review_reports_runs_params_datasets_and_exits_2(tmp_path: Path) -> None:
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    code, out = review(work, "main..main")
    assert code == 0 and "No changes in any environment." in out
    dvcrepos.git(work, "checkout", "-q", "-b", "exp/lr-sweep")
    spec = work / "pipelines" / "resnet50.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.02"))
    dvcrepos.dvc(work, "pull", "-q", "datasets/fraud-transactions.csv.dvc")
    data = work / "datasets" / "fraud-transactions.csv"
    data.write_text(data.read_text() + data.read_text().splitlines()[-1] + "\n")
    dvcrepos.dvc_add(work, ["datasets/fraud-transactions.csv"])
    dvcrepos.commit_all(work, "Experiment: lr 0.02 and new transactions")
    code, out = review(work, "main..exp/lr-sweep")
    assert code == 2, out
    assert "### Environment `exp` (branch `exp/lr-sweep`, namespace `ml-exp-lr-sweep`)" in out
    assert "| resnet50 | lr | `0.01` | `0.02` |" in out or "| resnet50 | lr | 0.01 | 0.02 |" in out
    assert "datasets/fraud-transactions.csv.dvc" in out
    code, out = review(work, "main..exp/lr-sweep", "--format", "json")
    data_json = json.loads(out)
    assert data_json["changed"] is True
    keys = json_keys(data_json)
    assert {"baseCommit", "headRun", "baseMd5"} <= keys
    assert [k for k in sorted(keys) if not CAMEL.match(k)] == []  # as status/plan -o json
    prod = next(e for e in data_json["environments"] if e["env"] == "prod")
    runs = {r["pipeline"]: r for r in prod["runs"]}
    assert runs["resnet50"]["action"] == "new run"
    assert runs["llm-finetune"]["action"] == "unchanged"
    ds = runs["fraud-detector"]["datasets"][0]
    assert ds["baseMd5"] != ds["headMd5"] and ds["headSize"] > ds["baseSize"]
    code, out = review(work, "main")
    assert code == 1 and "BASE..HEAD" in out


def test_review_reuses_recorded_runs_and_plans_live(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    world.until(lambda o: status(o, "fraud-detector").status == "Succeeded")
    first = dvcrepos.git(world.work, "rev-parse", "HEAD").strip()
    dvcrepos.git(world.work, "branch", "back-to-first", first)
    world.edit("pipelines/fraud-detector.yaml", "max_depth: 6", "max_depth: 9")
    world.commit_and_push("Deeper trees")
    world.reconcile()
    code, out = review(
        world.work,
        "main..back-to-first",
        "--format",
        "json",
        "--live",
        "--kubeconfig",
        str(sandbox.kubeconfig),
    )
    assert code == 2, out
    report = json.loads(out)
    dev = next(e for e in report["environments"] if e["env"] == "dev")
    fraud = next(r for r in dev["runs"] if r["pipeline"] == "fraud-detector")
    assert fraud["action"] == "reuse Succeeded run"
    assert dev["live"] is not None
    assert any("fraud-detector" in line for line in dev["live"])


def test_review_compares_with_what_base_serves_after_a_revert(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    out = world.until(lambda o: status(o, "resnet50").serving is not None)
    first = status(out, "resnet50").run
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.05")
    world.commit_and_push("Try lr 0.05")
    world.outcomes(
        {**GOOD, "01-better": {"match": "*/resnet50-*-evaluate", "message": '{"accuracy": 0.99}'}}
    )
    out = world.until(
        lambda o: (
            status(o, "resnet50").serving not in (None,)
            and (
                status(o, "resnet50").serving.run != first  # type: ignore[union-attr]
            )
        )
    )
    reverted = status(out, "resnet50").run
    dvcrepos.git(world.work, "revert", "--no-edit", "HEAD")
    dvcrepos.git(world.work, "push", "-q", "origin", "HEAD")
    assert status(world.reconcile(), "resnet50").serving.run == first  # type: ignore[union-attr]
    world.outcomes(GOOD)
    dvcrepos.git(world.work, "checkout", "-q", "-b", "exp/lr-sweep")
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.02")
    dvcrepos.commit_all(world.work, "Try lr 0.02")
    dvcrepos.git(world.work, "push", "-q", "-u", "origin", "exp/lr-sweep")
    world.until(
        lambda o: status(o, "resnet50").status == "Succeeded", env="exp", branch="exp/lr-sweep"
    )
    code, out_text = review(world.work, "main..exp/lr-sweep", "--format", "json")
    assert code == 2, out_text
    report = json.loads(out_text)
    assert [k for k in sorted(json_keys(report)) if not CAMEL.match(k)] == []
    rows = [m for m in report["metrics"] if m["metric"] == "accuracy"]
    assert [(m["baseEnv"], m["baseRun"], m["base"]) for m in rows] == [("dev", first, 0.95)]
    assert reverted != first  # the newest promoted record by time is not what main serves
