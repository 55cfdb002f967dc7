"""The signed webhook over real HTTP: GitHub HMAC, GitLab token, 401s, 413s, probes."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.daemon import httpserver, webhooks

SECRET = b"It's a Secret to Everybody"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


class Pushes:
    """Counts the fetches a webhook triggered."""

    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()


@pytest.fixture
def pushes() -> Pushes:
    return Pushes()


@pytest.fixture
def server(pushes: Pushes) -> Iterator[httpserver.HttpServer]:
    ready = {"git": lambda: True, "cluster": lambda: False}
    srv = httpserver.HttpServer(
        "127.0.0.1:0",
        httpserver.Routes(
            readiness=ready,
            metrics=lambda: b"reconciler_leader 1.0\n",
            webhook_secret=SECRET,
            on_push=pushes,
            max_body=1024,
        ),
    )
    srv.start()
    yield srv
    srv.stop()


def post(
    srv: httpserver.HttpServer, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("POST", "/hooks/git", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data) if data else {}


def raw_exchange(srv: httpserver.HttpServer, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send raw bytes (headers, then body pieces, stopping if the server hangs up)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except OSError:
                break
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


# -- pure functions --------------------------------------------------------------------


def test_github_signature_matches_githubs_documented_example() -> None:
    # The example in GitHub's "Validating webhook deliveries" documentation.
    sig = webhooks.github_signature(SECRET, b"Hello, World!")
    assert sig == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert webhooks.verify_github_signature(SECRET, b"Hello, World!", sig)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha256=deadbeef", "sha1=0123", "757107ea0eb2509fc211221cce984b8a"],
)
def test_github_signature_refuses_missing_or_wrong(header: str | None) -> None:
    assert not webhooks.verify_github_signature(SECRET, b"Hello, World!", header)


def test_github_signature_depends_on_body_and_secret() -> None:
    sig = webhooks.github_signature(SECRET, PUSH)
    assert not webhooks.verify_github_signature(SECRET, PUSH + b" ", sig)
    assert not webhooks.verify_github_signature(b"other", PUSH, sig)


def test_gitlab_token() -> None:
    assert webhooks.verify_gitlab_token(SECRET, SECRET.decode())
    assert not webhooks.verify_gitlab_token(SECRET, "wrong")
    assert not webhooks.verify_gitlab_token(SECRET, None)


def test_load_secret_from_file_drops_newline_and_env_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "secret"
    f.write_bytes(b"s3cret\n")
    assert webhooks.load_secret(f) == b"s3cret"
    monkeypatch.setenv("HOOK_SECRET_TEST", "from-env")
    assert webhooks.load_secret(None, "HOOK_SECRET_TEST") == b"from-env"
    monkeypatch.setenv("HOOK_SECRET_TEST", "")
    assert webhooks.load_secret(None, "HOOK_SECRET_TEST") is None


# -- over HTTP ---------------------------------------------------------------------------


def test_valid_github_signature_triggers_a_fetch(
    server: httpserver.HttpServer, pushes: Pushes
) -> None:
    status, body = post(
        server,
        PUSH,
        {
            "X-Hub-Signature-256": webhooks.github_signature(SECRET, PUSH),
            "X-GitHub-Event": "push",
            "Content-Type": "application/json",
        },
    )
    assert (status, body) == (202, {"status": "fetch scheduled"})
    assert pushes.count == 1


def test_github_ping_is_answered_without_a_fetch(
    server: httpserver.HttpServer, pushes: Pushes
) -> None:
    ping = b'{"zen": "Keep it logically awesome."}'
    status, _ = post(
        server,
        ping,
        {"X-Hub-Signature-256": webhooks.github_signature(SECRET, ping), "X-GitHub-Event": "ping"},
    )
    assert status == 200
    assert pushes.count == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": webhooks.github_signature(b"wrong secret", PUSH)},
        {"X-Hub-Signature": "sha1=" + "0" * 40},
        {"X-Gitlab-Token": "wrong"},
    ],
    ids=["missing", "bad-hmac", "other-secret", "sha1-only", "bad-gitlab-token"],
)
def test_missing_or_bad_signature_is_401_and_nothing_happens(
    server: httpserver.HttpServer, pushes: Pushes, headers: dict[str, str]
) -> None:
    status, body = post(server, PUSH, headers)
    assert status == 401
    assert "error" in body
    assert pushes.count == 0


def test_gitlab_token_triggers_a_fetch(server: httpserver.HttpServer, pushes: Pushes) -> None:
    status, _ = post(
        server, PUSH, {"X-Gitlab-Token": SECRET.decode(), "X-Gitlab-Event": "Push Hook"}
    )
    assert status == 202
    assert pushes.count == 1


def test_no_secret_configured_refuses_everything(pushes: Pushes) -> None:
    srv = httpserver.HttpServer(
        "127.0.0.1:0", httpserver.Routes(webhook_secret=None, on_push=pushes)
    )
    srv.start()
    try:
        status, body = post(
            srv, PUSH, {"X-Hub-Signature-256": webhooks.github_signature(b"", PUSH)}
        )
    finally:
        srv.stop()
    assert status == 401
    assert "no secret" in str(body["error"])
    assert pushes.count == 0


def test_oversized_content_length_is_413_before_the_body_is_read(
    server: httpserver.HttpServer, pushes: Pushes
) -> None:
    # Claims 10 MiB but sends 10 bytes: a server that tried to read the body would hang.
    head = (
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n"
        b"X-Hub-Signature-256: sha256=00\r\n\r\n"
    )
    answer = raw_exchange(server, head, [b"0123456789"])
    assert answer.startswith(b"HTTP/1.0 413") or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert pushes.count == 0


def test_oversized_chunked_body_is_413_while_reading(
    server: httpserver.HttpServer, pushes: Pushes
) -> None:
    head = (
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"X-Gitlab-Token: " + SECRET + b"\r\n\r\n"
    )
    chunk = b"400\r\n" + b"x" * 0x400 + b"\r\n"  # 1 KiB chunks against a 1 KiB limit
    answer = raw_exchange(server, head, [chunk] * 8 + [b"0\r\n\r\n"])
    assert b" 413 " in answer.split(b"\r\n", 1)[0], answer[:200]
    assert pushes.count == 0


def test_chunked_body_within_the_limit_is_accepted(
    server: httpserver.HttpServer, pushes: Pushes
) -> None:
    body = b'{"ref": "refs/heads/main"}'
    head = (
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"X-Hub-Signature-256: " + webhooks.github_signature(SECRET, body).encode() + b"\r\n\r\n"
    )
    chunks = [
        b"%x\r\n%s\r\n" % (len(body[:10]), body[:10]),
        b"%x\r\n%s\r\n" % (len(body[10:]), body[10:]),
    ]
    answer = raw_exchange(server, head, [*chunks, b"0\r\n\r\n"])
    assert b" 202 " in answer.split(b"\r\n", 1)[0], answer[:200]
    assert pushes.count == 1


def test_get_on_the_hook_is_405(server: httpserver.HttpServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/hooks/git")
    resp = conn.getresponse()
    assert resp.status == 405
    assert resp.getheader("Allow") == "POST"


def test_probes_and_metrics(server: httpserver.HttpServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read() == b"ok\n"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/readyz")
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.status == 503
    assert "[+]git ok" in text and "[-]cluster failed" in text
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/metrics")
    assert conn.getresponse().read() == b"reconciler_leader 1.0\n"


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        (":8080", ("", 8080)),
        ("8080", ("", 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9090", ("::1", 9090)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert httpserver.parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["", ":http", "host:99999"])
def test_parse_listen_refuses(listen: str) -> None:
    with pytest.raises(ValueError, match="--listen"):
        httpserver.parse_listen(listen)
