"""``reconciler history``: records from provenance branches, newest first, serving marked."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import ProvenanceStore
from reconciler.structs.runs import RunStatus
from tests.provenance.helpers import T0, git

Factory = Callable[..., RunRecord]
BRANCH = "experiments/resnet50"


def history(clone: Path, state: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["history", "resnet50", "--repo", str(clone), "--state-dir", str(state), *args]
    )


@pytest.fixture
def published(
    remote: Path, clone_of: Callable[[Path, str], Path], tmp_path: Path, record_factory: Factory
) -> Path:
    """A remote holding prod records (pushed by another reconciler) and two exp branches."""
    writer = clone_of(remote, "writer")
    store = ProvenanceStore(writer, state_dir=tmp_path / "writer-state")
    hour = timedelta(hours=1)
    records = [
        record_factory("old", finished=T0, accuracy=0.93, commit="1" * 40),
        record_factory("served", finished=T0 + hour, accuracy=0.96, commit="2" * 40),
        record_factory("gated", finished=T0 + 2 * hour, accuracy=0.90, promoted=False),
        record_factory(
            "served", attempt=2, status=RunStatus.FAILED, finished=T0 + 3 * hour, promoted=False
        ),
    ]
    for rec in records:
        assert store.write(BRANCH, rec).stored
    for branch in ("exp/a", "exp/b"):
        git(writer, "push", "-q", "origin", f"main:refs/heads/{branch}")
        rec = record_factory(f"run-{branch[-1]}", env="exp", promoted=True)
        assert store.write(branch, rec).stored
    return remote


def test_json_lists_runs_newest_first_and_marks_serving(
    published: Path, clone: Path, tmp_path: Path
) -> None:
    result = history(clone, tmp_path / "state", "--env", "prod", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (prod,) = doc["environments"]
    assert (prod["env"], prod["branches"], prod["serve"]) == ("prod", [BRANCH], True)
    ids = [r["id"] for r in prod["runs"]]
    assert ids == ["served-2", "gated", "served", "old"]
    serving = {r["id"] for r in prod["runs"] if r["serving"]}
    assert serving == {"served"}  # newest Succeeded AND promoted
    assert prod["serving"] == [{"branch": BRANCH, "id": "served"}]
    first = prod["runs"][0]
    assert (first["run"], first["attempt"], first["status"], first["promoted"]) == (
        "served",
        2,
        "Failed",
        False,
    )
    by_id = {r["id"]: r for r in prod["runs"]}
    assert by_id["served"]["commit"] == "2" * 40
    assert by_id["served"]["metrics"]["accuracy"] == 0.96
    assert by_id["old"]["durationSeconds"] == 3000.0
    assert all(r["pushed"] for r in prod["runs"])
    assert doc["errors"] == []


def test_text_table(published: Path, clone: Path, tmp_path: Path) -> None:
    result = history(clone, tmp_path / "state", "--env", "prod")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "resnet50 in prod (experiments/resnet50)" in lines[0]
    table = lines[1:]
    assert table[0].split() == [
        "RUN", "ATTEMPT", "COMMIT", "STATUS", "PROMOTED", "METRICS", "DURATION", "FINISHED",
        "SERVING",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in table[1:] if line.strip()}
    assert list(rows) == ["served-2", "gated", "served", "old"]  # newest first
    assert rows["served"].rstrip().endswith("* serving")
    assert "serving" not in rows["gated"] and "serving" not in rows["old"]
    assert "accuracy=0.96" in rows["served"]
    assert rows["served"].split()[:5] == ["served", "1", "2222222222", "Succeeded", "yes"]
    assert "50m00s" in rows["served"]
    assert rows["gated"].split()[3:5] == ["Succeeded", "no"]
    assert rows["served-2"].split()[1:5] == ["2", "0123456789", "Failed", "no"]


def test_every_environment_including_source_branches(
    published: Path, clone: Path, tmp_path: Path
) -> None:
    result = history(clone, tmp_path / "state", "--format", "json")
    assert result.exit_code == 0, result.output
    envs = {e["env"]: e for e in json.loads(result.stdout)["environments"]}
    assert set(envs) == {"prod", "exp"}
    exp = envs["exp"]
    assert exp["provenanceBranch"] == "{source}"
    assert exp["branches"] == ["exp/a", "exp/b"]
    assert sorted((r["branch"], r["id"]) for r in exp["runs"]) == [
        ("exp/a", "run-a"),
        ("exp/b", "run-b"),
    ]
    assert exp["serving"] == [] and not any(r["serving"] for r in exp["runs"])  # serve: false


def test_pending_records_show_as_not_pushed(
    clone: Path, tmp_path: Path, record_factory: Factory, remote: Path
) -> None:
    state = tmp_path / "state"
    remote.rename(tmp_path / "offline.git")
    store = ProvenanceStore(clone, state_dir=state / "provenance")
    assert store.write(BRANCH, record_factory("queued")).pending
    result = history(clone, state, "--env", "prod")
    assert result.exit_code == 0, result.output
    assert "warning: fetch from origin" in result.stderr
    assert "Succeeded (not pushed)" in result.stdout
    doc = json.loads(history(clone, state, "--env", "prod", "--format", "json").stdout)
    assert [(r["id"], r["pushed"]) for r in doc["environments"][0]["runs"]] == [("queued", False)]


def test_no_records_and_unknown_environment(clone: Path, tmp_path: Path) -> None:
    empty = history(clone, tmp_path / "state")
    assert empty.exit_code == 0
    assert "no runs of pipeline resnet50 are recorded" in empty.stdout
    unknown = history(clone, tmp_path / "state", "--env", "nope")
    assert unknown.exit_code == 1
    assert "no environment 'nope' (overlays/nope/environment.yaml" in unknown.stderr
    assert "known: exp, prod" in unknown.stderr
    not_repo = CliRunner().invoke(cli, ["history", "x", "--repo", str(tmp_path)])
    assert not_repo.exit_code == 1 and "not a git repository" in not_repo.stderr


def test_broken_record_is_reported_and_others_listed(
    published: Path, clone: Path, tmp_path: Path
) -> None:
    git(clone, "fetch", "-q", "origin")
    work = tmp_path / "wt"
    git(clone, "worktree", "add", "-q", "-b", BRANCH, str(work), f"origin/{BRANCH}")
    (work / "runs/prod/resnet50/broken.yaml").write_text("status: [\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "hand edit")
    git(work, "push", "-q", "origin", BRANCH)
    result = history(clone, tmp_path / "state", "--env", "prod", "--format", "json")
    assert result.exit_code == 1
    assert "runs/prod/resnet50/broken.yaml" in result.stderr
    assert len(json.loads(result.stdout)["environments"][0]["runs"]) == 4
