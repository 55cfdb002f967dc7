"""ProvenanceStore against real git: plumbing commits, pushes, races, outbox, reading."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.provenance.delivery import record_summary
from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import Outcome, ProvenanceStore, RetryPolicy
from reconciler.structs.errors import ProvenanceError
from reconciler.structs.runs import RunStatus
from tests.provenance.helpers import T0, git

Factory = Callable[..., RunRecord]
BRANCH = "experiments/resnet50"
FAST = RetryPolicy(attempts=6, initial=0.01, maximum=0.1)


def store_for(repo: Path, state: Path, **kw: object) -> ProvenanceStore:
    return ProvenanceStore(repo, state_dir=state, retry=FAST, **kw)  # type: ignore[arg-type]


def snapshot(clone: Path) -> tuple[str, str, str, list[str]]:
    """What a user sees of a clone: HEAD, status, index bytes, work-tree files."""
    index = hashlib.sha256((clone / ".git" / "index").read_bytes()).hexdigest()
    files = sorted(
        str(p.relative_to(clone))
        for p in clone.rglob("*")
        if ".git" not in p.relative_to(clone).parts
    )
    return (
        git(clone, "rev-parse", "HEAD"),
        git(clone, "status", "--porcelain", "--untracked-files=all"),
        index,
        files,
    )


def tree_paths(repo: Path, ref: str) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", ref).splitlines()


def test_local_commit_creates_orphan_branch_and_touches_nothing_else(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    before = snapshot(clone)
    main_before = git(clone, "rev-parse", "main")
    store = store_for(clone, tmp_path / "state", remote=None)
    rec = record_factory()
    result = store.write(BRANCH, rec)
    assert result.outcome == Outcome.WRITTEN
    assert result.commit == git(clone, "rev-parse", BRANCH)
    # orphan root commit holding only runs/
    assert git(clone, "rev-list", "--count", BRANCH) == "1"
    assert tree_paths(clone, BRANCH) == ["runs/prod/resnet50/a1b2c3d4e5.yaml"]
    assert git(clone, "show", f"{BRANCH}:{rec.path}") + "\n" == rec.to_yaml()
    # the user's work tree, index, HEAD and main are untouched
    assert snapshot(clone) == before
    assert git(clone, "rev-parse", "main") == main_before
    log = git(clone, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", BRANCH)
    assert log == (
        "reconciler <reconciler@localhost>|reconciler <reconciler@localhost>|"
        "provenance: resnet50 a1b2c3d4e5 Succeeded in prod"
    )
    assert store.pending() == []


def test_orphan_branch_shares_no_history_with_main(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store_for(clone, tmp_path / "state", remote=None).write(BRANCH, record_factory())
    proc = os.system(f"git -C {clone} merge-base {BRANCH} main >/dev/null 2>&1")
    assert proc != 0  # no common ancestor


def test_write_is_idempotent_and_never_overwrites(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store = store_for(clone, tmp_path / "state", remote=None)
    first = store.write(BRANCH, record_factory())
    again = store.write(BRANCH, record_factory())
    assert again.outcome == Outcome.UNCHANGED
    assert again.commit == first.commit
    different = store.write(BRANCH, record_factory(accuracy=0.5))
    assert different.outcome == Outcome.CONFLICT
    assert "never written twice" in different.message
    assert git(clone, "rev-list", "--count", BRANCH) == "1"
    kept = store.get(BRANCH, "prod", "resnet50", "a1b2c3d4e5")
    assert kept is not None and kept.metrics_flat["accuracy"] == 0.95
    assert store.pending() == []


def test_second_record_appends_a_commit_with_only_that_file(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store = store_for(clone, tmp_path / "state", remote=None)
    store.write(BRANCH, record_factory("r1"))
    second = store.write(BRANCH, record_factory("r1", attempt=2))
    assert second.outcome == Outcome.WRITTEN
    changed = git(clone, "diff-tree", "--no-commit-id", "--name-status", "-r", BRANCH)
    assert changed == "A\truns/prod/resnet50/r1-2.yaml"
    assert git(clone, "rev-parse", f"{BRANCH}^") == git(clone, "rev-parse", f"{BRANCH}~1")


def test_existing_branch_keeps_its_other_files(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    """A {source} provenance branch holds specs too: only the record path is added."""
    git(clone, "branch", "exp/lr-sweep", "main")
    store = store_for(clone, tmp_path / "state", remote=None)
    store.write("exp/lr-sweep", record_factory(env="exp"))
    paths = tree_paths(clone, "exp/lr-sweep")
    assert set(paths) == set(tree_paths(clone, "main")) | {"runs/exp/resnet50/a1b2c3d4e5.yaml"}
    assert git(clone, "rev-parse", "exp/lr-sweep^") == git(clone, "rev-parse", "main")


def test_checked_out_branch_without_remote_stays_pending(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    before = snapshot(clone)
    store = store_for(clone, tmp_path / "state", remote=None)
    result = store.write("main", record_factory())
    assert result.pending and "checked out" in result.message
    assert snapshot(clone) == before
    # still visible to readers, so the run is not started again
    assert store.get("main", "prod", "resnet50", "a1b2c3d4e5") is not None


def test_push_to_remote_and_read_back_from_another_clone(
    remote: Path,
    clone: Path,
    clone_of: Callable[[Path, str], Path],
    tmp_path: Path,
    record_factory: Factory,
) -> None:
    other = clone_of(remote, "other")
    before = snapshot(clone)
    store = store_for(clone, tmp_path / "state")
    result = store.write(BRANCH, record_factory())
    assert result.outcome == Outcome.WRITTEN
    assert git(remote, "rev-parse", BRANCH) == result.commit
    assert git(clone, "rev-parse", f"refs/remotes/origin/{BRANCH}") == result.commit
    # no local branch is created in a user's clone; the work tree is untouched
    assert git(clone, "branch", "--list", BRANCH) == ""
    assert snapshot(clone) == before
    assert list((tmp_path / "state" / "outbox").glob("*.json")) == []

    reader = store_for(other, tmp_path / "state2")
    assert reader.get(BRANCH, "prod", "resnet50", "a1b2c3d4e5") is None  # not fetched yet
    reader.fetch([BRANCH, "no-such-branch"])
    got = reader.get(BRANCH, "prod", "resnet50", "a1b2c3d4e5")
    assert got == RunRecord.from_yaml(record_factory().to_yaml())


def test_source_branch_checked_out_with_remote_pushes_without_moving_it(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    """{source} = main, checked out in the clone: the remote gets the record, the clone doesn't."""
    before = snapshot(clone)
    store = store_for(clone, tmp_path / "state")
    result = store.write("main", record_factory())
    assert result.outcome == Outcome.WRITTEN
    assert git(remote, "rev-parse", "main") == result.commit
    assert git(remote, "rev-parse", "main^") == before[0]
    assert snapshot(clone) == before
    assert store.get("main", "prod", "resnet50", "a1b2c3d4e5") is not None


def test_bare_mirror_as_repository(remote: Path, tmp_path: Path, record_factory: Factory) -> None:
    mirror = tmp_path / "cache.git"
    git(tmp_path, "clone", "-q", "--mirror", str(remote), str(mirror))
    store = store_for(mirror, tmp_path / "state")
    result = store.write(BRANCH, record_factory())
    assert result.outcome == Outcome.WRITTEN
    assert git(remote, "rev-parse", BRANCH) == result.commit
    # a cache mirror's own branch follows (its refs/heads are the remote's)
    assert git(mirror, "rev-parse", BRANCH) == result.commit
    assert not (mirror / "index").exists()  # the temporary index never lands in the repo
    git(mirror, "fetch", "-q", "--prune", "origin")  # the cache refreshes as usual
    assert [r.run for r in store.records(BRANCH, "prod", "resnet50")] == ["a1b2c3d4e5"]


RACE_HOOK = """\
#!/bin/sh
# Another writer wins the race: before our update lands, the branch moves by one commit
# adding {path} (only once).
[ -f "$GIT_DIR/raced" ] && exit 0
touch "$GIT_DIR/raced"
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
export GIT_INDEX_FILE="$GIT_DIR/race-index"
tip=$(git rev-parse refs/heads/{branch})
git read-tree "$tip"
blob=$(git hash-object -w --no-filters {content})
git update-index --add --cacheinfo "100644,$blob,{path}"
tree=$(git write-tree)
c=$(echo "other writer" | git commit-tree "$tree" -p "$tip")
git update-ref refs/heads/{branch} "$c" "$tip"
rm -f "$GIT_INDEX_FILE"
"""


def install_race_hook(remote: Path, content: Path, path: str) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(RACE_HOOK.format(branch=BRANCH, path=path, content=content))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("same", [False, True], ids=["other-record", "same-record"])
def test_lost_push_race_is_retried_on_the_new_tip(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory, same: bool
) -> None:
    store = store_for(clone, tmp_path / "state")
    store.write(BRANCH, record_factory("r0"))
    mine = record_factory("r1")
    theirs = mine if same else record_factory("r2")
    content = tmp_path / "theirs.yaml"
    content.write_text(theirs.to_yaml())
    install_race_hook(remote, content, theirs.path)

    result = store.write(BRANCH, mine)
    assert (remote / "raced").exists()  # the race happened
    assert result.outcome == (Outcome.UNCHANGED if same else Outcome.WRITTEN)
    commits = git(remote, "rev-list", "--parents", BRANCH).splitlines()
    assert all(len(line.split()) <= 2 for line in commits)  # linear
    assert len(commits) == (2 if same else 3)
    paths = tree_paths(remote, BRANCH)
    assert sorted(paths) == sorted({record_factory("r0").path, mine.path, theirs.path})
    for path in paths:
        assert len(git(remote, "log", "--format=%H", BRANCH, "--", path).splitlines()) == 1


def test_unreachable_remote_keeps_records_in_outbox_until_flush(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    moved = tmp_path / "moved.git"
    remote.rename(moved)  # the remote is gone (network down)
    state = tmp_path / "state"
    store = store_for(clone, state)
    r1, r2 = record_factory("r1"), record_factory("r2", finished=T0 + timedelta(hours=2))
    assert store.write(BRANCH, r1).pending
    result = store.write(BRANCH, r2)
    assert result.pending and "fetch from origin" in result.message
    assert len(list((state / "outbox").glob("*.json"))) == 2
    pending = store.pending()
    assert [p.run_name for p in pending] == ["r1", "r2"]
    assert pending[0].last_error
    # readers see queued records (newest first), so no run starts twice
    assert [r.run for r in store.records(BRANCH, "prod", "resnet50")] == ["r2", "r1"]
    assert store.get(BRANCH, "prod", "resnet50", "r1") is not None
    with pytest.raises(ProvenanceError, match="fetch from origin"):
        store.fetch([BRANCH])
    assert store.flush().pending == 2

    # a restart: a new store on the same state dir, after the remote is back
    moved.rename(remote)
    restarted = store_for(clone, state)
    assert [p.run_name for p in restarted.pending()] == ["r1", "r2"]
    flushed = restarted.flush()
    assert (flushed.pending, flushed.delivered) == (0, 2)
    assert [r.outcome for r in flushed.results] == [Outcome.WRITTEN, Outcome.WRITTEN]
    assert restarted.pending() == []
    assert list((state / "outbox").glob("*.json")) == []
    # one commit per branch per delivery, naming the records in queued order
    assert git(remote, "rev-list", "--count", BRANCH) == "1"
    assert git(remote, "log", "-1", "--format=%B", BRANCH) == (
        "provenance: 2 runs\n\n"
        "Record: runs/prod/resnet50/r1.yaml (Succeeded)\n"
        "Record: runs/prod/resnet50/r2.yaml (Succeeded)"
    )


def test_remote_created_later(clone: Path, tmp_path: Path, record_factory: Factory) -> None:
    """The remote path does not exist at first; once it is created, flush pushes."""
    later = tmp_path / "later.git"
    git(clone, "remote", "add", "backup", str(later))
    store = store_for(clone, tmp_path / "state", remote="backup")
    assert store.write(BRANCH, record_factory()).pending
    git(tmp_path, "init", "-q", "--bare", str(later))
    assert store.flush().delivered == 1
    assert tree_paths(later, BRANCH) == ["runs/prod/resnet50/a1b2c3d4e5.yaml"]


def test_outbox_conflict_keeps_the_queued_record(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    remote.rename(tmp_path / "away.git")
    store = store_for(clone, tmp_path / "state")
    assert store.write(BRANCH, record_factory()).pending
    clash = store.write(BRANCH, record_factory(accuracy=0.1))
    assert clash.outcome == Outcome.CONFLICT
    got = store.get(BRANCH, "prod", "resnet50", "a1b2c3d4e5")
    assert got is not None and got.metrics_flat["accuracy"] == 0.95


def test_reading_merges_tracking_ref_local_branch_and_outbox(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    pusher = store_for(clone, tmp_path / "state")
    pusher.write(BRANCH, record_factory("pushed", finished=T0))
    local = store_for(clone, tmp_path / "local-state", remote=None)
    local.write(BRANCH, record_factory("local", finished=T0 + timedelta(hours=3)))
    remote.rename(tmp_path / "away.git")
    queued = store_for(clone, tmp_path / "state")
    queued.write(BRANCH, record_factory("queued", finished=T0 + timedelta(hours=2)))
    failed = record_factory("failed", status=RunStatus.FAILED, finished=T0 + timedelta(hours=1))
    queued.write(BRANCH, failed)
    runs = [r.run for r in queued.records(BRANCH, "prod", "resnet50")]
    assert runs == ["local", "queued", "failed", "pushed"]
    assert queued.records(BRANCH, "dev", "resnet50") == []
    assert queued.get(BRANCH, "prod", "resnet50", "nope") is None


def test_garbage_record_is_an_error_naming_the_file(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store = store_for(clone, tmp_path / "state", remote=None)
    store.write(BRANCH, record_factory("good"))
    # someone commits a broken file on the branch by hand
    work = tmp_path / "wt"
    git(clone, "worktree", "add", "-q", str(work), BRANCH)
    (work / "runs/prod/resnet50/bad.yaml").write_text("run: [oops\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "oops")
    git(clone, "worktree", "remove", str(work))
    scan = store.scan(BRANCH, "prod", "resnet50")
    assert [r.run for r in scan.records] == ["good"]
    assert len(scan.errors) == 1
    assert "experiments/resnet50:runs/prod/resnet50/bad.yaml:2:1: invalid YAML" in str(
        scan.errors[0]
    )
    with pytest.raises(ProvenanceError, match=r"bad\.yaml"):
        store.records(BRANCH, "prod", "resnet50")
    with pytest.raises(ProvenanceError, match=r"bad\.yaml"):
        store.get(BRANCH, "prod", "resnet50", "bad")


def test_outbox_write_failure_raises(clone: Path, tmp_path: Path, record_factory: Factory) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "outbox").write_text("a file where the outbox directory should be")
    store = store_for(clone, state, remote=None)
    with pytest.raises(ProvenanceError, match="cannot queue provenance record"):
        store.write(BRANCH, record_factory())
    assert git(clone, "branch", "--list", BRANCH) == ""


def test_bad_arguments_are_clear(clone: Path, tmp_path: Path, record_factory: Factory) -> None:
    with pytest.raises(ProvenanceError, match="not a git repository"):
        ProvenanceStore(tmp_path, state_dir=tmp_path / "s")
    with pytest.raises(ProvenanceError, match="invalid commit author"):
        ProvenanceStore(clone, state_dir=tmp_path / "s", author="nobody")
    store = store_for(clone, tmp_path / "s", remote=None)
    with pytest.raises(ProvenanceError, match="invalid provenance branch"):
        store.write("bad..branch", record_factory())


def test_custom_author(clone: Path, tmp_path: Path, record_factory: Factory) -> None:
    store = store_for(clone, tmp_path / "s", remote=None, author="ML Bot <ml-bot@acme.io>")
    store.write(BRANCH, record_factory())
    assert git(clone, "log", "-1", "--format=%an|%ae|%cn", BRANCH) == "ML Bot|ml-bot@acme.io|ML Bot"


def test_unknown_remote_name_commits_locally(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store = store_for(clone, tmp_path / "s", remote="upstream")
    assert store.remote is None
    assert store.write(BRANCH, record_factory()).outcome == Outcome.WRITTEN
    assert tree_paths(clone, BRANCH) == ["runs/prod/resnet50/a1b2c3d4e5.yaml"]


def test_commit_message_names_run_and_source(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store_for(clone, tmp_path / "s", remote=None).write(BRANCH, record_factory(attempt=2))
    body = git(clone, "log", "-1", "--format=%B", BRANCH)
    assert body == textwrap.dedent(
        """\
        provenance: resnet50 a1b2c3d4e5-2 Succeeded in prod

        Run: a1b2c3d4e5
        Attempt: 2
        Record: runs/prod/resnet50/a1b2c3d4e5-2.yaml
        Source-Commit: 0123456789abcdef0123456789abcdef01234567"""
    )


def test_commit_messages_come_from_the_summary_queued_with_the_record(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    """Delivering many records parses none: the outbox envelope carries what the message says."""
    store = store_for(clone, tmp_path / "s", remote=None)
    with store.batch():
        store.write(BRANCH, record_factory())
        (envelope,) = (tmp_path / "s" / "outbox").glob("*.json")
        assert json.loads(envelope.read_text())["summary"] == {
            "pipeline": "resnet50", "runName": "a1b2c3d4e5", "status": "Succeeded", "env": "prod",
            "run": "a1b2c3d4e5", "attempt": 1,
            "sourceCommit": "0123456789abcdef0123456789abcdef01234567",
        }  # fmt: skip
    # The message is the summary's (here one that disagrees with the record, to tell them apart).
    second = record_factory(attempt=2)
    summary = {**record_summary(second), "status": "Cancelled"}
    store.outbox.put(BRANCH, second.path, second.to_yaml(), summary)
    store.flush()
    subject = git(clone, "log", "-1", "--format=%s", BRANCH)
    assert subject == "provenance: resnet50 a1b2c3d4e5-2 Cancelled in prod"
    # An envelope queued by an older version has no summary: its record is parsed.
    third = record_factory(attempt=3)
    store.outbox.put(BRANCH, third.path, third.to_yaml())
    store.flush()
    subject = git(clone, "log", "-1", "--format=%s", BRANCH)
    assert subject == "provenance: resnet50 a1b2c3d4e5-3 Succeeded in prod"


def test_push_refused_for_another_reason_is_not_retried(
    clone: Path, clone_of: Callable[[Path, str], Path], tmp_path: Path, record_factory: Factory
) -> None:
    """A remote with a work tree refuses a push to its checked-out branch: pending at once."""
    downstream = clone_of(clone, "downstream")  # origin = clone, where main is checked out
    store = store_for(downstream, tmp_path / "state")
    result = store.write("main", record_factory())
    assert result.pending
    assert "refused" in result.message and "checked out" in result.message
    assert "gave up after retries" not in result.message  # refused at once, not retried
    assert store.pending()[0].last_error == result.message
    assert git(clone, "ls-tree", "-r", "--name-only", "main").count("runs/") == 0
