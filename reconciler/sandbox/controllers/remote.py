"""A :class:`~.ports.Port` over HTTP to any API server (kwok-style), with the official client.

One thread per watched kind keeps an informer-style cache: LIST, then WATCH from the
list's resourceVersion (bookmarks on), applying ADDED/MODIFIED/DELETED; any error or
``410 Gone`` starts over with a LIST. A kind the server does not serve (a CRD not yet
installed: 404) is retried every second. Reads come from the caches; writes go to the
server (``fieldManager`` set, ``resourceVersion`` carried, so a stale write is a 409 and
returns None) and what the server answers goes into the cache at once, so the next pass
sees its own writes. Every cache change calls ``on_change`` (the controllers' wake-up).

Callers: :mod:`reconciler.sandbox.simulate`.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes.watch.watch import iter_resp_lines

from reconciler.sandbox.apply import now_rfc3339
from reconciler.sandbox.controllers.resources import WATCHED, Resource

log = logging.getLogger(__name__)
Obj = dict[str, Any]
WATCH_SECONDS = 60


def _send(
    client: k8s_client.ApiClient,
    method: str,
    path: str,
    query: Sequence[tuple[str, Any]],
    headers: dict[str, str],
    body: Any,
    timeout: float,
) -> Any:
    """Send one request over the client's pool (any supported client version, no builders)."""
    cfg = client.configuration
    url = cfg.host.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(list(query))
    all_headers = {**client.default_headers, **headers}
    for auth in cfg.auth_settings().values():
        if auth.get("in") == "header" and auth.get("value"):
            all_headers[str(auth["key"])] = str(auth["value"])
    data = json.dumps(body).encode() if body is not None else None
    return client.rest_client.pool_manager.request(
        method,
        url,
        body=data,
        headers=all_headers,
        preload_content=False,
        timeout=urllib3.Timeout(total=timeout),
    )


class _Cache:
    """The objects of one kind, keyed by (namespace, name), and whether it is served."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.served = False
        self.synced = False  # listed at least once


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name", ""))


def _rv(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class RemotePort:
    """Reads from watch-fed caches, writes over HTTP (see the module docstring)."""

    def __init__(
        self,
        api_client: k8s_client.ApiClient,
        resources: Iterable[Resource] = WATCHED,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.client = api_client
        self.on_change = on_change or (lambda: None)
        self._lock = threading.RLock()
        self._caches: dict[Resource, _Cache] = {r: _Cache() for r in resources}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        timeout: float = 30.0,
        stream: bool = False,
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        resp = _send(self.client, method, path, query, headers, body, timeout)
        if stream and 200 <= resp.status < 300:
            return int(resp.status), resp
        try:
            raw = resp.read()
        finally:
            resp.release_conn()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return int(resp.status), data

    def start(self, timeout: float = 30.0) -> None:
        """Start one informer thread per kind; wait until each has listed once."""
        for res in self._caches:
            t = threading.Thread(
                target=self._inform, args=(res,), name=f"inform-{res.plural}", daemon=True
            )
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(c.synced for c in self._caches.values()):
            time.sleep(0.05)

    def stop(self) -> None:
        """Ask the informers to stop (they end with their current watch)."""
        self._stop.set()

    def _inform(self, res: Resource) -> None:
        cache = self._caches[res]
        while not self._stop.is_set():
            try:
                rv = self._relist(res, cache)
                cache.synced = True
                if rv is None:
                    self._stop.wait(1.0)
                    continue
                self._watch(res, cache, rv)
            except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as exc:
                log.debug("simulator: %s informer: %s", res.plural, exc)
                self._stop.wait(0.5)
            except Exception:
                log.exception("simulator: %s informer failed", res.plural)
                self._stop.wait(1.0)

    def _relist(self, res: Resource, cache: _Cache) -> str | None:
        code, listing = self._request("GET", res.path())
        if code != 200 or not isinstance(listing, dict):
            with self._lock:
                changed = cache.served or bool(cache.objects)
                cache.served = False
                cache.objects = {}
            if changed:
                self.on_change()
            return None
        objects = {}
        for item in listing.get("items") or []:
            item.setdefault("apiVersion", res.api_version)
            item.setdefault("kind", res.kind)
            objects[_key(item)] = item
        with self._lock:
            cache.served = True
            cache.objects = objects
        self.on_change()
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, res: Resource, cache: _Cache, rv: str) -> None:
        query = [
            ("watch", "true"),
            ("resourceVersion", rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(WATCH_SECONDS)),
        ]
        code, resp = self._request(
            "GET", res.path(), query=query, timeout=WATCH_SECONDS + 10, stream=True
        )
        if code != 200:
            return
        try:
            for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
                if self._stop.is_set():
                    return
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    return  # 410 Gone and friends: list again
                if kind == "BOOKMARK":
                    continue
                with self._lock:
                    if kind == "DELETED":
                        cache.objects.pop(_key(obj), None)
                    elif _rv(obj) >= _rv(cache.objects.get(_key(obj))):
                        cache.objects[_key(obj)] = obj
                self.on_change()
        finally:
            resp.release_conn()

    def _remember(self, res: Resource, obj: Obj | None) -> None:
        if obj is None or res not in self._caches:
            return
        with self._lock:
            cache = self._caches[res]
            if _rv(obj) >= _rv(cache.objects.get(_key(obj))):
                cache.objects[_key(obj)] = obj

    # ---------------------------------------------------------------------- Port

    def served(self, res: Resource) -> bool:
        """True if the last LIST of ``res`` succeeded."""
        with self._lock:
            cache = self._caches.get(res)
            return bool(cache and cache.served)

    def list(self, res: Resource, namespace: str | None = None) -> list[Obj]:
        """Return the cached objects of ``res``, sorted by namespace/name."""
        with self._lock:
            cache = self._caches.get(res)
            if cache is None:
                return []
            items = sorted(cache.objects.items())
        return [o for (ns, _), o in items if namespace is None or ns == namespace]

    def scan(self, res: Resource) -> builtins.list[Obj]:
        """Return the cached objects of ``res``, unsorted."""
        with self._lock:
            cache = self._caches.get(res)
            return [] if cache is None else list(cache.objects.values())

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """Return one cached object (from the server if ``res`` is not cached)."""
        with self._lock:
            cache = self._caches.get(res)
            if cache is not None:
                return cache.objects.get((namespace if res.namespaced else "", name))
        code, obj = self._request("GET", res.path(namespace, name))
        return obj if code == 200 and isinstance(obj, dict) else None

    def create(self, res: Resource, obj: Obj, *, manager: str) -> Obj | None:
        """POST ``obj``; None if the server refuses it."""
        ns = (obj.get("metadata") or {}).get("namespace")
        code, out = self._request("POST", res.path(ns), query=[("fieldManager", manager)], body=obj)
        if code != 201 or not isinstance(out, dict):
            log.debug("simulator: create %s %s: %s %s", res.plural, _key(obj), code, out)
            return None
        self._remember(res, out)
        return out

    def write_status(self, res: Resource, live: Obj, new: Obj, *, manager: str) -> Obj | None:
        """PUT the status subresource with ``live``'s resourceVersion; None on 409/404."""
        ns, name = _key(live)
        body = dict(new)
        body["metadata"] = dict(new.get("metadata") or {})
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        code, out = self._request(
            "PUT", res.path(ns, name, "status"), query=[("fieldManager", manager)], body=body
        )
        if code != 200 or not isinstance(out, dict):
            log.debug("simulator: status %s %s/%s: %s", res.plural, ns, name, code)
            return None
        self._remember(res, out)
        return out

    def delete_now(self, res: Resource, obj: Obj) -> None:
        """DELETE with grace period 0 and a uid precondition."""
        ns, name = _key(obj)
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": obj["metadata"].get("uid")},
        }
        self._request("DELETE", res.path(ns, name), body=body)

    def now(self) -> str:
        """The local clock, RFC 3339 (seconds)."""
        return now_rfc3339(time.time())
