"""reconciler.source.caches: content-addressed tables, in memory and on disk."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.source import caches


def test_key_of_is_the_address_of_its_parts() -> None:
    assert caches.key_of("a", "bc") == caches.key_of("a", b"bc")
    assert caches.key_of("a", "bc") != caches.key_of("ab", "c")  # parts are length-prefixed
    assert caches.key_of("a") != caches.key_of("b")


def test_a_table_counts_hits_and_misses_and_misses_what_it_never_held() -> None:
    table = caches.ContentCache().table("t")
    assert table.get("k") is None
    table["k"] = [1, 2]
    assert table.get("k") == [1, 2]
    assert table.get(caches.key_of("other")) is None
    assert (table.hits, table.misses) == (1, 2)


def test_tables_outlive_the_process_through_their_directory(tmp_path: Path) -> None:
    first = caches.ContentCache(tmp_path / "cache")
    first.table("docs")["a"] = {"x": 1}
    first.save()
    second = caches.ContentCache(tmp_path / "cache")
    assert second.table("docs").get("a") == {"x": 1}
    assert second.table("docs").get("b") is None
    assert second.stats() == {"docs": (1, 1)}


def test_a_broken_or_foreign_file_is_an_empty_table(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "broken.json").write_text("{not json")
    (directory / "old.json").write_text(json.dumps({"format": 0, "entries": {"a": 1}}))
    cache = caches.ContentCache(directory)
    assert len(cache.table("broken")) == 0
    assert cache.table("old").get("a") is None
    cache.table("old")["a"] = 2
    cache.save()
    assert caches.ContentCache(directory).table("old").get("a") == 2


def test_a_table_keeps_the_most_recently_used_entries_up_to_its_limit(tmp_path: Path) -> None:
    cache = caches.ContentCache(tmp_path / "cache", limit=2)
    table = cache.table("t")
    table["a"], table["b"] = 1, 2
    assert table.get("a") == 1  # now the most recent
    table["c"] = 3
    assert sorted(table) == ["a", "c"]
    cache.save()
    assert sorted(caches.ContentCache(tmp_path / "cache", limit=2).table("t")) == ["a", "c"]


def test_an_unchanged_table_is_not_written_again(tmp_path: Path) -> None:
    cache = caches.ContentCache(tmp_path / "cache")
    cache.table("t")["a"] = 1
    cache.save()
    path = tmp_path / "cache" / "t.json"
    path.write_text(json.dumps({"format": caches.FORMAT, "entries": {"a": 5}}))
    cache.table("t").get("a")
    cache.save()  # nothing stored since the last save: the file is left alone
    assert json.loads(path.read_text())["entries"] == {"a": 5}


def test_save_at_most_every_writes_only_once_the_interval_has_passed(tmp_path: Path) -> None:
    store = caches.ContentCache(tmp_path / "cache")
    store.table("memo")["a"] = True
    assert store.save_at_most_every(3600) is False  # created just now: not due
    assert not (tmp_path / "cache" / "memo.json").exists()
    assert store.save_at_most_every(0) is True
    assert caches.ContentCache(tmp_path / "cache").table("memo").get("a") is True
    store.table("memo")["b"] = True
    assert store.save_at_most_every(3600) is False  # saved just now
    assert caches.ContentCache(tmp_path / "cache").table("memo").get("b") is None
    store.save()  # at shutdown, whatever the interval
    assert caches.ContentCache(tmp_path / "cache").table("memo").get("b") is True


def test_a_table_that_cannot_be_written_stays_changed_for_the_next_save(tmp_path: Path) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the directory should be")
    store = caches.ContentCache(blocked)
    store.table("memo")["a"] = True
    assert store.save() is False
    assert store.table("memo").dirty  # not marked written
    blocked.unlink()
    assert store.save() is True
    assert caches.ContentCache(blocked).table("memo").get("a") is True


def test_entries_counts_every_table_in_use() -> None:
    store = caches.ContentCache()
    store.table("a")["k"] = 1
    store.table("b").update({"k": 2, "l": 3})
    assert store.entries() == 3
