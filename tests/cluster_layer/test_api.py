"""API calls: retries with backoff on 429/5xx, errors carrying the server's Status.

Uses a real local HTTP server (http.server in a thread) that answers from a script.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client as k8s_client

from reconciler.cluster import api

FAST = api.RetryPolicy(attempts=4, initial=0.01, maximum=0.05, timeout=5)


class Script:
    """Responses to serve in order: (status, body dict, headers)."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, dict, dict[str, str]]] = []
        self.requests: list[tuple[str, str, str]] = []


@pytest.fixture
def server() -> Iterator[tuple[Script, k8s_client.ApiClient]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            script.requests.append((self.command, self.path, self.headers.get("Content-Type", "")))
            status, data, headers = script.responses.pop(0)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)
            del body

        do_GET = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    config = k8s_client.Configuration()
    config.host = f"http://127.0.0.1:{httpd.server_address[1]}"
    config.retries = api.transport_retries()
    yield script, k8s_client.ApiClient(config)
    httpd.shutdown()


def status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def test_retries_5xx_then_succeeds(server: tuple[Script, k8s_client.ApiClient]) -> None:
    script, client = server
    script.responses = [
        (503, status(503, "ServiceUnavailable", "etcd is busy"), {}),
        (500, status(500, "InternalError", "oops"), {}),
        (200, {"kind": "ConfigMap"}, {}),
    ]
    stats = api.RequestStats()
    resp = api.call(client, "GET", "/api/v1/x", policy=FAST, stats=stats)
    assert (resp.data, resp.retries, stats.total, stats.retries) == ({"kind": "ConfigMap"}, 2, 3, 2)


def test_gives_up_after_the_last_attempt(server: tuple[Script, k8s_client.ApiClient]) -> None:
    script, client = server
    script.responses = [
        (429, status(429, "TooManyRequests", "slow down"), {"Retry-After": "0"})
    ] * 4
    with pytest.raises(api.ApiError, match=r"slow down \(retried 3 times\)") as info:
        api.call(client, "GET", "/api/v1/x", policy=FAST)
    assert (info.value.status, info.value.reason, info.value.retries) == (429, "TooManyRequests", 3)


def test_client_errors_are_not_retried(server: tuple[Script, k8s_client.ApiClient]) -> None:
    script, client = server
    script.responses = [(422, status(422, "Invalid", "spec.template: field is immutable"), {})]
    with pytest.raises(api.ApiError, match="field is immutable") as info:
        api.call(client, "PATCH", "/apis/batch/v1/x", body={"a": 1}, policy=FAST)
    assert (info.value.status, len(script.requests)) == (422, 1)


def test_apply_patch_is_sent_as_json_with_its_content_type(
    server: tuple[Script, k8s_client.ApiClient],
) -> None:
    script, client = server
    script.responses = [(200, {}, {})]
    api.call(
        client,
        "PATCH",
        "/api/v1/namespaces/a/configmaps/b",
        query=[("fieldManager", "reconciler"), ("force", "false")],
        body={"kind": "ConfigMap"},
        content_type="application/apply-patch+yaml",
    )
    assert script.requests == [
        (
            "PATCH",
            "/api/v1/namespaces/a/configmaps/b?fieldManager=reconciler&force=false",
            "application/apply-patch+yaml",
        )
    ]


def test_unreachable_server_is_an_api_error() -> None:
    config = k8s_client.Configuration()
    config.host = "http://127.0.0.1:9"
    config.retries = api.transport_retries()
    client = k8s_client.ApiClient(config)
    api.set_origin(client, "kubeconfig /k, context c")
    with pytest.raises(api.ApiError, match="cannot reach") as info:
        api.call(client, "GET", "/api", policy=FAST)
    # refused: nothing listens there, so no backoff (kubectl says so at once)
    assert info.value.status == 0 and info.value.retries == 0
    message = str(info.value)
    assert (
        "the API server http://127.0.0.1:9 (connection refused; kubeconfig /k, context c)"
        in message
    )
    assert "retried" not in message
    assert "kubectl cluster-info" in message
    assert (
        "urllib3" not in message
        and "HTTPConnection" not in message
        and "Max retries" not in message
    )


def test_a_dropped_connection_is_retried() -> None:
    """A server that accepts and closes at once (a reset, a restart) is tried again."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    config = k8s_client.Configuration()
    config.host = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config.retries = api.transport_retries()
    try:
        with pytest.raises(api.ApiError, match=r"cannot reach .*\(retried 3 times\)") as info:
            api.call(k8s_client.ApiClient(config), "GET", "/api", policy=FAST)
    finally:
        listener.close()
    assert info.value.retries == 3 and len(accepted) >= 4


def test_a_large_body_is_decoded_with_the_collector_back_on_afterwards() -> None:
    import gc

    items = [{"metadata": {"name": f"job-{i}", "labels": {"a": "b"}}} for i in range(20_000)]
    raw = json.dumps({"items": items}).encode()
    assert len(raw) >= api.LARGE_BODY
    assert api.decode(raw) == {"items": items}
    assert gc.isenabled()
    gc.disable()  # the program's own choice is kept
    try:
        assert api.decode(raw)["items"][-1]["metadata"]["name"] == "job-19999"
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_one_shot_command_freezes_what_it_holds_after_a_large_body_and_gives_it_back() -> None:
    import gc

    items = [{"metadata": {"name": f"job-{i}", "labels": {"a": "b"}}} for i in range(20_000)]
    raw = json.dumps({"items": items}).encode()
    assert gc.get_freeze_count() == 0
    api.decode(raw)
    assert gc.get_freeze_count() == 0  # outside the block (the daemon): nothing frozen
    with api.decoded_bodies_frozen():
        api.decode(b'{"items": []}')
        assert gc.get_freeze_count() == 0  # a small body: nothing frozen
        decoded = api.decode(raw)
        frozen = gc.get_freeze_count()
        assert frozen > len(items)  # the decoded items among them
        assert gc.isenabled()
        assert decoded["items"][-1]["metadata"]["name"] == "job-19999"
    assert gc.get_freeze_count() == 0  # given back to the collector


def test_frozen_blocks_nest_and_the_last_to_end_gives_the_heap_back() -> None:
    """A daemon's full pass inside a one-shot command's block (or two threads' blocks
    overlapping) must not give the heap back while the outer block still holds it."""
    import gc
    import threading

    raw = json.dumps({"items": [{"metadata": {"name": f"o-{i}"}} for i in range(20_000)]}).encode()
    assert gc.get_freeze_count() == 0
    with api.decoded_bodies_frozen():  # the command
        with api.decoded_bodies_frozen():  # a full pass within it
            held = api.decode(raw)
            frozen = gc.get_freeze_count()
            assert frozen > 20_000
        assert gc.get_freeze_count() > 20_000  # still held: the outer block is open

        entered, leave = threading.Event(), threading.Event()

        def other() -> None:
            with api.decoded_bodies_frozen():
                entered.set()
                leave.wait(10)

        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(10)
    assert gc.get_freeze_count() > 20_000  # the other thread's block is still open
    leave.set()
    thread.join(10)
    assert gc.get_freeze_count() == 0  # the last block to end gave it back
    assert len(held["items"]) == 20_000
