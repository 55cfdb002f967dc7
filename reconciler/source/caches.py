"""Content-addressed caches: values derived from content, keyed by the content's address.

Used by render (Kustomize output keyed by the Git tree ids it reads, parsed documents keyed
by the hash of their text, pipeline names keyed by the hash of their file) and specs
(documents known to be valid). A key is a Git object id or a hash of the bytes a value was
derived from, so an entry never goes stale: changed content has another address and misses.
A no-op reconcile therefore costs what changed, not what exists.

One :class:`ContentCache` holds named :class:`Table` values. In memory it lives as long as
its owner (the daemon keeps one for its life); with a ``directory`` (the state directory's
``cache/``), each table is also kept in a JSON file, read on first use and written by
:meth:`ContentCache.save`, so that one-shot commands (``reconciler sync``) reuse what the
previous process derived. A file that is missing, unreadable or of another format version is
ignored (the cache starts empty); writes are atomic (a temporary file renamed), so a
concurrent writer or a crash leaves either file whole. Values must be JSON data.

A table keeps what the current process used plus, up to its limit, the most recent others:
an entry not used for long falls out (least recently used first).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from reconciler.source import statedir

FORMAT = 1
"""The version of the files' format; a file of another version is ignored."""
DEFAULT_LIMIT = 200_000
"""Entries a table keeps (least recently used out)."""


def key_of(*parts: str | bytes) -> str:
    """Return the content address (sha256, hex) of ``parts``, each length-prefixed."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


class Table(MutableMapping[str, Any]):
    """One kind of derived value by content address; counts its hits and misses.

    A mapping: ``table.get(key)`` is a lookup (counted), ``table[key] = value`` stores.
    Thread-safe for single operations.
    """

    def __init__(self, name: str, *, limit: int = DEFAULT_LIMIT) -> None:
        self.name = name
        self.limit = limit
        self.hits = 0
        self.misses = 0
        self.dirty = False
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                self.misses += 1
                raise
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > max(1, self.limit):
                self._data.popitem(last=False)
            self.dirty = True

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._data[key]
            self.dirty = True

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def _load(self, entries: dict[str, Any]) -> None:
        """Put entries read from disk in front of (older than) everything in memory."""
        with self._lock:
            merged: OrderedDict[str, Any] = OrderedDict(entries)
            for key, value in self._data.items():
                merged[key] = value
                merged.move_to_end(key)
            while len(merged) > max(1, self.limit):
                merged.popitem(last=False)
            self._data = merged

    def _snapshot(self) -> dict[str, Any]:
        with self._lock:
            self.dirty = False
            return dict(self._data)


class ContentCache:
    """Named tables of derived values, in memory and (with ``directory``) on disk."""

    def __init__(self, directory: Path | None = None, *, limit: int = DEFAULT_LIMIT) -> None:
        self.directory = directory
        self.limit = limit
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()
        self._saved_at = time.monotonic()

    def table(self, name: str) -> Table:
        """Return the table ``name`` (letters, digits, ``.``, ``-``, ``_``), loading its file once."""
        with self._lock:
            found = self._tables.get(name)
            if found is None:
                found = self._tables[name] = Table(name, limit=self.limit)
                entries = self._read(name)
                if entries:
                    found._load(entries)
            return found

    def save(self) -> bool:
        """Write every table changed since it was read or last saved (atomically).

        A cache that cannot be written is not an error: the next process derives again.
        Returns False if a table could not be written; it stays changed, so the next save
        tries again.
        """
        if self.directory is None:
            return True
        with self._lock:
            self._saved_at = time.monotonic()
            tables = [t for t in self._tables.values() if t.dirty]
        saved = True
        for table in tables:
            try:
                self._write(table.name, table._snapshot())
            except OSError:
                table.dirty = True
                saved = False
        return saved

    def save_at_most_every(self, seconds: float) -> bool:
        """:meth:`save`, unless the last save (or, before any, the cache's creation) is less
        than ``seconds`` old; True if it saved (every changed table written).

        For tables that change at every use (the daemon's memo of objects found in sync:
        each status update of a member makes a new entry), where writing after every
        change would cost more than losing the latest entries (a process that reads the
        file again misses them and derives them anew).
        """
        with self._lock:
            due = time.monotonic() - self._saved_at >= seconds
        return self.save() if due else False

    def entries(self) -> int:
        """Return how many entries the tables in use hold, together."""
        with self._lock:
            return sum(len(t) for t in self._tables.values())

    def stats(self) -> dict[str, tuple[int, int]]:
        """Return ``{table: (hits, misses)}`` (figures for benchmarks and tests)."""
        with self._lock:
            return {name: (t.hits, t.misses) for name, t in self._tables.items()}

    def _file(self, name: str) -> Path | None:
        if self.directory is None:
            return None
        safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in name)
        return self.directory / f"{safe}.json"

    def _read(self, name: str) -> dict[str, Any]:
        path = self._file(name)
        if path is None:
            return {}
        data = statedir.read_json(path, FORMAT)
        entries = data.get("entries") if data is not None else None
        return entries if isinstance(entries, dict) else {}

    def _write(self, name: str, entries: dict[str, Any]) -> None:
        path = self._file(name)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        statedir.write_json(path, {"format": FORMAT, "entries": entries})
