"""``reconciler history``: records from provenance branches, newest first, serving marked.

The example repository with a bare origin; records are written to the origin by another
reconciler's store (as a daemon would), the history is read from a user's clone. The
served run is what the branch serves at its tip (a revert's earlier run), not the newest
promoted record by time; a branch environment's records live beside each branch.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result

from reconciler import engine
from reconciler.cli.main import cli
from reconciler.provenance.records import RunRecord, StepRecord
from reconciler.provenance.store import ProvenanceStore
from reconciler.structs.runs import RunStatus
from tests.provenance.helpers import T0, make_record
from tests.support import dvcrepos
from tests.support.clirunner import cli_runner

BRANCH = "experiments/resnet50"
HOUR = timedelta(hours=1)


def history(repo: Path, state: Path, *args: str) -> Result:
    return cli_runner().invoke(
        cli, ["history", "resnet50", "--repo", str(repo), "--state-dir", str(state), *args]
    )


def prod_run(repo: Path) -> str:
    """The run id prod's resnet50 spec has at the repository's HEAD."""
    return engine.prepare_target(repo, "prod", branch="main").run_specs["resnet50"].run_id


def failed_step() -> StepRecord:
    return StepRecord(name="train", status="Failed", reason="OOMKilled")


@pytest.fixture(scope="module")
def records_origin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An origin holding prod records (pushed by a daemon) and two exp branches with theirs.

    Returns ``(origin, the run id prod serves)``; tests clone a copy of it.
    """
    tmp_path = tmp_path_factory.mktemp("history")
    writer = dvcrepos.copy_example_repo(tmp_path / "writer")
    origin = dvcrepos.origin_of(writer)
    rid = prod_run(writer)
    store = ProvenanceStore(writer, state_dir=tmp_path / "writer-state")
    records: list[RunRecord] = [
        make_record("old", finished=T0, accuracy=0.93, commit="1" * 40),
        make_record(rid, finished=T0 + HOUR, accuracy=0.96, commit="2" * 40),
        make_record("gated", finished=T0 + 2 * HOUR, accuracy=0.90, promoted=False),
        make_record(
            rid,
            attempt=2,
            status=RunStatus.FAILED,
            finished=T0 + 3 * HOUR,
            promoted=False,
            steps=[failed_step()],
        ),
        # Newest promoted by time, but of a spec the branch no longer has (reverted).
        make_record("reverted", finished=T0 + 4 * HOUR, accuracy=0.97),
    ]
    for rec in records:
        assert store.write(BRANCH, rec).stored
    for branch in ("exp/a", "exp/b"):
        dvcrepos.git(writer, "push", "-q", "origin", f"main:refs/heads/{branch}")
        rec = make_record(f"run-{branch[-1]}", env="exp", promoted=True)
        assert store.write(f"runs/{branch}", rec).stored
    return origin, rid


@pytest.fixture
def published(records_origin: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A user's clone of a private copy of the records origin; returns ``(clone, run id)``."""
    origin, rid = records_origin
    copy = tmp_path / "origin.git"
    shutil.copytree(origin, copy)
    clone = tmp_path / "clone"
    dvcrepos.git(tmp_path, "clone", "-q", str(copy), str(clone))
    return clone, rid


def test_json_lists_runs_newest_first_and_marks_what_the_branch_serves(
    published: tuple[Path, str], tmp_path: Path
) -> None:
    clone, rid = published
    result = history(clone, tmp_path / "state", "--env", "prod", "-o", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (prod,) = doc["environments"]
    assert (prod["env"], prod["branches"], prod["serve"]) == ("prod", [BRANCH], True)
    ids = [r["id"] for r in prod["runs"]]
    assert ids == ["reverted", f"{rid}-2", "gated", rid, "old"]
    serving = {r["id"] for r in prod["runs"] if r["serving"]}
    assert serving == {rid}  # the spec main has now, its newest promoted attempt
    assert prod["serving"] == [{"branch": "main", "id": rid}]
    failed = prod["runs"][1]
    assert (failed["run"], failed["attempt"], failed["status"], failed["promoted"]) == (
        rid,
        2,
        "Failed",
        False,
    )
    assert failed["reason"] == "step train failed: OOMKilled"
    by_id = {r["id"]: r for r in prod["runs"]}
    assert by_id[rid]["commit"] == "2" * 40
    assert by_id[rid]["metrics"]["accuracy"] == 0.96
    assert by_id["old"]["durationSeconds"] == 3000.0
    assert all(r["pushed"] for r in prod["runs"])
    assert doc["errors"] == []
    as_yaml = history(clone, tmp_path / "state", "--env", "prod", "-o", "yaml")
    assert as_yaml.exit_code == 0 and f"id: {rid}" in as_yaml.stdout


def test_text_table(published: tuple[Path, str], tmp_path: Path) -> None:
    clone, rid = published
    result = history(clone, tmp_path / "state", "--env", "prod")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "resnet50 in prod (experiments/resnet50)" in lines[0]
    table = lines[1:]
    assert table[0].split() == [
        "RUN", "ATTEMPT", "COMMIT", "STATUS", "PROMOTED", "METRICS", "DURATION", "FINISHED",
        "SERVING", "REASON",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in table[1:] if line.strip()}
    assert list(rows) == ["reverted", f"{rid}-2", "gated", rid, "old"]  # newest first
    assert rows[rid].rstrip().endswith("* serving")
    assert "serving" not in rows["reverted"] and "serving" not in rows["old"]
    assert "accuracy=0.96" in rows[rid]
    assert rows[rid].split()[:5] == [rid, "1", "2222222222", "Succeeded", "yes"]
    assert "50m00s" in rows[rid]
    assert rows["gated"].split()[3:5] == ["Succeeded", "no"]
    assert rows[f"{rid}-2"].split()[1:5] == ["2", "0123456789", "Failed", "no"]
    assert rows[f"{rid}-2"].rstrip().endswith("step train failed: OOMKilled")


def test_after_a_revert_the_earlier_run_is_served(
    published: tuple[Path, str], tmp_path: Path
) -> None:
    clone, rid = published
    spec = clone / "pipelines" / "resnet50.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.05"))
    dvcrepos.commit_all(clone, "Try lr 0.05")
    dvcrepos.git(clone, "revert", "--no-edit", "HEAD")
    dvcrepos.git(clone, "push", "-q", "origin", "main")
    doc = json.loads(history(clone, tmp_path / "state", "--env", "prod", "-o", "json").stdout)
    assert doc["environments"][0]["serving"] == [{"branch": "main", "id": rid}]
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.07"))
    dvcrepos.commit_all(clone, "Try lr 0.07")
    dvcrepos.git(clone, "push", "-q", "origin", "main")
    doc = json.loads(history(clone, tmp_path / "state", "--env", "prod", "-o", "json").stdout)
    (prod,) = doc["environments"]
    assert prod["serving"] == [{"branch": "main", "id": rid}]  # stays on the model it has
    assert "is not promoted: still serving" in prod["notes"][0]["note"]


def test_branch_environment_records_beside_each_branch(
    published: tuple[Path, str], tmp_path: Path
) -> None:
    clone, _ = published
    result = history(clone, tmp_path / "state", "-o", "json")
    assert result.exit_code == 0, result.output
    envs = {e["env"]: e for e in json.loads(result.stdout)["environments"]}
    assert set(envs) == {"prod", "exp"}
    exp = envs["exp"]
    assert exp["provenanceBranch"] == "runs/{source}"
    assert exp["branches"] == ["runs/exp/a", "runs/exp/b"]
    assert sorted((r["sourceBranch"], r["branch"], r["id"]) for r in exp["runs"]) == [
        ("exp/a", "runs/exp/a", "run-a"),
        ("exp/b", "runs/exp/b", "run-b"),
    ]
    assert exp["serving"] == [] and not any(r["serving"] for r in exp["runs"])  # serve: false
    # The engineers' branches themselves never received a commit.
    for branch in ("exp/a", "exp/b"):
        tree = dvcrepos.git(clone, "ls-tree", "--name-only", f"origin/{branch}").split()
        assert "runs" not in tree


def test_pending_records_show_as_not_pushed(tmp_path: Path) -> None:
    clone = dvcrepos.copy_example_repo(tmp_path / "clone")
    state = tmp_path / "state"
    dvcrepos.origin_of(clone).rename(tmp_path / "offline.git")
    store = ProvenanceStore(clone, state_dir=state / "provenance")
    assert store.write(BRANCH, make_record("queued")).pending
    result = history(clone, state, "--env", "prod")
    assert result.exit_code == 0, result.output
    assert "warning: fetch from origin" in result.stderr
    assert "Succeeded (not pushed)" in result.stdout
    doc = json.loads(history(clone, state, "--env", "prod", "--format", "json").stdout)
    assert [(r["id"], r["pushed"]) for r in doc["environments"][0]["runs"]] == [("queued", False)]


def test_no_records_and_unknown_environment(tmp_path: Path) -> None:
    clone = dvcrepos.copy_example_repo(tmp_path / "clone")
    empty = history(clone, tmp_path / "state")
    assert empty.exit_code == 1
    assert "no runs of pipeline resnet50 are recorded" in empty.stdout
    assert "error: no run of pipeline 'resnet50' is recorded" in empty.stderr
    in_env = history(clone, tmp_path / "state", "--env", "prod")
    assert in_env.exit_code == 0 and "no runs recorded" in in_env.stdout
    unknown = history(clone, tmp_path / "state", "--env", "nope")
    assert unknown.exit_code == 1
    assert "no environment 'nope' (overlays/nope/environment.yaml" in unknown.stderr
    assert "known: dev, exp, prod, staging" in unknown.stderr
    not_repo = cli_runner().invoke(cli, ["history", "x", "--repo", str(tmp_path)])
    assert not_repo.exit_code == 1 and "not a git repository" in not_repo.stderr


def test_broken_record_is_reported_and_others_listed(
    published: tuple[Path, str], tmp_path: Path
) -> None:
    clone, _ = published
    work = tmp_path / "wt"
    dvcrepos.git(clone, "worktree", "add", "-q", "-b", BRANCH, str(work), f"origin/{BRANCH}")
    (work / "runs/prod/resnet50/broken.yaml").write_text("status: [\n")
    dvcrepos.commit_all(work, "hand edit")
    dvcrepos.git(work, "push", "-q", "origin", BRANCH)
    result = history(clone, tmp_path / "state", "--env", "prod", "--format", "json")
    assert result.exit_code == 1
    assert "runs/prod/resnet50/broken.yaml" in result.stderr
    assert len(json.loads(result.stdout)["environments"][0]["runs"]) == 5
