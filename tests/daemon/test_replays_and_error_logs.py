"""Webhook replays are refused; JSON logs carry exceptions as fields, never raw tracebacks."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from reconciler.daemon import httpserver, logs, webhooks
from tests.daemon.test_webhooks import PUSH, SECRET, Pushes, post


@pytest.fixture
def pushes() -> Pushes:
    return Pushes()


@pytest.fixture
def server(pushes: Pushes) -> Iterator[httpserver.HttpServer]:
    srv = httpserver.HttpServer(
        "127.0.0.1:0", httpserver.Routes(webhook_secret=SECRET, on_push=pushes)
    )
    srv.start()
    yield srv
    srv.stop()


def github(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": webhooks.github_signature(SECRET, body),
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
    }


def test_a_replayed_delivery_is_refused(server: httpserver.HttpServer, pushes: Pushes) -> None:
    headers = github(PUSH, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert post(server, PUSH, headers)[0] == 202
    status, body = post(server, PUSH, headers)
    assert (status, body) == (409, {"error": "delivery already received (replay refused)"})
    assert pushes.count == 1


def test_the_same_signed_body_under_a_new_delivery_id_is_refused(
    server: httpserver.HttpServer, pushes: Pushes
) -> None:
    # GitHub signs the body only: a captured request can be replayed with any header.
    assert post(server, PUSH, github(PUSH, "a"))[0] == 202
    assert post(server, PUSH, github(PUSH, "b"))[0] == 409
    other = json.dumps({"ref": "refs/heads/main", "after": "1" * 40}).encode()
    assert post(server, other, github(other, "c"))[0] == 202
    assert pushes.count == 2


def test_gitlab_event_uuid_is_a_delivery_id(server: httpserver.HttpServer, pushes: Pushes) -> None:
    first = {"X-Gitlab-Token": SECRET.decode(), "X-Gitlab-Event-UUID": "u-1"}
    assert post(server, PUSH, first)[0] == 202
    other = json.dumps({"after": "2" * 40}).encode()
    assert post(server, other, first)[0] == 409
    assert pushes.count == 1


def test_a_bad_signature_is_not_remembered(server: httpserver.HttpServer, pushes: Pushes) -> None:
    forged = {**github(PUSH, "d"), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert post(server, PUSH, forged)[0] == 401
    assert post(server, PUSH, github(PUSH, "d"))[0] == 202  # the genuine one still counts
    assert pushes.count == 1


def test_the_delivery_log_is_bounded() -> None:
    log = webhooks.DeliveryLog(size=3)
    assert all(log.admit([f"k{i}"]) for i in range(5))
    assert log.admit(["k0"])  # forgotten: only the last 3 are kept
    assert not log.admit(["k4"])
    expired = webhooks.DeliveryLog(ttl=-1.0)
    assert expired.admit(["x"]) and expired.admit(["x"])


# --------------------------------------------------------------------------- JSON errors


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    level = logging.getLogger().level
    hooks = (threading.excepthook, sys.excepthook)
    handler = logs.setup_logging("json", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(level)
    threading.excepthook, sys.excepthook = hooks


def test_an_exception_and_its_cause_are_fields(capture: io.StringIO) -> None:
    try:
        try:
            {}["missing"]
        except KeyError as e:
            raise RuntimeError(
                "render failed for ghp_" + "Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7Bc0Ef3Hi6"
            ) from e
    except RuntimeError:
        logging.getLogger("reconciler.engine").exception("reconcile raised")
    (line,) = capture.getvalue().splitlines()
    error = json.loads(line)["error"]
    assert error["type"] == "RuntimeError"
    assert error["message"] == "render failed for <redacted>"
    assert error["cause"]["type"] == "KeyError"
    assert all(set(f) == {"file", "line", "function"} for f in error["stack"])
    assert "Traceback" not in line


def test_an_uncaught_exception_in_a_thread_is_one_json_line(capture: io.StringIO) -> None:
    def boom() -> None:
        raise ValueError("worker crashed")

    t = threading.Thread(target=boom, name="worker-1")
    t.start()
    t.join()
    (line,) = capture.getvalue().splitlines()
    record = json.loads(line)
    assert record["logger"] == "reconciler.uncaught" and record["thread_name"] == "worker-1"
    assert record["error"]["message"] == "worker crashed"
    assert "Traceback" not in line
