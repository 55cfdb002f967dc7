"""Kustomize deltas: a changed chunk built from its previous output and its changed files.

Real Kustomize throughout. For each supported overlay of ``test_kustomize_chunks``, a
chunked build is followed by pushes that change files (params, a pipeline renamed into a
patch's name selector, a file that now holds two documents, files in two chunks at once);
after each, the chunked build, which builds only the changed files (as they were and as
they are, or only as they are when their documents keep their ids on an overlay that
names resources by their ids alone) and splices their documents into the chunk's previous
output, must equal the whole build document for document, in order, and must really have
used the delta of the kind expected (the debug log says which).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from reconciler.render import kustomize, kustomize_chunks, kustomize_deltas, kustomize_plans
from reconciler.source import caches
from reconciler.structs.errors import RenderError
from tests.render.test_kustomize_chunks import (
    OVERLAY,
    SUPPORTED,
    pipeline,
    plan_of,
    write,
    write_repo,
)

CHUNK = 8
"""Files per chunk: 24 pipelines in 4 chunks, so that one changed file is a delta."""


def deltas_used(cache: caches.ContentCache) -> int:
    """Return how many old files the deltas so far were built from."""
    return cache.stats().get(kustomize_deltas.SOURCES_TABLE, (0, 0))[0]


def build_and_compare(
    overlay: Path, cache: caches.ContentCache, caplog: pytest.LogCaptureFixture | None = None
) -> list[object]:
    if caplog is not None:
        caplog.clear()
    chunked = kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    assert chunked == kustomize.build_overlay(overlay, chunk_files=0)
    return chunked


def delta_kinds(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return how each delta of the last build took the old documents (debug log)."""
    return [
        r.getMessage().rsplit("(", 1)[1].rstrip(")")
        for r in caplog.records
        if "built as a delta" in r.getMessage()
    ]


def chunk_with(overlay: Path, *names: str) -> tuple[str, ...]:
    planned = plan_of(overlay, CHUNK)
    assert isinstance(planned, kustomize_plans.Plan)
    return next(c for c in planned.chunks(CHUNK) if all(n in c for n in names))


@pytest.mark.parametrize("case", list(SUPPORTED))
def test_a_changed_chunk_built_as_a_delta_gives_the_whole_output(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=kustomize.__name__)
    overlay_text, files, split = SUPPORTED[case]
    repo = tmp_path / "repo"
    overlay = write_repo(repo, overlay_text, files=files, split=split)
    planned = plan_of(overlay, CHUNK)
    assert isinstance(planned, kustomize_plans.Plan)
    assert planned.ids_by_id == ("labelSelector" not in overlay_text)
    by_id = "old by id" if planned.ids_by_id else "old and new built"
    cache = caches.ContentCache()
    build_and_compare(overlay, cache)
    assert deltas_used(cache) == 0

    write(repo / "pipelines/p05.yaml", pipeline(5).replace("lr: 0.01", "lr: 0.7"))
    out = build_and_compare(overlay, cache, caplog)
    assert deltas_used(cache) == 1 and delta_kinds(caplog) == [by_id]
    assert any(d.get("spec", {}).get("params", {}).get("lr") == 0.7 for d in out)

    write(repo / "pipelines/p07.yaml", pipeline(7, "p17-renamed"))  # a patch selects p1.*
    build_and_compare(overlay, cache, caplog)
    assert deltas_used(cache) == 2 and delta_kinds(caplog) == ["old and new built"]

    write(repo / "pipelines/p09.yaml", pipeline(9) + "---\n" + pipeline(9, "p09-second"))
    build_and_compare(overlay, cache, caplog)
    assert deltas_used(cache) == 3 and delta_kinds(caplog) == ["old and new built"]

    # Same ids, another label: on an overlay that selects by label, another patch applies.
    write(repo / "pipelines/p03.yaml", pipeline(3).replace("team: a", "team: b"))
    build_and_compare(overlay, cache, caplog)
    assert deltas_used(cache) == 4 and delta_kinds(caplog) == [by_id]

    write(repo / "pipelines/p09.yaml", pipeline(9))  # back to one document
    build_and_compare(overlay, cache)
    used = deltas_used(cache)  # 4, or 3 if that chunk is cached as it was first

    one = chunk_with(overlay, "p12.yaml")
    other = next(i for i in range(13, 24) if f"p{i:02d}.yaml" not in one)
    for i in (12, other):
        write(repo / f"pipelines/p{i:02d}.yaml", pipeline(i).replace("lr: 0.01", "lr: 0.2"))
    build_and_compare(overlay, cache)
    assert deltas_used(cache) == used + 2


def test_a_delta_and_a_fresh_cache_agree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    overlay = write_repo(repo, OVERLAY)
    cache = caches.ContentCache()
    kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    write(repo / "pipelines/p03.yaml", pipeline(3).replace("seed: 3", "seed: 33"))
    delta = kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    assert deltas_used(cache) == 1
    fresh = kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=caches.ContentCache())
    assert delta == fresh


def test_a_duplicate_made_by_a_delta_fails_as_the_whole_build(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    overlay = write_repo(repo, OVERLAY)
    cache = caches.ContentCache()
    kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    first = chunk_with(overlay, "p00.yaml")
    other = next(e for e in first if e != "p00.yaml")
    write(repo / "pipelines/p00.yaml", pipeline(0, other.removesuffix(".yaml")))
    with pytest.raises(RenderError) as chunked:
        kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    with pytest.raises(RenderError) as whole:
        kustomize.build_overlay(overlay, chunk_files=0)
    assert str(chunked.value) == str(whole.value)


def test_a_broken_changed_file_is_named_in_the_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    overlay = write_repo(repo, OVERLAY)
    cache = caches.ContentCache()
    kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    write(repo / "pipelines/p04.yaml", "apiVersion: v1\nkind: [broken\n")
    with pytest.raises(RenderError) as caught:
        kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    assert "p04.yaml" in str(caught.value)


def test_old_bytes_that_no_longer_match_their_hash_build_the_chunk(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    overlay = write_repo(repo, OVERLAY)
    cache = caches.ContentCache()
    kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    sources = cache.table(kustomize_deltas.SOURCES_TABLE)
    for key in list(sources):
        sources[key] = "not what was hashed"
    write(repo / "pipelines/p06.yaml", pipeline(6).replace("seed: 6", "seed: 66"))
    build_and_compare(overlay, cache)
    assert deltas_used(cache) == 1  # looked up, refused: the chunk was built whole


def test_splice_by_id_takes_out_the_documents_of_the_new_ids_or_refuses() -> None:
    def piece(key: str, name: str, kind: str = "Pipeline") -> tuple[str, list[dict[str, Any]]]:
        return key, [{"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}]

    base = [piece("env", "dev", "Environment")]
    previous = [*base, piece("a1", "a"), piece("b1", "b")]
    spliced = kustomize_chunks.splice_by_id(previous, base, [*base, piece("a2", "a")])
    assert spliced is not None and [k for k, _ in spliced] == ["env", "b1", "a2"]
    # A new id the previous output does not have: the old side must be built.
    assert kustomize_chunks.splice_by_id(previous, base, [*base, piece("c1", "c")]) is None
    # A document of the other inputs missing from the new build.
    assert kustomize_chunks.splice_by_id(previous, base, [piece("a2", "a")]) is None


def test_input_ids_are_unknown_for_lists_and_unparsable_files() -> None:
    ids = kustomize_deltas.input_ids(b"kind: Pipeline\nmetadata: {name: a}\n---\n---\nkind: X\n")
    assert ids is not None and sorted(ids) == [("", "Pipeline", "", "a"), ("", "X", "", "")]
    assert kustomize_deltas.input_ids(b"apiVersion: v1\nkind: List\nitems: []\n") is None
    assert kustomize_deltas.input_ids(b"kind: [broken\n") is None
    assert kustomize_deltas.input_ids(b"- a list\n") is None
