"""Benchmark: reading provenance records and recording finished runs, before and after.

Run: ``pytest tests/bench/bench_records.py -m bench -s`` (``BENCH_RECORDS=1000,10000``,
``BENCH_RUNS=500``, ``BENCH_SAMPLE=200``). Prints figures and ratios; asserts only what must
hold (every record found, every run recorded once), never a time.

Setup: a bare remote holding one provenance branch per pipeline (``experiments/pNNNNN``, the
default ``provenanceBranch``), each with one record, made with ``git fast-import``; the
reconciler reads a bare mirror of it, as the daemon does.

Reading N records (one per pipeline, as a reconcile looks up each pipeline's current run):

- before: what every lookup cost until records were read through an index: the ref resolved
  with ``git rev-parse`` (remote-tracking ref, then local branch), the blob found with ``git
  cat-file --batch-check``, read with ``git cat-file --batch``, and parsed with ruamel's
  pure-Python parser; reproduced here by :func:`legacy_get` and timed on ``BENCH_SAMPLE``
  lookups, scaled to N;
- after, first reconcile: a new store's index (refs resolved, directories listed and records
  parsed in-process, libyaml);
- after, next reconcile: the same store again (the daemon's case): nothing is parsed again.

Recording R finished runs:

- before: one ``write`` per record (fetch, commit, push per record, as the tracker did),
  timed on ``BENCH_SAMPLE`` records and scaled to R;
- after: one ``write_many`` (the outbox, one ls-remote and fetch, one commit per branch, one
  push), R runs in R pipelines (R branches) and R runs of one pipeline (one branch).

Measured on the previous implementation itself (commit 8d167d3, a 2-core machine shared with
other builds, load average 12-20): 1,000 ``get`` 51.0 s; 10,000 ``get`` 1,728 s (the per-lookup
cost grows with the number of refs); 500 ``write`` to 500 branches 291 s, to one branch 611 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from reconciler.provenance.index import RecordCache
from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import Outcome, ProvenanceStore
from tests.provenance.helpers import GIT_ENV, make_record

pytestmark = pytest.mark.bench

SIZES = [int(n) for n in os.environ.get("BENCH_RECORDS", "1000,10000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "500"))
SAMPLE = int(os.environ.get("BENCH_SAMPLE", "200"))


def git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "-C", str(cwd), *args],
        input=input,
        capture_output=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


def pipeline(i: int) -> str:
    return f"p{i:05d}"


def populate(remote: Path, count: int) -> None:
    """One branch per pipeline, each with one record, in one ``git fast-import``."""
    template = make_record("r0000000", pipeline="p00000").to_yaml()
    chunks = []
    for i in range(count):
        name = pipeline(i)
        text = template.replace("p00000", name).replace("r0000000", f"r{i:07x}").encode()
        path = f"runs/prod/{name}/r{i:07x}.yaml".encode()
        chunks.append(
            b"commit refs/heads/experiments/%s\ncommitter bench <bench@example.com> 1700000000 +0000\n"
            b"data 7\nrecord\nM 100644 inline %s\ndata %d\n%s\n"
            % (name.encode(), path, len(text), text)
        )
    git(remote, "fast-import", "--quiet", input=b"".join(chunks))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Path]]:
    """``{N: mirror}``: a bare mirror of a remote with N pipelines' records, per size."""
    base = tmp_path_factory.mktemp("records")
    mirrors = {}
    for count in SIZES:
        remote = base / f"remote-{count}.git"
        git(base, "init", "-q", "--bare", str(remote))
        populate(remote, count)
        mirror = base / f"mirror-{count}.git"
        git(base, "clone", "-q", "--mirror", str(remote), str(mirror))
        mirrors[count] = mirror
    yield mirrors
    shutil.rmtree(base, ignore_errors=True)


def legacy_get(repo: Path, branch: str, path: str) -> RunRecord | None:
    """Look one record up the way every lookup did before the index (3-4 processes)."""
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
        tip = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "-q", "--verify", f"{ref}^{{commit}}"],
            capture_output=True,
            check=False,
        )
        if tip.returncode != 0:
            continue
        check = git(
            repo,
            "cat-file",
            "--batch-check=%(objectname) %(objecttype)",
            input=f"{tip.stdout.decode().strip()}:{path}\n".encode(),
        ).split()
        if len(check) != 2 or check[1] != b"blob":
            continue
        out = git(repo, "cat-file", "--batch", input=check[0] + b"\n")
        header, _, body = out.partition(b"\n")
        data = body[: int(header.split()[2])]
        return RunRecord.from_dict(YAML(typ="safe", pure=True).load(data.decode()), path=path)
    return None


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


@pytest.mark.parametrize("count", SIZES)
def test_read_records(world: dict[int, Path], tmp_path: Path, count: int) -> None:
    mirror = world[count]
    keys = [(f"experiments/{pipeline(i)}", pipeline(i), f"r{i:07x}") for i in range(count)]
    sample = keys[:: max(1, count // SAMPLE)][:SAMPLE]

    def before() -> None:
        for branch, name, run in sample:
            assert legacy_get(mirror, branch, f"runs/prod/{name}/{run}.yaml") is not None

    legacy = timed(before) / len(sample) * count
    cache = RecordCache()
    store = ProvenanceStore(mirror, state_dir=tmp_path / "state", cache=cache)

    def reconcile() -> None:
        index = store.load(branch for branch, _, _ in keys)
        for branch, name, run in keys:
            found = index.summary(branch, "prod", name, run)
            assert found is not None and found.status == "Succeeded"

    first = timed(reconcile)
    parsed = cache.parsed
    second = timed(reconcile)
    assert parsed == count and cache.parsed == count  # parsed once, by blob id
    print(
        f"\nread {count:,} records: before {legacy:.1f} s (from {len(sample)} lookups, "
        f"{legacy / count * 1000:.1f} ms each); after: first reconcile {first:.2f} s "
        f"({legacy / first:.0f}x faster), next reconcile {second:.3f} s "
        f"({legacy / second:.0f}x faster)"
    )


@pytest.mark.parametrize("branches", ["one branch per run", "one branch"])
def test_record_runs(world: dict[int, Path], tmp_path: Path, branches: str) -> None:
    mirror = world[min(SIZES)]
    remote = mirror.parent / f"remote-{min(SIZES)}.git"
    spread = branches == "one branch per run"

    def items(prefix: str, n: int) -> list[tuple[str, RunRecord]]:
        out = []
        for i in range(n):
            name = pipeline(i % min(SIZES)) if spread else "p00000"
            out.append((f"experiments/{name}", make_record(f"{prefix}{i:06x}", pipeline=name)))
        return out

    per_record = ProvenanceStore(mirror, state_dir=tmp_path / "one-by-one")
    sample = items("s" if spread else "t", min(SAMPLE, RUNS))
    measured = timed(lambda: [per_record.write(b, r) for b, r in sample])
    legacy = measured / len(sample) * RUNS
    batched = ProvenanceStore(mirror, state_dir=tmp_path / "batched")
    prefix = "b" if spread else "o"  # the two cases share the remote
    work = items(prefix, RUNS)
    results: list[object] = []
    after = timed(lambda: results.extend(batched.write_many(work)))
    assert all(r.outcome == Outcome.WRITTEN for r in results)  # type: ignore[attr-defined]
    assert batched.pending() == []
    log = git(remote, "log", "--all", "--format=", "--name-only", "--diff-filter=A")
    paths = log.decode().split()
    assert len({p for p in paths if f"/{prefix}0" in p}) == RUNS  # every run recorded, once
    print(
        f"\nrecord {RUNS} runs ({branches}): before {legacy:.1f} s (from {len(sample)} "
        f"writes, {measured / len(sample) * 1000:.0f} ms each); after {after:.2f} s in one "
        f"batch ({legacy / after:.0f}x faster)"
    )
