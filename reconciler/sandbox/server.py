"""The HTTP layer: routing of Kubernetes API paths onto :class:`~.handlers.Api`.

A ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (one thread per
connection; ``TCP_NODELAY`` and one write per response keep small requests fast).
Paths served:

- ``/version``, ``/healthz``, ``/livez``, ``/readyz`` (and their ``/<check>`` forms),
  ``/metrics``;
- discovery ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>``, ``/apis/<g>/<v>`` and
  ``/openapi/v3[/...]`` (:mod:`.discovery_documents`);
- resources: ``/api/v1/...`` and ``/apis/<g>/<v>/...`` with
  ``[namespaces/<ns>/]<plural>[/<name>[/status]]`` and the legacy ``watch/`` prefix.
  GET is get, list or watch (``?watch=true``), POST create, PUT update, PATCH patch or
  apply (by Content-Type), DELETE delete or deletecollection.

Responses are JSON (``Accept: ...;as=Table`` gets a server-side printed Table,
``as=PartialObjectMetadata[List]`` metadata only); an Accept that allows only protobuf
or CBOR is a 406. Errors are ``metav1.Status`` bodies. Warnings go out as
``Warning: 299 - "..."`` headers. Every request is counted in :mod:`.request_metrics`.

Callers: :class:`reconciler.sandbox.Sandbox`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.sandbox import discovery_documents, errors, media_types, tables
from reconciler.sandbox.encoding import json_bytes
from reconciler.sandbox.handlers import Api, Params, Result
from reconciler.sandbox.kinds import ResourceType
from reconciler.sandbox.request_metrics import Metrics
from reconciler.sandbox.storage import Event

log = logging.getLogger(__name__)
Obj = dict[str, Any]

HEALTH_CHECKS = ("ping", "log", "etcd", "poststarthook/start-apiextensions-controllers")


class SandboxHTTPServer(ThreadingHTTPServer):
    """The listening server; holds the API, metrics and a stop flag for watches."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: Api, metrics: Metrics) -> None:
        super().__init__(address, Handler)
        self.api = api
        self.metrics = metrics
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection so :meth:`close_connections` can end it."""
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget a finished connection."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open client connection (idle keep-alive ones included)."""
        with self._open_lock:
            conns = list(self._open)
            self._open.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"


MAX_BODY_BYTES = 3 * 1024 * 1024
"""The largest request body served, as kube-apiserver's ``MaxRequestBodyBytes``."""
_DRAIN_BYTES = 4 * MAX_BODY_BYTES
"""A refused body up to this size is read (and dropped) so the client reads the 413."""


def _too_large() -> errors.ApiError:
    return errors.ApiError(
        413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY_BYTES}"
    )


def _body_of(obj: Any) -> bytes:
    """Encode a response body as kube-apiserver's JSON serializer does (newline-ended)."""
    return json_bytes(obj) + b"\n"


class _Route:
    __slots__ = ("collection", "name", "namespace", "rt", "sub", "watch")

    def __init__(self) -> None:
        self.rt: ResourceType | None = None
        self.namespace = ""
        self.name = ""
        self.sub = ""
        self.collection = False
        self.watch = False


class Handler(BaseHTTPRequestHandler):
    """One connection; each request is dispatched by :meth:`dispatch`."""

    protocol_version = "HTTP/1.1"
    timeout = 300  # idle keep-alive connections are closed after 5 minutes
    server_version = "kube-apiserver-sandbox"
    sys_version = ""
    server: SandboxHTTPServer
    _labels: dict[str, str] | None = None
    """The request's metric labels until it is counted (see :meth:`_count`)."""
    _dry_run = False
    _version_warnings: tuple[str, ...] = ()
    """The current request's deprecated-version warning (a CRD version's)."""

    def setup(self) -> None:
        """Disable Nagle's algorithm: requests and answers are small and many."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Log at debug level instead of printing to stderr."""
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        """Serve GET."""
        self.dispatch("GET")

    def do_POST(self) -> None:
        """Serve POST."""
        self.dispatch("POST")

    def do_PUT(self) -> None:
        """Serve PUT."""
        self.dispatch("PUT")

    def do_PATCH(self) -> None:
        """Serve PATCH."""
        self.dispatch("PATCH")

    def do_DELETE(self) -> None:
        """Serve DELETE."""
        self.dispatch("DELETE")

    # ------------------------------------------------------------------ plumbing

    def _body(self) -> bytes:
        """Read the request's body: at most :data:`MAX_BODY_BYTES`, else 413 as
        kube-apiserver answers (what is over is read and dropped up to
        :data:`_DRAIN_BYTES`, then the connection is closed), never held whole."""
        length = self.headers.get("Content-Length")
        if length:
            size = int(length)
            if size > MAX_BODY_BYTES:
                self._drop(size)
                raise _too_large()
            return self.rfile.read(size)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    if total > MAX_BODY_BYTES:
                        raise _too_large()
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_BYTES:
                    parts.clear()
                    if total > _DRAIN_BYTES:
                        self.close_connection = True
                        raise _too_large()
                    self._drop(size)
                else:
                    parts.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _drop(self, size: int) -> None:
        """Read and drop ``size`` bytes of a refused body (up to :data:`_DRAIN_BYTES`; a
        larger one closes the connection once answered)."""
        if size > _DRAIN_BYTES:
            self.close_connection = True
            return
        while size > 0:
            got = self.rfile.read(min(size, 1 << 16))
            if not got:
                return
            size -= len(got)

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str = "application/json",
        warnings: list[str] | None = None,
        extra: list[str] | None = None,
    ) -> None:
        reason = self.responses.get(code, ("",))[0]
        head = [
            f"HTTP/1.1 {code} {reason}",
            "Cache-Control: no-cache, private",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(extra or []),
        ]
        head += self._warning_lines(warnings).splitlines()
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        self._count(code)  # before the client can read the answer (and then ask /metrics)
        self.wfile.write(data)
        self.wfile.flush()

    def _warning_lines(self, warnings: list[str] | None = None) -> str:
        """``Warning`` header lines (CRLF-ended): the deprecated version's, then ``warnings``."""
        out = ""
        for w in [*self._version_warnings, *(warnings or [])]:
            text = w.replace('"', '\\"').replace("\n", " ")
            out += f'Warning: 299 - "{text}"\r\n'
        return out

    def _send_json(self, code: int, obj: Any, warnings: list[str] | None = None) -> None:
        self._send(code, _body_of(obj), warnings=warnings)

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, method: str) -> None:
        """Route one request, answer it, and count it."""
        url = urlsplit(self.path)
        raw_query = parse_qs(url.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in raw_query.items()}
        if "dryRun" in raw_query:
            query["dryRun"] = "All" if "All" in raw_query["dryRun"] else raw_query["dryRun"][-1]
        params = Params(query, self.headers.get("User-Agent", ""))
        path = url.path.rstrip("/") or "/"
        self._version_warnings = ()
        labels = {
            "verb": method,
            "group": "",
            "version": "",
            "resource": "",
            "subresource": "",
            "scope": "",
        }
        self._labels = labels
        self._dry_run = params.dry_run
        code = 500
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
            accept = self.headers.get("Accept", "") or "application/json"
            if not media_types.accepts_json(accept) and path != "/openapi/v2":
                raise errors.not_acceptable(accept)
            if path.startswith("/api/") or path.startswith("/apis/") or path in ("/api", "/apis"):
                code = self._api(method, path, params, body, accept, labels)
            else:
                labels["subresource"] = "/" + path.strip("/").split("/")[0] if path != "/" else "/"
                code = self._non_resource(method, path)
        except errors.ApiError as exc:
            code = exc.code
            if exc.text is not None:
                self._send(exc.code, exc.text.encode(), "text/plain; charset=utf-8")
            else:
                self._send_json(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            code = 499
            self.close_connection = True
        except Exception as exc:  # a bug: answer as kube-apiserver does, keep serving
            log.exception("sandbox: internal error on %s %s", method, self.path)
            err = errors.internal(f"{type(exc).__name__}: {exc}")
            code = 500
            try:
                self._send_json(500, err.status())
            except OSError:
                self.close_connection = True
        self._count(code)

    def _count(self, code: int) -> None:
        """Count the request once, with the labels routing gave it.

        Called when its answer is sent, before the body is written, so a client that reads
        ``/metrics`` right after its answer sees it; a request that never sent a whole
        answer (a watch stream, a broken pipe) is counted when dispatch ends.
        """
        labels, dry_run = self._labels, self._dry_run
        if labels is None:
            return
        self._labels = None
        self.server.metrics.count(
            verb=labels["verb"],
            group=labels["group"],
            version=labels["version"],
            resource=labels["resource"],
            subresource=labels["subresource"],
            scope=labels["scope"],
            code=code,
            dry_run=dry_run,
        )

    def _non_resource(self, method: str, path: str) -> int:
        if method != "GET":
            raise errors.method_not_supported(method.lower(), path, "")
        head = path.strip("/").split("/")
        if path == "/version":
            self._send_json(200, discovery_documents.version_info())
            return 200
        if head[0] in ("healthz", "livez", "readyz"):
            if len(head) > 1 and "/".join(head[1:]) not in HEALTH_CHECKS:
                raise errors.page_not_found()
            if "verbose" in self.path:
                checks = "".join(f"[+]{c} ok\n" for c in HEALTH_CHECKS)
                text = f"{checks}{head[0]} check passed\n"
            else:
                text = "ok"
            self._send(200, text.encode(), "text/plain; charset=utf-8")
            return 200
        if path == "/metrics":
            self._send(
                200,
                self.server.metrics.render().encode(),
                "text/plain; version=0.0.4; charset=utf-8",
            )
            return 200
        if path == "/openapi/v2":
            accept = self.headers.get("Accept", "")
            if "protobuf" in accept:
                self._send(
                    200,
                    discovery_documents.openapi_v2_protobuf(),
                    discovery_documents.OPENAPI_V2_PROTOBUF,
                )
            else:
                self._send_json(200, discovery_documents.openapi_v2())
            return 200
        if path == "/openapi/v3":
            self._send_json(200, discovery_documents.openapi_index(self.server.api.registry))
            return 200
        if path.startswith("/openapi/v3/"):
            doc = discovery_documents.openapi_document(
                self.server.api.registry, path[len("/openapi/v3/") :]
            )
            if doc is None:
                raise errors.not_found_path()
            self._send_json(200, doc)
            return 200
        raise errors.page_not_found()

    def _api(
        self,
        method: str,
        path: str,
        params: Params,
        body: bytes,
        accept: str,
        labels: dict[str, str],
    ) -> int:
        api = self.server.api
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            if len(parts) == 1:
                labels["subresource"] = "/api"
                if media_types.wants_aggregated(accept):
                    return self._send_aggregated(
                        discovery_documents.aggregated(api.registry, core=True)
                    )
                self._send_json(200, discovery_documents.api_versions(self.server.address))
                return 200
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise errors.not_found_path()
        else:
            if len(parts) == 1:
                labels["subresource"] = "/apis"
                if media_types.wants_aggregated(accept):
                    return self._send_aggregated(
                        discovery_documents.aggregated(api.registry, core=False)
                    )
                self._send_json(200, discovery_documents.api_group_list(api.registry))
                return 200
            if parts[1] not in api.registry.groups():
                raise errors.page_not_found()  # no handler for the group at all
            if len(parts) == 2:
                labels["subresource"] = "/apis"
                doc = discovery_documents.api_group(api.registry, parts[1])
                if doc is None:
                    raise errors.not_found_path()
                self._send_json(200, doc)
                return 200
            group, version, rest = parts[1], parts[2], parts[3:]
        labels["group"], labels["version"] = group, version
        if not rest:
            labels["subresource"] = "/apis" if group else "/api"
            doc = discovery_documents.api_resource_list(api.registry, group, version)
            if doc is None:
                raise errors.not_found_path()
            self._send_json(200, doc)
            return 200
        route = self._route(group, version, rest)
        rt = route.rt
        assert rt is not None
        if rt.deprecation_warning:  # every answer of a deprecated CRD version carries it
            self._version_warnings = (rt.deprecation_warning,)
        labels["resource"] = rt.plural
        labels["subresource"] = route.sub
        # apiserver's CleanScope: a create names one object too (the name is in its body).
        labels["scope"] = (
            "resource"
            if route.name or method == "POST"
            else ("namespace" if route.namespace else "cluster")
        )
        watch = route.watch or params.get("watch") in ("true", "1")
        ns = route.namespace
        if method == "GET":
            if route.collection:
                if watch:
                    labels["verb"] = "WATCH"
                    return self._watch(rt, ns or None, params, accept)
                labels["verb"] = "LIST"
                listing = api.list(rt, ns or None, params)
                self._answer(rt, 200, listing, accept, params, is_list=True)
                return 200
            if watch:
                raise errors.not_found_path()
            obj = api.get(rt, ns, route.name)
            if route.sub == "scale":
                obj = api.scale_of(rt, obj)
            self._answer(rt, 200, obj, accept, params)
            return 200
        if method == "POST":
            if not route.collection:
                raise errors.method_not_supported("create", rt.plural, rt.group)
            ctype = self.headers.get("Content-Type", "application/json")
            result = api.create(rt, ns, media_types.decode(body, ctype), params)
            return self._result(rt, result, accept, params)
        if method == "PUT":
            if route.collection:
                raise errors.method_not_supported("update", rt.plural, rt.group)
            ctype = self.headers.get("Content-Type", "application/json")
            obj_in = media_types.decode(body, ctype)
            if route.sub == "finalize":
                result = self._finalize(rt, route.name, obj_in, params)
            elif route.sub == "scale":
                result = api.update_scale(rt, ns, route.name, obj_in, params)
            else:
                result = api.update(rt, ns, route.name, obj_in, route.sub, params)
            return self._result(rt, result, accept, params)
        if method == "PATCH":
            if route.collection:
                raise errors.method_not_supported("patch", rt.plural, rt.group)
            ctype = self.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip() == "application/apply-patch+yaml":
                labels["verb"] = "APPLY"
            if route.sub == "scale":
                result = api.patch_scale(rt, ns, route.name, ctype, body, params)
            else:
                result = api.patch(rt, ns, route.name, ctype, body, route.sub, params)
            return self._result(rt, result, accept, params)
        if method == "DELETE":
            options = media_types.decode(body, "application/json") if body.strip() else None
            if options is not None and not isinstance(options, dict):
                raise errors.bad_request("DeleteOptions must be a JSON object")
            if route.collection:
                labels["verb"] = "DELETECOLLECTION"
                result = api.delete_collection(rt, ns or None, options, params)
                self._answer(
                    rt,
                    result.code,
                    result.body,
                    accept,
                    params,
                    is_list=True,
                    warnings=result.warnings,
                )
                return result.code
            if route.sub:
                raise errors.method_not_supported("delete", f"{rt.plural}/{route.sub}", rt.group)
            result = api.delete(rt, ns, route.name, options, params)
            return self._result(rt, result, accept, params)
        raise errors.method_not_supported(method.lower(), rt.plural, rt.group)

    def _send_aggregated(self, doc: Any) -> int:
        """Answer aggregated discovery: its media type, an ETag of the body, Vary: Accept."""
        body = _body_of(doc)
        etag = hashlib.sha512(body).hexdigest().upper()
        self._send(
            200,
            body,
            discovery_documents.AGGREGATED,
            extra=[f'Etag: "{etag}"', "Vary: Accept"],
        )
        return 200

    def _finalize(self, rt: ResourceType, name: str, body: Any, params: Params) -> Result:
        if rt.kind != "Namespace" or not isinstance(body, dict):
            raise errors.not_found_path()
        api = self.server.api
        with api.store.lock:
            live = api.get(rt, "", name)
            new = json.loads(json.dumps(live))
            new.setdefault("spec", {})["finalizers"] = (body.get("spec") or {}).get(
                "finalizers"
            ) or []
            if not new["spec"]["finalizers"]:
                new["spec"].pop("finalizers")
            out = api.system_write(rt, live, new, manager=params.field_manager(required=False))
        return Result(200, out or live)

    def _route(self, group: str, version: str, rest: list[str]) -> _Route:
        api = self.server.api
        r = _Route()
        if rest and rest[0] == "watch":
            r.watch = True
            rest = rest[1:]
        if len(rest) >= 3 and rest[0] == "namespaces":
            rt = api.registry.get(group, version, rest[2])
            if rt is not None and rt.namespaced:
                if len(rest) > 5:
                    raise errors.not_found_path()
                r.rt, r.namespace = rt, rest[1]
                r.name = rest[3] if len(rest) > 3 else ""
                r.sub = rest[4] if len(rest) > 4 else ""
                r.collection = not r.name
                self._check_sub(r)
                return r
        if not rest or len(rest) > 3:
            raise errors.not_found_path()
        rt = api.registry.get(group, version, rest[0])
        if rt is None:
            raise errors.not_found_path()
        r.rt = rt
        r.name = rest[1] if len(rest) > 1 else ""
        r.sub = rest[2] if len(rest) > 2 else ""
        r.collection = not r.name
        if rt.namespaced and r.name:
            raise errors.not_found_path()
        self._check_sub(r)
        return r

    @staticmethod
    def _check_sub(r: _Route) -> None:
        assert r.rt is not None
        if not r.sub:
            return
        if r.sub == "status" and r.rt.status:
            return
        if r.sub == "finalize" and r.rt.kind == "Namespace" and r.rt.group == "":
            return
        if r.sub == "scale" and r.rt.scale:
            return
        raise errors.not_found_path()

    def _result(self, rt: ResourceType, result: Result, accept: str, params: Params) -> int:
        self._answer(rt, result.code, result.body, accept, params, warnings=result.warnings)
        return result.code

    def _answer(
        self,
        rt: ResourceType,
        code: int,
        obj: Obj,
        accept: str,
        params: Params,
        *,
        is_list: bool = False,
        warnings: list[str] | None = None,
    ) -> None:
        form = media_types.accepted_form(accept)
        include = params.get("includeObject") or "Metadata"
        obj = _as_served(rt, obj, is_list=is_list)
        if form == "Table":
            items = obj["items"] if is_list else [obj]
            meta = (
                obj["metadata"]
                if is_list
                else {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")}
            )
            obj = tables.to_table(rt, items, meta, include, self.server.api.clock())
        elif form == "PartialObjectMetadata":
            obj = media_types.partial(obj)
        elif form == "" and is_list:
            self._send(code, self.server.api.encode_list(rt, obj) + b"\n", warnings=warnings)
            return
        elif form == "PartialObjectMetadataList" and is_list:
            obj = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
                "items": [media_types.partial(o) for o in obj["items"]],
            }
        self._send_json(code, obj, warnings)

    # --------------------------------------------------------------------- watch

    def _watch(self, rt: ResourceType, ns: str | None, params: Params, accept: str) -> int:
        api = self.server.api
        try:
            w, first, initial_end = api.open_watch(rt, ns, params)
        except errors.ApiError as exc:
            if exc.code != 410:
                raise
            return self._watch_error(exc)
        timeout_s = params.get("timeoutSeconds")
        deadline = time.monotonic() + (float(timeout_s) if timeout_s else 1800.0)
        form = media_types.accepted_form(accept)
        include = params.get("includeObject") or "Metadata"
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        next_bookmark = time.monotonic() + BOOKMARK_EVERY
        try:
            head = (
                "HTTP/1.1 200 OK\r\nCache-Control: no-cache, private\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                + self._warning_lines()
                + "\r\n"
            )
            self.wfile.write(head.encode())
            self.wfile.flush()
            for ev in first:
                self._chunk(self._event(rt, ev, form, include))
            if initial_end and bookmarks:
                self._chunk(
                    json_bytes(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": rt.kind,
                                "apiVersion": rt.api_version,
                                "metadata": {
                                    "resourceVersion": str(api.store.current_rv()),
                                    "annotations": {"k8s.io/initial-events-end": "true"},
                                },
                            },
                        }
                    )
                    + b"\n"
                )
            while not self.server.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = w.queue.get(timeout=min(left, 0.5))
                except queue.Empty:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + BOOKMARK_EVERY
                        with api.store.lock:
                            idle = w.queue.empty()
                            rv = api.store.current_rv()
                        if idle:
                            self._chunk(_bookmark(rt, rv))
                    continue
                if item is None:
                    break
                self._chunk(self._event(rt, item, form, include))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        finally:
            api.store.unwatch(w)
        return 200

    def _watch_error(self, exc: errors.ApiError) -> int:
        """Answer a watch from a resourceVersion older than the history kept as the
        watch cache does: 200, one ERROR event carrying the 410 Status, the end."""
        head = (
            "HTTP/1.1 200 OK\r\nCache-Control: no-cache, private\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            self.wfile.write(head.encode())
            self._chunk(json_bytes({"type": "ERROR", "object": exc.status()}) + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        return 200

    def _event(self, rt: ResourceType, ev: Event, form: str, include: str) -> bytes:
        obj: Obj = _as_served(rt, ev.obj)
        if form == "Table":
            obj = tables.to_table(
                rt, [obj], {"resourceVersion": str(ev.rv)}, include, self.server.api.clock()
            )
        elif form in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            obj = media_types.partial(obj)
        return json_bytes({"type": ev.type, "object": obj}) + b"\n"

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


BOOKMARK_EVERY = 5.0


def _as_served(rt: ResourceType, obj: Obj, *, is_list: bool = False) -> Obj:
    """A custom resource in the version it was asked for, as a CRD without a conversion
    webhook (strategy ``None``) serves it: only ``apiVersion`` changes. Built-in kinds,
    and anything else (a Status), are left alone."""
    if rt.builtin or not isinstance(obj, dict):
        return obj
    if is_list:
        items = obj.get("items")
        if not isinstance(items, list):
            return obj
        return {**obj, "items": [_as_served(rt, i) for i in items]}
    if obj.get("kind") != rt.kind or obj.get("apiVersion") in (None, rt.api_version):
        return obj
    return {**obj, "apiVersion": rt.api_version}


def _bookmark(rt: ResourceType, rv: int) -> bytes:
    obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": str(rv)}}
    return json_bytes({"type": "BOOKMARK", "object": obj}) + b"\n"
