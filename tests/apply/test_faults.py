"""Faults on single objects: retries shown in the entry, the rest of the set still syncs.

A small HTTP proxy in front of the sandbox answers chosen requests with an error (a 503
that goes away, a 500 that stays, a 403, a 409) and forwards everything else.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes import client as k8s_client

from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import sync_objects
from reconciler.cluster import api
from reconciler.structs.changesets import Action
from tests.apply import objects

ENV, NS = "dev", "ml-dev"
APPLYSET = applyset_for(ENV, NS)
FAST = api.RetryPolicy(attempts=3, initial=0.01, maximum=0.05, timeout=10)


@dataclass
class Fault:
    """Answer ``times`` requests (-1: all) of ``method`` on paths containing ``path``."""

    method: str
    path: str
    status: int
    reason: str
    message: str
    times: int = -1


@dataclass
class Proxy:
    faults: list[Fault] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def proxy(sandbox: Any) -> Iterator[Proxy]:
    state = Proxy()
    target = urlsplit(sandbox.url)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            for fault in state.faults:
                if fault.method == self.command and fault.path in self.path and fault.times:
                    fault.times -= 1
                    self._status(fault)
                    return
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        def _status(self, fault: Fault) -> None:
            import json

            raw = json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "code": fault.status,
                    "reason": fault.reason,
                    "message": fault.message,
                }
            ).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()


def manager_via(proxy: Proxy) -> ResourceManager:
    config = k8s_client.Configuration()
    config.host = proxy.url
    config.retries = api.transport_retries()
    return ResourceManager(k8s_client.ApiClient(config), retry=FAST)


def entries(result: Any) -> dict[str, Any]:
    return {str(e.subject): e for e in result.changeset.entries}


def test_transient_errors_are_retried_and_shown(proxy: Proxy) -> None:
    proxy.faults = [
        Fault("PATCH", "/configmaps/settings", 503, "ServiceUnavailable", "busy", times=2),
        Fault("GET", "/deployments", 429, "TooManyRequests", "slow down", times=1),
    ]
    result = sync_objects(
        manager_via(proxy), applyset=APPLYSET, desired=objects.environment(ENV, NS, ["a"])
    )
    got = entries(result)
    assert result.ok
    assert str(got["ConfigMap/ml-dev/settings"]) == (
        "ConfigMap/ml-dev/settings created: retried 2 times"
    )


def test_one_object_failing_for_good_does_not_stop_the_others(proxy: Proxy) -> None:
    proxy.faults = [
        Fault("PATCH", "/services/a", 500, "InternalError", "etcd timed out"),
        Fault("PATCH", "/resourcequotas/", 403, "Forbidden", "quota writes are forbidden"),
        Fault("PATCH", "/deployments/a", 409, "Conflict", "Operation cannot be fulfilled"),
    ]
    result = sync_objects(
        manager_via(proxy), applyset=APPLYSET, desired=objects.environment(ENV, NS, ["a"])
    )
    got = entries(result)
    assert str(got["Service/ml-dev/a"]) == (
        "Service/ml-dev/a failed: HTTP 500: etcd timed out (retried 2 times)"
    )
    assert str(got["ResourceQuota/ml-dev/gpu-quota"]) == (
        "ResourceQuota/ml-dev/gpu-quota failed: forbidden: quota writes are forbidden"
    )
    assert got["Deployment/ml-dev/a"].action is Action.CONFLICT
    assert got["Job/ml-dev/a-r1-train"].action is Action.CREATED
    assert result.changeset.failed


def test_unknown_kind_is_reported_with_its_group(sandbox: Any) -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": NS},
    }
    manager = ResourceManager(sandbox.api_client(), retry=FAST)
    result = sync_objects(manager, applyset=APPLYSET, desired=[objects.namespace(NS, ENV), widget])
    got = entries(result)
    assert got["Widget/ml-dev/w"].action is Action.FAILED
    assert result.missing_operators == [
        "Widget (example.com/v1) is not served by the cluster: is the operator that provides "
        "the example.com API (its CRDs) installed?"
    ]
