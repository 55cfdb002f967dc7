"""Benchmark: one overlay of N pipeline files through Kustomize, whole and in chunks.

Run: ``pytest tests/bench/bench_kustomize.py -m bench -s`` (``BENCH_KUSTOMIZE_SIZES``,
default ``1000,10000`` pipeline files; ``BENCH_KUSTOMIZE_WHOLE_MAX``, default 3000: the
largest size also built whole, since one whole build of 10,000 files takes minutes of CPU
where the machine is shared; set it to 10000 to measure that too). Prints figures; asserts
only that the outputs agree and that a changed pipeline rebuilds one chunk, never a time.

Not end to end: :func:`reconciler.render.kustomize.build_overlay` alone (input checks,
Kustomize, parsing its output), on a generated repository like ``bench_sync.py``'s (three
steps a pipeline, served) whose overlay lists ``../../pipelines``, an Environment and a
ResourceQuota, and patches three pipelines by name. For each size:

- whole: ``chunk_files=0``, one ``kubectl kustomize`` of the overlay, no cache;
- chunked, first build: the default chunks, empty cache (what a first reconcile pays);
- same tree again: the cache keyed by the tree id (a no-op reconcile);
- one pipeline changed: its params edited, a new tree id, the same cache (a push);
- one pipeline added: a new file listed in ``pipelines/kustomization.yaml``.

Wall time, and the CPU seconds of Kustomize (children) and of this process, so that a
loaded machine's figures can be read; the load average is printed with them.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.render import kustomize
from reconciler.source import caches
from tests.bench import bench_sync

pytestmark = pytest.mark.bench

SIZES = [int(n) for n in os.environ.get("BENCH_KUSTOMIZE_SIZES", "1000,10000").split(",")]
WHOLE_MAX = int(os.environ.get("BENCH_KUSTOMIZE_WHOLE_MAX", "3000"))


def write_repo(root: Path, count: int) -> tuple[Path, list[str]]:
    """Write ``count`` pipelines and overlays/dev (three patches by name); return the overlay."""
    names = [f"p{i:05d}" for i in range(count)]
    (root / "pipelines").mkdir(parents=True)
    for i, name in enumerate(names):
        (root / "pipelines" / f"{name}.yaml").write_text(
            bench_sync.pipeline_yaml(name, i, i % 10 == 0)
        )
    (root / "pipelines" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"  - {n}.yaml\n" for n in names)
    )
    overlay = root / "overlays" / "dev"
    overlay.mkdir(parents=True)
    patches = "".join(
        f"  - target: {{kind: Pipeline, name: {n}}}\n"
        "    patch: '- {op: replace, path: /spec/serve/replicas, value: 1}'\n"
        for n in names[:: max(1, count // 3)][:3]
    )
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../../pipelines\n  - environment.yaml\n  - quota.yaml\n"
        "patches:\n" + patches
    )
    (overlay / "environment.yaml").write_text(
        "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\nmetadata: {name: dev}\n"
        "spec: {branch: main, namespace: bench-dev, serve: true}\n"
    )
    (overlay / "quota.yaml").write_text(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: compute}\n"
        "spec: {hard: {requests.cpu: '100000'}}\n"
    )
    return overlay, names


class Timed:
    """Wall seconds and CPU seconds (children: Kustomize; self: Python) of one call."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = time.process_time()
        started = time.perf_counter()
        self.value = fn()
        self.wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.kustomize = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        self.python = time.process_time() - own

    def __str__(self) -> str:
        return (
            f"{self.wall:8.2f} s wall, Kustomize {self.kustomize:7.2f} s CPU, "
            f"Python {self.python:6.2f} s CPU"
        )


@pytest.mark.parametrize("count", SIZES)
def test_kustomize_whole_and_in_chunks(tmp_path: Path, count: int) -> None:
    overlay, names = write_repo(tmp_path / "repo", count)
    lines = [f"\n{count} pipeline files, one overlay (load average {os.getloadavg()[0]:.1f})"]
    whole = None
    if count <= WHOLE_MAX:
        whole = Timed(lambda: kustomize.build_overlay(overlay, chunk_files=0))
        lines.append(f"  whole build                {whole}")
        print(lines[-1], file=sys.stderr, flush=True)

    cache = caches.ContentCache()
    first = Timed(lambda: kustomize.build_overlay(overlay, cache=cache, tree="t1"))
    chunks = cache.stats()["kustomize-chunks"][1] - 1  # less the build without split files
    lines.append(f"  chunked, first build       {first} ({chunks} chunks)")
    if whole is not None:
        assert first.value == whole.value
        lines.append(f"  chunked / whole            {first.wall / whole.wall:.3f}x wall")
    assert len(first.value) == count + 2

    same = Timed(lambda: kustomize.build_overlay(overlay, cache=cache, tree="t1"))
    assert same.value == first.value
    lines.append(f"  same tree again (no-op)    {same}")

    spec = overlay.parent.parent / "pipelines" / f"{names[len(names) // 2]}.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.02"))
    before = cache.stats()["kustomize-chunks"]
    changed = Timed(lambda: kustomize.build_overlay(overlay, cache=cache, tree="t2"))
    rebuilt = cache.stats()["kustomize-chunks"][1] - before[1]
    assert rebuilt == 1
    lines.append(f"  one pipeline changed       {changed} ({rebuilt} chunk rebuilt)")

    new = overlay.parent.parent / "pipelines" / "added.yaml"
    new.write_text(bench_sync.pipeline_yaml("added", 0, False))
    listing = overlay.parent.parent / "pipelines" / "kustomization.yaml"
    listing.write_text(listing.read_text() + "  - added.yaml\n")
    before = cache.stats()["kustomize-chunks"]
    added = Timed(lambda: kustomize.build_overlay(overlay, cache=cache, tree="t3"))
    rebuilt = cache.stats()["kustomize-chunks"][1] - before[1]
    assert len(added.value) == count + 3
    lines.append(f"  one pipeline added         {added} ({rebuilt} chunk rebuilt)")
    lines.append(f"  machine load average now   {os.getloadavg()[0]:.1f}")
    print("\n".join(lines), flush=True)
