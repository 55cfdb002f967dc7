"""Recording finished runs reads their trimmed step objects whole, several at a time.

At 10,000 pipelines one sync recorded 2,807 runs: 8,400 GETs, one after another, were 7 s
against the sandbox and would be over a minute against a remote API server.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from reconciler.runs import recording, trimming
from reconciler.runs.tracking import RunTracker
from reconciler.structs.manifests import Manifest
from tests.apply import objects

NS, ENV = "ml-dev", "dev"


def tracker(read_whole: Any, reads_at_once: int) -> RunTracker:
    return RunTracker(
        env=ENV,
        namespace=NS,
        server="https://cluster.example",
        source=recording.SourceFacts(
            repo="file:///repo",
            ref="main",
            commit="0" * 40,
            trigger=None,  # type: ignore[arg-type]
        ),
        provenance=None,  # type: ignore[arg-type]  # nothing is recorded here
        branch_for=lambda p: f"experiments/{p}",
        list_pods=list,
        read_whole=read_whole,
        reads_at_once=reads_at_once,
    )


def jobs() -> tuple[list[Manifest], dict[str, Manifest]]:
    whole = {
        f"p{i}": objects.job(f"p{i}", "abc123", "train", NS, ENV, image=f"train:{i}")
        for i in range(4)
    }
    listed = [trimming.trim(copy.deepcopy(j)) for j in whole.values()]
    assert all(trimming.is_trimmed(j) for j in listed)
    return listed, {j["metadata"]["name"]: j for j in whole.values()}


def test_trimmed_step_objects_are_read_whole_concurrently() -> None:
    listed, whole = jobs()
    together = threading.Barrier(2, timeout=10)  # passes only if two reads overlap

    def read(obj: Manifest) -> Manifest:
        together.wait()
        return whole[obj["metadata"]["name"]]

    t = tracker(read, reads_at_once=2)
    t._read_wholes(listed)
    for obj in listed:
        got = t._whole(obj, "train", None)  # type: ignore[arg-type]  # read: no fallback
        assert got is whole[obj["metadata"]["name"]]
        assert not trimming.is_trimmed(got)


def test_a_read_that_fails_fails_that_record_only() -> None:
    listed, whole = jobs()
    together = threading.Barrier(2, timeout=1)

    def read(obj: Manifest) -> Manifest:
        together.wait()  # one at a time: every read breaks the barrier
        return whole[obj["metadata"]["name"]]

    t = tracker(read, reads_at_once=1)
    t._read_wholes(listed)
    with pytest.raises(threading.BrokenBarrierError):
        t._whole(listed[0], "train", None)  # type: ignore[arg-type]
