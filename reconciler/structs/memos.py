"""A small in-memory memo: values by key, the least recently used dropped past a limit.

Used where a process keeps what it derived for as long as it runs, never on disk: the
engine's prepared environment instances (:class:`reconciler.engine.seams.Context`), the
Pipeline models of valid documents (:mod:`reconciler.specs.validation`), the pipeline file
index of a commit shared by its environments (:mod:`reconciler.render.overlays`). Thread-safe
(the daemon reconciles environments in several threads). For derived values written to
disk, see :class:`reconciler.source.caches.ContentCache`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Values by key; past ``limit`` entries, the least recently used goes first."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """Return the value kept under ``key`` (now the most recently used), or None."""
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used past the limit."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.limit:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
