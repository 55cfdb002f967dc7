"""Many records at once: one commit per branch, one fetch and one push; records read once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.provenance.index import RecordCache, RecordSummary
from reconciler.provenance.records import RunRecord
from reconciler.provenance.redelivery import Redelivery
from reconciler.provenance.store import Outcome, ProvenanceStore, RetryPolicy
from reconciler.structs.errors import ProvenanceError
from reconciler.structs.runs import RunStatus
from tests.provenance.helpers import git

Factory = Callable[..., RunRecord]
FAST = RetryPolicy(attempts=6, initial=0.01, maximum=0.1)


def store_for(repo: Path, state: Path, **kw: object) -> ProvenanceStore:
    return ProvenanceStore(repo, state_dir=state, retry=FAST, **kw)  # type: ignore[arg-type]


def commits(repo: Path, branch: str) -> list[str]:
    return git(repo, "rev-list", branch).splitlines()


def test_write_many_makes_one_commit_per_branch_and_pushes_once(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store = store_for(clone, tmp_path / "state")
    store.write("experiments/a", record_factory("a0", pipeline="a"))  # the branch exists
    items = [
        (f"experiments/{p}", record_factory(f"{p}{i}", pipeline=p))
        for p in "ab"
        for i in range(1, 4)
    ]
    items.append(("experiments/c", record_factory("c1", pipeline="c")))
    results = store.write_many(items)
    assert [r.outcome for r in results] == [Outcome.WRITTEN] * 7
    assert len(commits(remote, "experiments/a")) == 2  # the first record, then one for three
    assert len(commits(remote, "experiments/b")) == len(commits(remote, "experiments/c")) == 1
    assert git(remote, "ls-tree", "-r", "--name-only", "experiments/b").splitlines() == [
        "runs/prod/b/b1.yaml", "runs/prod/b/b2.yaml", "runs/prod/b/b3.yaml",
    ]  # fmt: skip
    assert {r.commit for r in results if r.branch == "experiments/b"} == {
        git(remote, "rev-parse", "experiments/b")
    }
    # the same records again: nothing new, no commit
    again = store.write_many(items)
    assert {r.outcome for r in again} == {Outcome.UNCHANGED}
    assert len(commits(remote, "experiments/a")) == 2
    assert store.pending() == []


def test_batch_queues_reads_its_own_writes_and_delivers_at_the_end(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    store = store_for(clone, tmp_path / "state")
    with store.batch(["experiments/a"]) as batch:
        first = store.write("experiments/a", record_factory("r1", pipeline="a"))
        assert first.outcome == Outcome.QUEUED
        # durable and visible before any push: the run is never started twice
        assert len(list((tmp_path / "state" / "outbox").glob("*.json"))) == 1
        seen = store.summary("experiments/a", "prod", "a", "r1")
        assert seen is not None and seen.status == RunStatus.SUCCEEDED and seen.promoted
        store.write("experiments/a", record_factory("r2", pipeline="a", status=RunStatus.FAILED))
        assert git(remote, "branch", "--list", "experiments/a") == ""  # nothing pushed yet
    assert [r.outcome for r in batch.results] == [Outcome.WRITTEN, Outcome.WRITTEN]
    assert batch.pending == 0
    assert len(commits(remote, "experiments/a")) == 1
    assert store.get("experiments/a", "prod", "a", "r2") is not None
    with pytest.raises(ProvenanceError, match="do not nest"), store.batch(), store.batch():
        pass


def test_batch_keeps_records_pending_when_the_remote_is_away(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    remote.rename(tmp_path / "away.git")
    store = store_for(clone, tmp_path / "state")
    with store.batch() as batch:
        store.write("experiments/a", record_factory("r1", pipeline="a"))
    assert batch.pending == 1
    assert "fetch from origin" in batch.results[0].message
    assert store.get("experiments/a", "prod", "a", "r1") is not None  # from the outbox


def test_records_are_parsed_once_per_blob(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    cache = RecordCache()
    writer = store_for(clone, tmp_path / "state")
    writer.write_many([("experiments/a", record_factory(f"r{i}", pipeline="a")) for i in range(5)])
    reader = store_for(clone, tmp_path / "state2", cache=cache)
    for _ in range(3):  # three reconciles
        index = reader.load(["experiments/a"])
        for i in range(5):
            assert index.summary("experiments/a", "prod", "a", f"r{i}") is not None
            assert index.get("experiments/a", "prod", "a", f"r{i}") is not None
        assert len(index.scan("experiments/a", "prod", "a").records) == 5
    assert cache.parsed == 5
    small = RecordCache(records=2, summaries=3)
    bounded = store_for(clone, tmp_path / "state3", cache=small)
    assert len(bounded.records("experiments/a", "prod", "a")) == 5
    assert len(small) == 3 and len(small._records) == 2  # least recently used out


def test_redelivery_backs_off_then_delivers_when_the_remote_returns(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    away = tmp_path / "away.git"
    remote.rename(away)
    store = store_for(clone, tmp_path / "state")
    assert store.write("experiments/a", record_factory("r1", pipeline="a")).pending
    now = [0.0]
    timer = Redelivery(store, initial=2.0, maximum=16.0, clock=lambda: now[0], jitter=lambda: 1.0)
    waits = []
    for _ in range(5):
        waits.append(timer.tick())
        now[0] += waits[-1]
    assert waits == [2.0, 4.0, 8.0, 16.0, 16.0]  # doubling, capped
    assert timer.tick() == 16.0  # not due yet: nothing tried
    assert store.pending()
    away.rename(remote)
    now[0] += 16.0
    assert timer.tick() == 2.0  # delivered: back to the short idle period
    assert store.pending() == []
    assert git(remote, "ls-tree", "-r", "--name-only", "experiments/a") == "runs/prod/a/r1.yaml"
    assert timer.failures == 0
    half = Redelivery(store, initial=2.0, jitter=lambda: 0.0)
    half.failures = 3
    assert half.delay() == 4.0  # jitter takes at most half of the wait


def test_a_flush_in_another_thread_during_a_batch_is_not_a_lost_record(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    """The daemon flushes from other threads; a batch's records delivered there count."""
    import threading

    store = store_for(clone, tmp_path / "state")
    with store.batch() as batch:
        store.write("experiments/a", record_factory("r1", pipeline="a"))
        flusher = threading.Thread(target=store.flush)
        flusher.start()
        flusher.join()
        assert store.pending() == []  # delivered by the other thread
        assert store.get("experiments/a", "prod", "a", "r1") is not None
    assert [r.outcome for r in batch.results] == [Outcome.WRITTEN]
    assert batch.pending == 0
    assert len(commits(remote, "experiments/a")) == 1


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED])
def test_a_summary_says_why_a_run_ended_as_the_record_does(
    clone: Path, tmp_path: Path, record_factory: Factory, status: RunStatus
) -> None:
    from reconciler.runs import reasons

    rec = record_factory("r1", pipeline="a", status=status, promoted=False)
    rec.steps[0].status = "Failed" if status == RunStatus.FAILED else rec.steps[0].status
    rec.steps[0].reason = "OOMKilled"
    rec.superseded_by = "f" * 40 if status == RunStatus.CANCELLED else None
    store = store_for(clone, tmp_path / "state", remote=None)
    store.write("experiments/a", rec)
    summary = store.summary("experiments/a", "prod", "a", "r1")
    full = store.get("experiments/a", "prod", "a", "r1")
    assert summary is not None and full is not None
    assert reasons.run_reason(summary) == reasons.run_reason(full)
    assert reasons.gate_reason(summary) == reasons.gate_reason(full)
    assert reasons.gate_reason(summary)  # not promoted: there is a reason


def test_record_summaries_outlive_the_store_and_new_records_are_parsed(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    """One-shot commands reuse summaries by blob id from the state directory; nothing else."""
    writer = store_for(clone, tmp_path / "state")
    writer.write_many([("experiments/a", record_factory(f"r{i}", pipeline="a")) for i in range(3)])
    first = store_for(clone, tmp_path / "reader")
    with first.batch(["experiments/a"]):
        seen = [first.summary("experiments/a", "prod", "a", f"r{i}") for i in range(3)]
    assert first.cache.parsed == 3
    again = store_for(clone, tmp_path / "reader")  # the next process, same state directory
    with again.batch(["experiments/a"]):
        assert [again.summary("experiments/a", "prod", "a", f"r{i}") for i in range(3)] == seen
        assert again.summary("experiments/a", "prod", "a", "r9") is None
    assert again.cache.parsed == 0
    writer.write("experiments/a", record_factory("r3", pipeline="a", status=RunStatus.FAILED))
    later = store_for(clone, tmp_path / "reader")
    with later.batch(["experiments/a"]):
        new = later.summary("experiments/a", "prod", "a", "r3")
        assert new is not None and new.status == RunStatus.FAILED
        assert later.summary("experiments/a", "prod", "a", "r0") == seen[0]
    assert later.cache.parsed == 1  # only the record the cache had never seen


def test_a_summary_reads_back_exactly_from_json(record_factory: Factory) -> None:
    record = record_factory(status=RunStatus.FAILED, promoted=False)
    record.steps[0].status = RunStatus.FAILED
    record.steps[0].reason = "OOMKilled"
    summary = RecordSummary.of(record)
    assert summary.steps and summary.promotion is not None
    assert RecordSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary


def loose_objects(repo: Path) -> int:
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    return int(counts["count"])


def loose_refs(repo: Path) -> list[Path]:
    return [p for p in (repo / ".git" / "refs").rglob("*") if p.is_file()]


def test_git_packs_what_the_records_left_loose_as_its_settings_say(
    remote: Path, clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    # git decides from one fan-out directory (objects/17) whether there are more loose
    # objects than gc.auto: write, with packing off (a user's gc.auto=0 is honoured),
    # until that directory holds two, so that gc.auto=1 certainly asks for packing.
    git(clone, "config", "gc.auto", "0")  # (gc.autoDetach is git's default: true)
    store = store_for(clone, tmp_path / "state")
    written = 0
    while len(list((clone / ".git" / "objects" / "17").glob("*"))) < 2:
        batch = [
            (f"experiments/p{written + i}", record_factory(f"{written + i:010x}", pipeline="p"))
            for i in range(20)
        ]
        assert {r.outcome for r in store.write_many(batch)} == {Outcome.WRITTEN}
        written += len(batch)
        assert written < 2000, "objects/17 never got two loose objects"
    assert loose_objects(clone) > 0 and loose_refs(clone)  # gc.auto=0: left as written

    git(clone, "config", "gc.auto", "1")
    last = ("experiments/last", record_factory("f" * 10, pipeline="p"))
    assert store.write_many([last])[0].outcome is Outcome.WRITTEN
    assert loose_objects(clone) == 0
    assert not [p for p in loose_refs(clone) if "experiments" in str(p)]  # packed-refs now
    # every record is still there, read back from the packs by a new reader
    branches = [f"experiments/p{i}" for i in range(written)] + ["experiments/last"]
    names = [f"{i:010x}" for i in range(written)] + ["f" * 10]
    reader = store_for(clone, tmp_path / "state2")
    index = reader.load(branches)
    for branch, name in zip(branches, names, strict=True):
        assert index.summary(branch, "prod", "p", name) is not None, (branch, name)


@pytest.fixture
def git_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Put a ``git`` on PATH that notes each call; return a reader of the subcommands."""
    import shutil

    real = shutil.which("git")
    assert real is not None
    calls = tmp_path / "git-calls"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{Path(real).parent}")
    return lambda: [_subcommand(line.split()) for line in calls.read_text().splitlines()]


def test_a_batch_of_many_branches_runs_a_few_git_processes_not_one_per_branch(
    remote: Path,
    clone: Path,
    tmp_path: Path,
    record_factory: Factory,
    git_calls: Callable[[], list[str]],
) -> None:
    """30 branches: one fetch, one push, and no ``git update-ref`` per branch (the
    remote-tracking refs ``git push`` has moved already are left as they are; the commits
    are staged for the push and unstaged in one transaction each)."""
    store = store_for(clone, tmp_path / "state")
    items = [(f"experiments/p{i}", record_factory(f"r{i}", pipeline=f"p{i}")) for i in range(30)]
    results = store.write_many(items)
    assert {r.outcome for r in results} == {Outcome.WRITTEN}
    ran = git_calls()
    assert ran.count("push") == 1 and ran.count("fetch") <= 1, ran
    assert ran.count("update-ref") <= 3, ran
    assert len(ran) < 12, ran
    assert git(clone, "for-each-ref", "refs/reconciler/") == ""  # no staging ref left
    for i in range(30):  # the remote-tracking refs followed the push
        assert git(clone, "rev-parse", f"refs/remotes/origin/experiments/p{i}") == git(
            remote, "rev-parse", f"experiments/p{i}"
        )


def _subcommand(argv: list[str]) -> str:
    """The git subcommand of an argument list (after ``-C dir``, ``-c key=value``)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("-C", "-c") else 1
    return argv[i] if i < len(argv) else ""


def test_pushes_come_in_batches_of_the_configured_size_and_leave_no_staging_refs(
    remote: Path,
    clone: Path,
    tmp_path: Path,
    record_factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    git_calls: Callable[[], list[str]],
) -> None:
    import os

    from reconciler.provenance import plumbing

    host = plumbing._host()
    head = git(clone, "rev-parse", "HEAD")
    dead = 2**22 + 12345  # above any pid_max a test machine uses: no such process
    leftovers = {
        f"refs/reconciler/push/{host}-{dead}-0a0b0c0d/experiments/x": "removed",
        f"refs/reconciler/push/{host}-{os.getpid()}-0a0b0c0e/experiments/y": "kept (alive)",
        f"refs/reconciler/push/elsewhere-{dead}-0a0b0c0f/experiments/z": "kept (other host)",
    }
    for ref in leftovers:
        git(clone, "update-ref", ref, head)
    monkeypatch.setenv("RECONCILER_PUSH_BATCH", "7")
    store = store_for(clone, tmp_path / "state")
    items = [(f"experiments/q{i}", record_factory(f"s{i}", pipeline=f"q{i}")) for i in range(30)]
    assert {r.outcome for r in store.write_many(items)} == {Outcome.WRITTEN}
    assert git_calls().count("push") == 5  # 30 branches, 7 at a time
    for i in range(30):
        assert git(remote, "rev-parse", f"experiments/q{i}")
    left = set(git(clone, "for-each-ref", "--format=%(refname)", "refs/reconciler/").split())
    assert left == {ref for ref, fate in leftovers.items() if fate != "removed"}
    assert "refs/heads/experiments/x" not in git(remote, "for-each-ref")  # never pushed
    monkeypatch.setenv("RECONCILER_PUSH_BATCH", "lots")
    with pytest.raises(ProvenanceError, match="RECONCILER_PUSH_BATCH='lots'"):
        plumbing.push_batch()


def _refuse_pushes_of_more_than(remote: Path, most: int) -> None:
    """A pre-receive hook refusing a push that updates more than ``most`` refs, as a Git
    host's limit on one push does (0: every push refused)."""
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "n=$(wc -l)\n"
        f'if [ "$n" -gt {most} ]; then echo "error: pushes updating more than {most} refs'
        ' are not allowed" >&2; exit 1; fi\n'
    )
    hook.chmod(0o755)


def test_a_remote_refusing_large_pushes_gets_smaller_ones_and_every_record(
    remote: Path,
    clone: Path,
    tmp_path: Path,
    record_factory: Factory,
    git_calls: Callable[[], list[str]],
) -> None:
    """10 branches to a remote taking at most 3 refs a push: refused at 10 and 5, taken at 2;
    the rest go 2 at a time, and the next write of the process starts at 2."""
    _refuse_pushes_of_more_than(remote, 3)
    store = store_for(clone, tmp_path / "state")
    items = [(f"experiments/m{i}", record_factory(f"t{i}", pipeline=f"m{i}")) for i in range(10)]
    assert {r.outcome for r in store.write_many(items)} == {Outcome.WRITTEN}
    assert git_calls().count("push") == 2 + 5  # 10 and 5 refused, then five pushes of 2
    for i in range(10):
        assert git(remote, "rev-parse", f"experiments/m{i}")
    assert store.pending() == []
    more = [(f"experiments/m{i}", record_factory(f"u{i}", pipeline=f"m{i}")) for i in range(4)]
    assert {r.outcome for r in store.write_many(more)} == {Outcome.WRITTEN}
    assert git_calls().count("push") == 7 + 2  # learned: 2 at a time from the start
    assert git(clone, "for-each-ref", "refs/reconciler/") == ""


def test_a_remote_refusing_every_push_keeps_the_records_after_a_few_tries(
    remote: Path,
    clone: Path,
    tmp_path: Path,
    record_factory: Factory,
    git_calls: Callable[[], list[str]],
) -> None:
    """Refused at every size down to one branch: not about the count, so the batch is
    refused as a whole after 10, 5, 2 and 1 (not one push per branch), records kept."""
    _refuse_pushes_of_more_than(remote, 0)
    store = store_for(clone, tmp_path / "state")
    items = [(f"experiments/n{i}", record_factory(f"v{i}", pipeline=f"n{i}")) for i in range(10)]
    results = store.write_many(items)
    assert {r.outcome for r in results} == {Outcome.PENDING}
    assert all("pre-receive hook declined" in r.message for r in results), results[0].message
    assert git_calls().count("push") == 4
    assert len(store.pending()) == 10  # nothing lost: delivered when the remote allows it
    assert git(remote, "for-each-ref", "refs/heads/experiments") == ""
