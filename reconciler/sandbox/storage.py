"""Object storage, the server-wide resourceVersion, and watch fan-out.

Objects are JSON-compatible dicts, stored per resource key (``deployments.apps``) and
``(namespace, name)``. Stored dicts are never mutated: a writer stores a new dict, so a
reader may serialize what it got without holding the lock. Every write takes the next
value of one counter as its resourceVersion (monotone across the server, like etcd's
revision) and is offered to the open watches and to the journal (:mod:`.persistence`).

A bounded history of events lets a watch resume from an older resourceVersion, as
kube-apiserver's watch cache does; one older than the history (or than the start of
this process, for a restored state) gets a 410 Expired ERROR event.

Callers: :mod:`.handlers`, :mod:`.lifecycle`, :mod:`.persistence`, and the in-process
port of :mod:`.controllers`.
"""

from __future__ import annotations

import builtins
import collections
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
HISTORY = 50_000


@dataclass
class Event:
    """One change: ``type`` ADDED/MODIFIED/DELETED, the object after (or as deleted)."""

    rv: int
    key: str
    type: str
    obj: Obj
    old: Obj | None = None


@dataclass(eq=False)
class Watch:
    """An open watch: events for one resource key (and namespace) go to ``queue``."""

    key: str
    namespace: str | None
    accept: Callable[[Obj], bool]
    queue: queue.Queue[Event | None] = field(default_factory=queue.Queue)

    def offer(self, ev: Event) -> None:
        """Queue ``ev`` as this watch sees it (selector transitions become ADDED/DELETED)."""
        if ev.key != self.key:
            return
        ns = (ev.obj.get("metadata") or {}).get("namespace") or ""
        if self.namespace is not None and ns != self.namespace:
            return
        now = self.accept(ev.obj)
        before = ev.old is not None and self.accept(ev.old)
        if ev.type == "MODIFIED":
            if now and not before:
                self.queue.put(Event(ev.rv, ev.key, "ADDED", ev.obj))
            elif before and not now:
                self.queue.put(Event(ev.rv, ev.key, "DELETED", ev.obj))
            elif now:
                self.queue.put(ev)
        elif now:
            self.queue.put(ev)


class Store:
    """All objects of the sandbox, guarded by one re-entrant lock (``store.lock``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rv = 1
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._watches: list[Watch] = []
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self.floor = 0  # resourceVersions below it have no history (before a restart)
        self.listeners: list[Callable[[Event], None]] = []

    # ------------------------------------------------------------------ reads

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        """Return the stored object (do not mutate it) or None."""
        return self._objects.get(key, {}).get((namespace, name))

    def list(self, key: str, namespace: str | None = None) -> builtins.list[Obj]:
        """Return the objects of a resource (in one namespace, or all), sorted by ns/name."""
        with self.lock:
            bucket = self._objects.get(key, {})
            if namespace is None:
                items = sorted(bucket.items())
            else:
                items = sorted(kv for kv in bucket.items() if kv[0][0] == namespace)
        return [o for _, o in items]

    def values(self, key: str) -> builtins.list[Obj]:
        """Return every object of a resource, unsorted: a copy of the store's own list, made
        at C speed under the lock (what :meth:`list` sorts, a controller's tick walks)."""
        with self.lock:
            return builtins.list(self._objects.get(key, {}).values())

    def resource_keys(self) -> builtins.list[str]:
        """Return every resource key that has objects."""
        with self.lock:
            return [k for k, v in self._objects.items() if v]

    def current_rv(self) -> int:
        """Return the latest resourceVersion issued."""
        return self.rv

    # ----------------------------------------------------------------- writes

    def next_rv(self) -> int:
        """Issue the next resourceVersion (call with the lock held)."""
        self.rv += 1
        return self.rv

    def put(self, key: str, obj: Obj, *, old: Obj | None) -> Obj:
        """Store ``obj`` with a new resourceVersion and emit ADDED or MODIFIED.

        ``obj`` is owned by the store from now on; returns it.
        """
        with self.lock:
            rv = self.next_rv()
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(rv)
            ns = meta.get("namespace") or ""
            self._objects.setdefault(key, {})[(ns, meta["name"])] = obj
            self._emit(Event(rv, key, "MODIFIED" if old is not None else "ADDED", obj, old))
        return obj

    def remove(self, key: str, obj: Obj) -> Obj:
        """Remove ``obj`` and emit DELETED (with a new resourceVersion); returns it."""
        with self.lock:
            meta = obj.get("metadata") or {}
            ns = meta.get("namespace") or ""
            self._objects.get(key, {}).pop((ns, meta.get("name", "")), None)
            rv = self.next_rv()
            gone = dict(obj)
            gone["metadata"] = dict(meta, resourceVersion=str(rv))
            self._emit(Event(rv, key, "DELETED", gone, obj))
        return gone

    def load(self, key: str, obj: Obj) -> None:
        """Put a persisted object back without events (start-up only)."""
        meta = obj["metadata"]
        self._objects.setdefault(key, {})[(meta.get("namespace") or "", meta["name"])] = obj

    def drop(self, key: str, namespace: str, name: str) -> None:
        """Forget an object without events (start-up journal replay only)."""
        self._objects.get(key, {}).pop((namespace, name), None)

    def _emit(self, ev: Event) -> None:
        self._history.append(ev)
        for listener in self.listeners:
            listener(ev)
        for w in list(self._watches):
            w.offer(ev)

    # ------------------------------------------------------------------ watch

    def watch(
        self,
        key: str,
        namespace: str | None,
        accept: Callable[[Obj], bool],
        since: int | None,
    ) -> tuple[Watch, builtins.list[Event]]:
        """Open a watch; returns it and the past events after ``since`` to replay first.

        ``since`` None: no replay. Raises LookupError if ``since`` is older than the
        history kept.
        """
        w = Watch(key, namespace, accept)
        with self.lock:
            replay: builtins.list[Event] = []
            if since is not None and since < self.rv:
                oldest = self._history[0].rv if self._history else self.rv + 1
                full = len(self._history) == self._history.maxlen
                if since < self.floor or (since < oldest - 1 and full):
                    raise LookupError(max(oldest, self.floor))
                probe = Watch(key, namespace, accept)
                for ev in self._history:
                    if ev.rv > since:
                        probe.offer(ev)
                while not probe.queue.empty():
                    item = probe.queue.get()
                    if item is not None:
                        replay.append(item)
            self._watches.append(w)
        return w, replay

    def unwatch(self, w: Watch) -> None:
        """Close a watch (idempotent)."""
        with self.lock:
            if w in self._watches:
                self._watches.remove(w)

    def close_watches(self) -> None:
        """End every open watch (server shutdown)."""
        with self.lock:
            for w in self._watches:
                w.queue.put(None)
            self._watches.clear()
