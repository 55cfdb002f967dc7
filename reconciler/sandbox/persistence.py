"""State persistence (``--state FILE``): a snapshot plus a write-ahead journal.

Every acknowledged write is appended to ``FILE.journal`` (one JSON line, written with
one ``write`` system call before the HTTP answer goes out), so a sandbox killed at any
moment loses nothing it acknowledged; a torn last line (killed mid-write) is ignored on
load. Every few thousand writes, and on a clean stop, the whole state is written to
``FILE`` atomically (temporary file, fsync, rename) and the journal restarts. On start
the snapshot is loaded, then the journal's newer entries replayed; the resourceVersion
counter continues from the highest value seen, so it stays monotone across restarts.

Callers: :class:`reconciler.sandbox.Sandbox`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from reconciler.sandbox.kinds import Registry
from reconciler.sandbox.storage import Event, Store

log = logging.getLogger(__name__)
COMPACT_EVERY = 5000


class Persistence:
    """Keeps a :class:`Store` on disk at ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], store: Store, registry: Registry) -> None:
        self.path = Path(path).expanduser().resolve()
        self.journal = self.path.with_name(self.path.name + ".journal")
        self.store = store
        self.registry = registry
        self._fd: int | None = None
        self._since_compact = 0

    def load(self) -> int:
        """Load the snapshot and journal into the store; returns the number of objects."""
        rv = 0
        if self.path.exists():
            data = json.loads(self.path.read_text() or "{}")
            rv = int(data.get("resourceVersion") or 0)
            for key, objs in (data.get("objects") or {}).items():
                for obj in objs:
                    self.store.load(key, obj)
        if self.journal.exists():
            with self.journal.open("rb") as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        log.warning("sandbox state: ignoring a torn journal line")
                        continue
                    erv = int(entry.get("rv") or 0)
                    if erv <= rv and rv:
                        continue
                    self._replay(entry)
                    rv = max(rv, erv)
        self.store.rv = max(self.store.rv, rv)
        self.store.floor = self.store.rv  # no event history survives a restart
        count = 0
        for key in self.store.resource_keys():
            for obj in self.store.list(key):
                count += 1
                if key == "customresourcedefinitions.apiextensions.k8s.io":
                    self.registry.set_crd(obj)
        return count

    def _replay(self, entry: dict[str, Any]) -> None:
        key, obj = entry["key"], entry["obj"]
        meta = obj.get("metadata") or {}
        if entry["type"] == "DELETED":
            self.store.drop(key, meta.get("namespace") or "", meta.get("name", ""))
        else:
            self.store.load(key, obj)

    def attach(self) -> None:
        """Start journaling every store event."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.store.listeners.append(self._record)

    def _record(self, ev: Event) -> None:
        if self._fd is None:
            return
        line = (
            json.dumps(
                {"rv": ev.rv, "key": ev.key, "type": ev.type, "obj": ev.obj}, separators=(",", ":")
            )
            + "\n"
        )
        os.write(self._fd, line.encode())
        self._since_compact += 1
        if self._since_compact >= COMPACT_EVERY:
            self.compact()

    def compact(self) -> None:
        """Write the whole state atomically to the snapshot and empty the journal."""
        with self.store.lock:
            data = {
                "resourceVersion": self.store.current_rv(),
                "objects": {key: self.store.list(key) for key in self.store.resource_keys()},
            }
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            try:
                with os.fdopen(fd, "w") as fh:
                    json.dump(data, fh, separators=(",", ":"))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            if self._fd is not None:
                os.ftruncate(self._fd, 0)
            self._since_compact = 0

    def close(self) -> None:
        """Compact and stop journaling."""
        if self._fd is None:
            return
        self.compact()
        if self._record in self.store.listeners:
            self.store.listeners.remove(self._record)
        os.close(self._fd)
        self._fd = None
