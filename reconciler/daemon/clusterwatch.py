"""Watch the cluster for what should wake an environment: a step that ended, a retry request.

Used by :mod:`reconciler.daemon.loop`. Instead of reconciling an environment every two
seconds while its runs are in flight, the daemon watches, in each environment namespace,
the step objects it creates (Jobs, PyTorchJobs, TrainJobs, labelled as ours), and the
Namespaces themselves (where ``reconciler retry`` writes its request as the annotation
``reconciler.ml/retry.<pipeline>``), and queues the namespace's work item when:

- a step object's status changes its conditions or its succeeded/failed counts (a step
  started running, finished or failed; pods coming and going are not events);
- a step object that had not finished is deleted (someone removed a running step);
- a Namespace's retry annotations change.

Each stream lists first (so the objects that exist make no event), then watches from that
list's resourceVersion; a stream that ends is resumed, one that is too old (410) lists
again. The list comes in pages of :data:`LIST_PAGE` objects, each reduced to what the
stream compares (a step's signature, a Namespace's retry requests) before the next page is
read, each item parsed without what no summary reads (``cluster.pages``): at 10,000
pipelines the step objects are 30,000 Jobs, a 151 MiB body decoded into ~700 MiB of
Python objects when read whole, at the daemon's start, while it prepares its
first commit (its peak RSS, and the pools its allocator kept afterwards). Events are
reduced by the same functions (:func:`step_summary`, :func:`namespace_summary`). A kind
the cluster does not serve (404, its operator not installed) is left alone and asked
again every :data:`RETRY_SECONDS`; so is one the daemon may not watch (403).
:meth:`ClusterWatch.healthy` says whether every stream of a namespace is watching: the
daemon keeps its short requeue for a namespace that is not.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from reconciler.cluster import discovery_cache, pages
from reconciler.structs import labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchedKind:
    """A namespaced kind of step object: API group, version and resource (plural)."""

    group: str
    version: str
    plural: str

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def object_path(self, namespace: str, name: str) -> str:
        """Return the API path of one object of this kind (as the live cache keys it)."""
        return discovery_cache.api_path(self.group, self.version, self.plural, namespace, name)


STEP_KINDS = (
    WatchedKind("batch", "v1", "jobs"),
    WatchedKind("kubeflow.org", "v1", "pytorchjobs"),
    WatchedKind("trainer.kubeflow.org", "v1alpha1", "trainjobs"),
)
"""The kinds a step runs as (``render.steps.STEP_KINDS``), as the API serves them."""

RETRY_ANNOTATION_PREFIX = "reconciler.ml/retry."
SELECTOR = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
RETRY_SECONDS = 30.0
"""Seconds before a stream that failed (not served, forbidden, unreachable) is tried again."""
WATCH_SECONDS = 300
"""Seconds a watch request lasts on the server before it is resumed."""
LIST_PAGE = 500
"""Objects per page of a stream's list (a Job decoded whole is ~24 KiB of Python objects:
a page ~12 MiB); 60 requests for 30,000 Jobs, at the start and after a 410 only."""
TERMINAL_CONDITIONS = frozenset({"Complete", "Failed", "Succeeded"})

Summary = tuple[str, Any]
"""What a stream keeps of one listed object: its name, and what its events are compared
with (:func:`step_summary`, :func:`namespace_summary`)."""
OnChange = Callable[[str], None]
"""Called with the work-item key whose namespace changed."""
OnObject = Callable[[str, dict[str, Any]], None]
"""Called with the API path and the object of each change that wakes an environment."""


def step_signature(obj: Mapping[str, Any]) -> str:
    """Return what of a step object's status wakes its environment when it changes.

    Conditions (type and status) and the succeeded/failed counts; not ``active`` or times,
    which change as pods come and go without changing the step's phase.
    """
    status = obj.get("status") or {}
    conditions = sorted(
        (str(c.get("type", "")), str(c.get("status", "")))
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    )
    counts = [status.get("succeeded"), status.get("failed")]
    return json.dumps([conditions, counts], default=str)


def is_terminal(obj: Mapping[str, Any]) -> bool:
    """Return True if a step object has a Complete, Failed or Succeeded condition that holds."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if (
            isinstance(c, Mapping)
            and c.get("type") in TERMINAL_CONDITIONS
            and c.get("status") == "True"
        ):
            return True
    return False


def retry_signature(obj: Mapping[str, Any]) -> str:
    """Return a Namespace's retry requests (its ``reconciler.ml/retry.*`` annotations)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return json.dumps(
        sorted((k, str(v)) for k, v in annotations.items() if k.startswith(RETRY_ANNOTATION_PREFIX))
    )


def name_of(obj: Mapping[str, Any]) -> str:
    """Return ``metadata.name`` ("" if none)."""
    return str((obj.get("metadata") or {}).get("name", ""))


def step_summary(obj: Mapping[str, Any]) -> Summary:
    """Return a listed step object's name and ``(signature, terminal)``."""
    return name_of(obj), (step_signature(obj), is_terminal(obj))


def namespace_summary(obj: Mapping[str, Any]) -> Summary:
    """Return a listed Namespace's name and its retry signature."""
    return name_of(obj), retry_signature(obj)


def _metadata_and_status(raw: Any) -> dict[str, Any]:
    """Parse a listed item keeping what a summary reads: ``metadata`` and ``status``.

    The rest (a Job's pod template, ``managedFields``) is skipped, never built: a page of
    500 Jobs parsed whole is ~12 MiB of Python objects. An item :func:`pages.partial`
    refuses (a field it does not know) is parsed whole.
    """
    return pages.partial(raw, ()) or pages.whole(raw)


class _Stream:
    """List then watch one collection: ``on_list`` gets the list's :data:`Summary` of each
    object (``summary``), ``on_event(event_type, obj)`` each event after it."""

    def __init__(
        self,
        name: str,
        list_fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        on_event: Callable[[str, dict[str, Any]], None],
        on_list: Callable[[list[Summary]], None],
        summary: Callable[[Mapping[str, Any]], Summary],
        stop: threading.Event,
        page: int = LIST_PAGE,
    ) -> None:
        self.name = name
        self.list_fn = list_fn
        self.args = args
        self.kwargs = kwargs
        self.on_event = on_event
        self.on_list = on_list
        self.summary = summary
        self.page = page
        self.stop = stop
        self.watching = threading.Event()
        self._watch: watch.Watch | None = None
        self.thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        """Stop at the next event or timeout (the thread is daemonic)."""
        self.stop.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]

    def _run(self) -> None:
        warned = False
        while not self.stop.is_set():
            try:
                version = self._list()
                self.watching.set()
                warned = False
                self._watch_from(version)
            except ApiException as exc:
                if exc.status == 410:
                    continue  # too old: list again
                if exc.status == 404:  # the kind is not served: none of it can change
                    self.watching.set()
                    if not warned:
                        log.info("not watching %s: the cluster does not serve it", self.name)
                        warned = True
                    self.stop.wait(RETRY_SECONDS * 4)
                    continue
                self.watching.clear()
                if not warned:
                    log.warning("cannot watch %s: %s %s", self.name, exc.status, exc.reason)
                    warned = True
                self.stop.wait(RETRY_SECONDS)
            except Exception as exc:  # the connection dropped, the server went away
                self.watching.clear()
                if self.stop.is_set():
                    return
                if not warned:
                    log.warning("watch of %s failed: %s", self.name, exc)
                    warned = True
                self.stop.wait(min(RETRY_SECONDS, 2.0))

    def _list(self) -> str:
        """List the collection in pages; hand ``on_list`` its summaries, return its version.

        Every page is served from the snapshot the first one was (the ``continue`` token
        carries it), so the pages together are one consistent list and its resourceVersion
        is the one to watch from. A token that expired meanwhile is a 410: the stream lists
        again from the start (:meth:`_run`).
        """
        summaries: list[Summary] = []
        token, version = "", ""
        while True:
            paging: dict[str, Any] = {"limit": self.page}
            if token:
                paging["_continue"] = token
            result = self.list_fn(*self.args, **self.kwargs, **paging, _preload_content=False)
            body = pages.parse_page(result.data, _metadata_and_status)
            summaries.extend(self.summary(obj) for obj in body["items"])
            meta = body.get("metadata") or {}
            version = str(meta.get("resourceVersion", "") or version)
            token = str(meta.get("continue") or "")
            if not token:
                break
        self.on_list(summaries)
        return version

    def _watch_from(self, version: str) -> None:
        while not self.stop.is_set():
            self._watch = watch.Watch()  # type: ignore[no-untyped-call]
            for event in self._events(version):
                if self.stop.is_set():
                    return
                kind = str(event.get("type", ""))
                obj = event.get("raw_object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 0)
                    raise ApiException(status=code or 500, reason=str(obj.get("message", "")))
                if kind == "BOOKMARK":
                    version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                    continue
                version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                self.on_event(kind, obj)

    def _events(self, version: str) -> Iterator[dict[str, Any]]:
        assert self._watch is not None
        yield from self._watch.stream(  # type: ignore[no-untyped-call]
            self.list_fn,
            *self.args,
            **self.kwargs,
            resource_version=version,
            timeout_seconds=WATCH_SECONDS,
            allow_watch_bookmarks=True,
            _request_timeout=WATCH_SECONDS + 30,
        )


def _own_pool(api_client: Any) -> Any:
    """Return a client on the same configuration with a connection pool of its own.

    Each watch holds a connection open; sharing the reconciles' pool would leave them
    opening a new connection per request once the watches fill it.
    """
    from kubernetes import client

    configuration = getattr(api_client, "configuration", None)
    if not isinstance(configuration, client.Configuration):
        return api_client
    return client.ApiClient(configuration=configuration)


class ClusterWatch:
    """Watch the namespaces of the environments a daemon reconciles (see the module doc).

    :meth:`set_namespaces` gives the ``{namespace: key}`` of the current work items (after
    each listing of the targets); streams start for new namespaces and stop for gone ones.
    ``on_change(key)`` is called from the watch threads; ``on_object(path, obj)``, if given,
    just before it with the object whose change wakes the environment (a step that ended, a
    Namespace's retry request), so a live cache can await it. ``list_page``: objects per
    page of each stream's list (:data:`LIST_PAGE`).
    """

    def __init__(
        self,
        api_client: Any,
        on_change: OnChange,
        *,
        kinds: tuple[WatchedKind, ...] = STEP_KINDS,
        on_object: OnObject | None = None,
        list_page: int = LIST_PAGE,
    ) -> None:
        self.api_client = _own_pool(api_client)
        self.on_change = on_change
        self.on_object = on_object
        self.kinds = kinds
        self.list_page = list_page
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        self._streams: dict[str, list[_Stream]] = {}
        self._namespace_stream: _Stream | None = None
        self._retries: dict[str, str] = {}
        self._steps: dict[tuple[str, str, str], tuple[str, bool]] = {}

    def start(self) -> None:
        """Watch the Namespaces (retry requests); namespaces' step objects follow."""
        from kubernetes import client

        core = client.CoreV1Api(self.api_client)
        self._namespace_stream = _Stream(
            "namespaces",
            core.list_namespace,
            (),
            {},
            on_event=self._namespace_event,
            on_list=self._namespace_list,
            summary=namespace_summary,
            stop=threading.Event(),
            page=self.list_page,
        )
        self._namespace_stream.start()

    def stop(self) -> None:
        """Stop every stream."""
        with self._lock:
            streams = [s for group in self._streams.values() for s in group]
            self._streams.clear()
        if self._namespace_stream is not None:
            streams.append(self._namespace_stream)
        for s in streams:
            s.close()

    def set_namespaces(self, keys: Mapping[str, str]) -> None:
        """Watch exactly these namespaces (``{namespace: work-item key}``)."""
        with self._lock:
            self._keys = dict(keys)
            gone = [ns for ns in self._streams if ns not in keys]
            new = [ns for ns in keys if ns not in self._streams]
            closing = [s for ns in gone for s in self._streams.pop(ns)]
            for ns in new:
                self._streams[ns] = [self._step_stream(ns, kind) for kind in self.kinds]
            starting = [s for ns in new for s in self._streams[ns]]
        for s in closing:
            s.close()
        for s in starting:
            s.start()

    def healthy(self, key: str) -> bool:
        """True if every stream of ``key``'s namespace (and the Namespaces') is watching.

        A kind the cluster does not serve counts as watching once it said so (404).
        """
        with self._lock:
            names = [ns for ns, k in self._keys.items() if k == key]
            streams = [s for ns in names for s in self._streams.get(ns, [])]
        if not names or self._namespace_stream is None:
            return False
        return self._namespace_stream.watching.is_set() and all(
            s.watching.is_set() for s in streams
        )

    # -- streams --------------------------------------------------------------------

    def _step_stream(self, namespace: str, kind: WatchedKind) -> _Stream:
        from kubernetes import client

        if kind.group == "batch":
            fn: Callable[..., Any] = client.BatchV1Api(self.api_client).list_namespaced_job
            args: tuple[Any, ...] = (namespace,)
        else:
            fn = client.CustomObjectsApi(self.api_client).list_namespaced_custom_object
            args = (kind.group, kind.version, namespace, kind.plural)
        stream = _Stream(
            f"{kind} in {namespace}",
            fn,
            args,
            {"label_selector": SELECTOR},
            on_event=lambda t, o: self._step_event(namespace, kind, t, o),
            on_list=lambda listed: self._step_list(namespace, kind, listed),
            summary=step_summary,
            stop=threading.Event(),
            page=self.list_page,
        )
        return stream

    def _step_list(self, namespace: str, kind: WatchedKind, listed: list[Summary]) -> None:
        changed = False
        with self._lock:
            seen = {(namespace, str(kind), name): state for name, state in listed}
            old = {k: v for k, v in self._steps.items() if k[:2] == (namespace, str(kind))}
            for k in old:
                self._steps.pop(k)
            self._steps.update(seen)
            # A relist after a gap: anything that moved meanwhile is a change.
            changed = bool(old) and any(
                seen.get(k, (None, True))[0] != v[0] and not (k not in seen and v[1])
                for k, v in old.items()
            )
        if changed:
            self._wake(namespace, f"{kind} changed while the watch was down")

    def _step_event(
        self, namespace: str, kind: WatchedKind, kind_of_event: str, obj: dict[str, Any]
    ) -> None:
        name, (signature, terminal) = step_summary(obj)
        ident = (namespace, str(kind), name)
        with self._lock:
            old = self._steps.get(ident)
            if kind_of_event == "DELETED":
                self._steps.pop(ident, None)
                wake = old is None or not old[1]  # a finished step's removal changes nothing
            else:
                self._steps[ident] = (signature, terminal)
                wake = kind_of_event == "MODIFIED" and (old is None or old[0] != signature)
        if wake:
            self._tell(kind.object_path(namespace, name), obj)
            self._wake(namespace, f"{kind}/{name} {kind_of_event.lower()}")

    def _namespace_list(self, listed: list[Summary]) -> None:
        fresh: dict[str, str] = {name: str(signature) for name, signature in listed}
        with self._lock:
            old, self._retries = self._retries, fresh
        for ns, sig in fresh.items():
            if ns in old and old[ns] != sig:
                self._wake(ns, "retry requested")

    def _namespace_event(self, kind_of_event: str, obj: dict[str, Any]) -> None:
        name, signature = namespace_summary(obj)
        with self._lock:
            old = self._retries.get(name)
            if kind_of_event == "DELETED":
                self._retries.pop(name, None)
            else:
                self._retries[name] = signature
        if kind_of_event == "MODIFIED" and old is not None and old != signature:
            self._tell(f"/api/v1/namespaces/{name}", obj)
            self._wake(name, "retry requested")

    def _tell(self, path: str, obj: dict[str, Any]) -> None:
        """Tell ``on_object`` of an object about to wake its environment."""
        if self.on_object is None:
            return
        try:
            self.on_object(path, obj)
        except Exception:
            log.exception("reporting %s before a wake-up failed", path)

    def _wake(self, namespace: str, why: str) -> None:
        with self._lock:
            key = self._keys.get(namespace)
        if key is None:
            return
        log.debug("cluster change wakes %s: %s", key, why, extra={"namespace": namespace})
        try:
            self.on_change(key)
        except Exception:
            log.exception("queueing %s after a cluster change failed", key)
