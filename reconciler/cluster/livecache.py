"""Live objects kept in memory by list-then-watch, so a daemon's no-op pass lists nothing.

Used by :class:`~reconciler.apply.manager.ResourceManager` when the daemon gives it one
(``reconciler run --cache-objects N``; one-shot commands always list). The manager lists a collection as it
always does (one label-selected LIST of one kind in one namespace) and hands the answer to
:meth:`LiveCache.seed`, which keeps the items and watches the collection from the list's
resourceVersion; the next pass's :meth:`LiveCache.items` answers from memory, as Argo CD's
cluster cache and client-go's informers do.

How stale an answer may be, and what bounds it:

- Our own writes: the manager reports every write's answer (:meth:`expect_write`); a pass
  that reads the collection before its watch has delivered that version waits for it (at
  most ``wait`` seconds), else lists from the server and seeds again.
- Wake-ups: the daemon's cluster watch wakes an environment when a step ends; it reports
  the object that woke it (:meth:`expect_object`), so the pass sees what woke it.
- A watch that ends is resumed from its last version; one that fails (410 Expired, an
  ERROR event, a dropped connection, a non-200 answer) drops its collection, and the next
  pass lists from the server and seeds it again. A collection is served whole or not at
  all, never a partial view (a prune must not act on one).
- Other writers' changes arrive within the watch's latency (milliseconds); a pass that
  starts in between sees the object as a LIST a moment earlier would have shown it, and
  the next pass sees the change.

resourceVersions are compared as integers when both are (etcd's and the sandbox's are);
otherwise only equality counts, and an expectation that cannot be matched is waited for
and then answered by a LIST: slower, never wrong.

Memory: every cached object stays decoded between passes, as the holder's ``typed`` leaves
it (the manager compacts ``managedFields``; the engine's full pass trims step objects,
:mod:`reconciler.runs.trimming`, and holds members known in sync as thin copies,
:mod:`reconciler.apply.thin_copies`; ``tests/bench/live_object_sizes.py`` measures them).
``max_objects`` bounds their number (a collection that would pass it is not cached: its
passes list, as without a cache; one that watch events would take past it is dropped, and
its next read lists); the daemon's default is no cache at all (``--cache-objects 0``),
which keeps only the environment being reconciled in memory. Only label-selected collections with equality selectors (``k=v,k2=v2``: an
ApplySet's members) are cached; unselected lists (every Pod of a namespace) never are. The objects
handed out are shared from pass to pass: callers must not modify them (the sync copies
before changing anything, as it always has for listed objects).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s_client

from reconciler.cluster import api

log = logging.getLogger(__name__)

Manifest = dict[str, Any]
ObjectKey = tuple[str, str]
"""(namespace, name) of an object within one collection."""

DEFAULT_MAX_OBJECTS = 100_000
DEFAULT_WAIT_SECONDS = 2.0
WATCH_SECONDS = 300
"""Seconds one watch request lasts on the server before it is resumed."""
GONE = ""
"""The version awaited for an object whose deletion is expected."""
REFUSED = frozenset({401, 403, 404, 405})
"""Answers to a watch that another try would get again (no permission, not served)."""
REFUSED_SECONDS = 300.0
"""How long a collection whose watch was refused is listed every pass before trying again."""


def parse_selector(text: str) -> dict[str, str] | None:
    """Return an equality selector (``a=b,c=d``) as a map, or None for any other kind."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key or value.startswith("=") or key.endswith("!"):
            return None
        if any(c in key + value for c in " ()!"):
            return None
        out[key.strip()] = value.strip()
    return out


def _split(path: str) -> tuple[str, list[str]]:
    """Split an API path into its group-version base (``/apis/apps/v1``) and the rest.

    ``("", [])`` for a path that is not under ``/api`` or ``/apis``.
    """
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) >= 2:
        return "/" + "/".join(parts[:2]), parts[2:]
    if parts[:1] == ["apis"] and len(parts) >= 3:
        return "/" + "/".join(parts[:3]), parts[3:]
    return "", []


def collection_paths(object_path: str) -> tuple[str, ...]:
    """Return the collection paths an object path belongs to (its namespace's, and all).

    ``/apis/apps/v1/namespaces/ns/deployments/web`` -> the namespace's and the
    all-namespaces collection of deployments; ``/api/v1/namespaces/ns`` -> the Namespaces.
    A subresource (``.../web/status``) belongs where its object does.
    """
    base, rest = _split(object_path)
    if not base:
        return ()
    if len(rest) >= 4 and rest[0] == "namespaces":
        return (f"{base}/namespaces/{rest[1]}/{rest[2]}", f"{base}/{rest[2]}")
    if len(rest) >= 2:
        return (f"{base}/{rest[0]}",)
    return ()


def _object_key(object_path: str) -> ObjectKey:
    """Return the (namespace, name) an object path names."""
    _, rest = _split(object_path)
    if len(rest) >= 4 and rest[0] == "namespaces":
        return rest[1], rest[3]
    return "", rest[1] if len(rest) >= 2 else ""


def _collection_namespace(collection_path: str) -> str:
    """Return the namespace of a namespaced collection path ("" for any other)."""
    _, rest = _split(collection_path)
    return rest[1] if len(rest) == 3 and rest[0] == "namespaces" else ""


def _meta(obj: Manifest) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _key(obj: Manifest) -> ObjectKey:
    meta = _meta(obj)
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _version(obj: Manifest) -> str:
    return str(_meta(obj).get("resourceVersion") or "")


def _reached(have: str, wanted: str) -> bool:
    """True if version ``have`` is ``wanted`` or (both integers) newer."""
    if have == wanted:
        return True
    if have.isdigit() and wanted.isdigit():
        return int(have) >= int(wanted)
    return False


@dataclass
class _Collection:
    """One cached collection: its objects, the version seen last, what is awaited."""

    path: str
    selector_text: str
    selector: dict[str, str]
    typed: Callable[[Manifest], Manifest]
    objects: dict[ObjectKey, Manifest]
    version: str
    pending: dict[ObjectKey, str] = field(default_factory=dict)
    synced: bool = True
    stop: threading.Event = field(default_factory=threading.Event)
    response: Any = None

    def matches(self, obj: Manifest) -> bool:
        have = _meta(obj).get("labels") or {}
        return all(have.get(k) == v for k, v in self.selector.items())


@dataclass
class CacheStats:
    """How the cache answered: from memory, or not (the caller listed); watch failures."""

    hits: int = 0
    misses: int = 0
    waits: int = 0
    dropped: int = 0


class LiveCache:
    """Label-selected collections kept by watches (see the module docstring).

    ``client``: the cluster's API client (each watch holds a connection of its pool: give
    one the reconciles do not use). ``wait``: seconds a read waits for awaited versions.
    """

    def __init__(
        self,
        client: k8s_client.ApiClient,
        *,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        wait: float = DEFAULT_WAIT_SECONDS,
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        self.client = client
        self.max_objects = max_objects
        self.wait = wait
        self.watch_seconds = watch_seconds
        self.stats = CacheStats()
        self._lock = threading.Condition()
        self._collections: dict[tuple[str, str], _Collection] = {}
        self._closed = False
        self._refused: dict[tuple[str, str], float] = {}

    # -- reads ------------------------------------------------------------------------

    def items(self, path: str, selector: str) -> list[Manifest] | None:
        """Return the collection's objects, or None: list it yourself, then :meth:`seed`.

        Waits up to ``wait`` seconds for the versions awaited (our writes, wake-ups); a
        collection still behind them is dropped (None).
        """
        deadline = time.monotonic() + self.wait
        with self._lock:
            coll = self._collections.get((path, selector))
            if coll is not None and coll.synced and coll.pending:
                self.stats.waits += 1
                while coll.synced and coll.pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
                if coll.pending:
                    log.debug("cache of %s behind %d writes: listing", path, len(coll.pending))
                    self._drop(coll)
            if coll is None or not coll.synced:
                self.stats.misses += 1
                return None
            self.stats.hits += 1
            return list(coll.objects.values())

    def size(self) -> int:
        """Return how many objects the cache holds."""
        with self._lock:
            return sum(len(c.objects) for c in self._collections.values() if c.synced)

    # -- filling ----------------------------------------------------------------------

    def seed(
        self,
        path: str,
        selector: str,
        items: Sequence[Manifest],
        version: str,
        typed: Callable[[Manifest], Manifest],
    ) -> bool:
        """Keep a fresh LIST's ``items`` (at ``version``) and watch the collection from there.

        ``items`` are kept as they are: already what is held, the list's own objects (the
        caller's pass and later ones share them, read-only). ``typed`` makes a watch
        event's object what is held, as the list made its items (apiVersion and kind
        filled in; the manager's also compacts ``managedFields`` and applies its caller's
        trim). Returns False (nothing kept) for a selector that is not
        an equality one, a list without a version, one that would take the cache past
        ``max_objects``, or one whose watch the server refused (no ``watch`` permission,
        not served) less than :data:`REFUSED_SECONDS` ago.
        """
        parsed = parse_selector(selector) if selector else None
        with self._lock:
            old = self._collections.pop((path, selector), None)
            if old is not None:
                self._drop(old)
            if self._refused.get((path, selector), 0.0) > time.monotonic():
                return False
            if parsed is None or not version or not self._room_for(len(items)):
                return False
        kept = {_key(o): o for o in items}  # outside the lock
        with self._lock:
            if not self._room_for(len(kept)):  # others were kept meanwhile
                return False
            coll = _Collection(path, selector, parsed, typed, kept, version)
            self._collections[(path, selector)] = coll
        threading.Thread(
            target=self._watch, args=(coll,), name=f"cache-{path}", daemon=True
        ).start()
        return True

    def _room_for(self, count: int) -> bool:
        """True if ``count`` more objects fit under ``max_objects`` (call with the lock held)."""
        held = sum(len(c.objects) for c in self._collections.values() if c.synced)
        return not self._closed and held + count <= self.max_objects

    def expect_write(self, method: str, path: str, answer: Any) -> None:
        """Note a write we made (``method`` on object ``path``) and the server's answer.

        An answer that is the object awaits its version in the collections that hold it
        (or its removal from those it no longer belongs to). A DELETE awaits the object's
        removal, whatever the answer (the object as it was, or a Status), unless the answer
        shows it staying for its finalizers: then that version is awaited.
        """
        is_object = isinstance(answer, dict) and answer.get("kind") != "Status" and _meta(answer)
        if method == "POST" and is_object:
            path = path.split("?", 1)[0].rstrip("/") + "/" + _key(answer)[1]
        if method == "DELETE" and not (is_object and _meta(answer).get("finalizers")):
            self._expect(collection_paths(path), _object_key(path), None)
        elif is_object:
            self.expect_object(path, answer)

    def expect_object(self, path: str, obj: Manifest) -> None:
        """Await ``obj`` (as the server last showed it at object ``path``) in its collections."""
        self._expect(collection_paths(path), _key(obj), obj)

    def _expect(self, paths: Iterable[str], key: ObjectKey, obj: Manifest | None) -> None:
        wanted = _version(obj) if obj is not None else GONE
        with self._lock:
            for coll in self._collections.values():
                if coll.path not in paths or not coll.synced:
                    continue
                have = coll.objects.get(key)
                if obj is not None and coll.matches(obj):
                    if have is None or not _reached(_version(have), wanted):
                        coll.pending[key] = wanted
                elif have is not None:
                    coll.pending[key] = GONE if obj is None else wanted

    def retain_namespaces(self, namespaces: Iterable[str]) -> None:
        """Stop watching the collections of namespaces not in ``namespaces``.

        The daemon calls it with its environments' namespaces each time it lists them: an
        environment gone (its branch deleted) leaves no watch and no objects behind.
        Cluster-scoped and all-namespaces collections are kept.
        """
        keep = set(namespaces)
        with self._lock:
            for key, coll in list(self._collections.items()):
                namespace = _collection_namespace(coll.path)
                if namespace and namespace not in keep:
                    self._drop(coll)
                    del self._collections[key]

    def close(self) -> None:
        """Stop every watch and forget every object."""
        with self._lock:
            self._closed = True
            for coll in self._collections.values():
                self._drop(coll)
            self._collections.clear()

    # -- watching ---------------------------------------------------------------------

    def _drop(self, coll: _Collection) -> None:
        """Stop serving ``coll`` (lock held): its next read lists from the server."""
        if coll.synced:
            coll.synced = False
            coll.objects = {}
            coll.pending = {}
            self.stats.dropped += 1
        coll.stop.set()
        response = coll.response
        if response is not None:  # closing a stream another thread reads: best effort
            with contextlib.suppress(Exception):
                response.shutdown() if hasattr(response, "shutdown") else response.close()
        self._lock.notify_all()

    def _watch(self, coll: _Collection) -> None:
        try:
            while not coll.stop.is_set():
                if not self._watch_once(coll):
                    break
        except Exception as exc:  # a dropped connection, a server gone away
            if not coll.stop.is_set():
                log.info("watch of %s ended: %s; its next read lists", coll.path, exc)
        with self._lock:
            self._drop(coll)

    def _watch_once(self, coll: _Collection) -> bool:
        """Watch from the collection's version until the server ends the request.

        Returns True to resume (the request timed out as asked), False to drop.
        """
        query = [
            ("watch", "true"),
            ("resourceVersion", coll.version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.watch_seconds)),
        ]
        if coll.selector_text:
            query.append(("labelSelector", coll.selector_text))
        resp = api.send(
            self.client, "GET", coll.path, query, {"Accept": "application/json"}, None,
            self.watch_seconds + 30,
        )  # fmt: skip
        coll.response = resp
        try:
            if resp.status in REFUSED:  # asking every pass would only log it every pass
                with self._lock:
                    self._refused[(coll.path, coll.selector_text)] = (
                        time.monotonic() + REFUSED_SECONDS
                    )
                log.warning(
                    "cannot watch %s (HTTP %s): listing it every pass for %.0f s",
                    coll.path,
                    resp.status,
                    REFUSED_SECONDS,
                )
                return False
            if resp.status != 200:
                log.info("watch of %s answered %s; its next read lists", coll.path, resp.status)
                return False
            for line in _lines(resp):
                if coll.stop.is_set():
                    return False
                event = api.loads(line)
                if not self._apply(coll, event):
                    return False
            return not coll.stop.is_set()
        finally:
            resp.release_conn()

    def _apply(self, coll: _Collection, event: dict[str, Any]) -> bool:
        """Apply one watch event to ``coll``; False for an ERROR (410 Expired among them)."""
        kind = str(event.get("type", ""))
        obj = event.get("object")
        if kind == "ERROR" or not isinstance(obj, dict):
            log.info("watch of %s: %s; its next read lists", coll.path, (obj or {}).get("message"))
            return False
        version = _version(obj)
        with self._lock:
            if not coll.synced:
                return False
            if version:
                coll.version = version
            if kind == "BOOKMARK":
                return True
            key = _key(obj)
            if kind == "DELETED":
                coll.objects.pop(key, None)
            elif key not in coll.objects and not self._room_for(1):
                log.info(
                    "cache past %d objects: %s dropped; its next read lists",
                    self.max_objects,
                    coll.path,
                )
                return False
            else:
                coll.objects[key] = coll.typed(obj)
            awaited = coll.pending.get(key)
            if awaited is not None and (
                kind == "DELETED" if awaited == GONE else _reached(version, awaited)
            ):
                del coll.pending[key]
                self._lock.notify_all()
        return True


def _lines(resp: Any) -> Iterator[bytes]:
    """Yield the lines of a streamed (chunked) watch answer as they arrive."""
    buffer = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer
