"""Every page of the web UI, served by the real daemon over the example's finished runs.

Read over HTTP from the daemon's ``--listen`` address (the same server as ``/healthz``);
contents are checked against what the engine and the provenance records say.
"""

from __future__ import annotations

import re
import urllib.request

import pytest

from tests.web.worlds import DaemonWorld

pytestmark = pytest.mark.slow


def links(body: str) -> list[str]:
    """Return the site-relative links of a page."""
    return [h for h in re.findall(r'href="([^"#]+)"', body) if h.startswith("/")]


def test_environments_page_shows_sync_health_and_commits(ui: DaemonWorld) -> None:
    status, body = ui.get("/")
    assert status == 200
    assert 'href="/envs/dev"' in body
    assert "b-synced" in body and "ml-dev" in body
    head = ui.get("/api/snapshot")[1]
    assert '"key": "dev"' in head and '"state": "Synced"' in head
    commit = re.search(r"/commits/([0-9a-f]{40})", body)
    assert commit is not None
    assert ui.get(f"/commits/{commit.group(1)}")[0] == 200
    assert "1 failed run(s)" in body


def test_environment_page_lists_pipelines_with_serving_and_gate(ui: DaemonWorld) -> None:
    status, body = ui.get("/envs/dev")
    assert status == 200
    for name in ("fraud-detector", "llm-finetune", "resnet50"):
        assert f'href="/envs/dev/pipelines/{name}"' in body
    assert "s3://models/resnet50/" in body
    assert "accuracy &gt;= 0.9" in body
    filtered = ui.get("/envs/dev?q=resnet")[1]
    assert "resnet50" in filtered and "/envs/dev/pipelines/llm-finetune" not in filtered


def test_pipeline_page_shows_the_step_graph_serving_and_promotion(ui: DaemonWorld) -> None:
    status, body = ui.get("/envs/dev/pipelines/resnet50")
    assert status == 200
    assert '<svg class="dag"' in body
    for step in ("features", "train", "evaluate"):
        assert f'class="name">{step}</text>' in body
    assert "promoted: accuracy = 0.95" in body
    assert "gate 0.9" in body


def test_history_page_charts_metrics_and_links_records(ui: DaemonWorld) -> None:
    status, body = ui.get("/envs/dev/pipelines/resnet50/runs")
    assert status == 200
    assert '<svg class="chart"' in body and "accuracy over 1 run(s)" in body
    assert 'class="point promoted"' in body
    assert 'class="gate"' in body
    record = next(h for h in links(body) if re.search(r"/runs/[0-9a-f]{8}$", h))
    status, page = ui.get(record)
    assert status == 200
    assert "runs/dev/resnet50/" in page and "experiments/resnet50" in page
    commit = re.search(r'href="(/commits/[0-9a-f]{40})"', page)
    assert commit is not None and ui.get(commit.group(1))[0] == 200


def test_failure_view_gives_reason_and_retry_command(ui: DaemonWorld) -> None:
    status, body = ui.get("/failures")
    assert status == 200
    assert "llm-finetune" in body
    assert "reconciler retry llm-finetune --env dev" in body
    assert "step train failed" in body
    _status, record = ui.get("/envs/dev/pipelines/llm-finetune")
    assert "reconciler retry llm-finetune --env dev" in record


def test_review_page_is_the_review_report(ui: DaemonWorld) -> None:
    from reconciler.review import markdown, reports

    status, body = ui.get("/review?range=main..main")
    assert status == 200
    assert "Environment <code>dev</code>" in body
    text = ui.get("/review.md?range=main..main")[1]
    # Rendered as the daemon renders: its DVC remote, inside the repository, named in the
    # clone the daemon follows.
    review = reports.build_review(ui.origin, "main..main", files=ui.work)
    assert text == markdown.format_markdown(review)
    assert "remote.storage.url" not in text


def test_changes_page_and_unknown_pages(ui: DaemonWorld) -> None:
    status, body = ui.get("/envs/dev/changes")
    assert status == 200 and "Nothing pending" in body
    assert ui.get("/envs/nosuch")[0] == 404
    assert ui.get("/envs/dev/pipelines/nosuch")[0] == 404
    assert ui.get("/envs/dev/pipelines/resnet50/runs/deadbeef")[0] == 404
    assert ui.get("/commits/not-a-sha")[0] == 404


def test_every_link_of_every_page_answers(ui: DaemonWorld) -> None:
    seen: set[str] = set()
    todo = ["/"]
    while todo and len(seen) < 200:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        status, body = ui.get(path)
        assert status == 200, f"{path}: {status}"
        if path.startswith("/static/") or path.startswith("/review.md"):
            continue
        todo.extend(h.replace("&amp;", "&") for h in links(body) if h not in seen)
    assert any("/runs/" in p for p in seen) and any("/commits/" in p for p in seen)


def test_read_only_no_writes_accepted(ui: DaemonWorld) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        req = urllib.request.Request(ui.url + "/envs/dev", method=method, data=b"x")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code in (404, 405, 501)


def test_security_headers_and_assets_from_the_package(ui: DaemonWorld) -> None:
    with urllib.request.urlopen(ui.url + "/", timeout=10) as resp:
        csp = resp.headers["Content-Security-Policy"]
        body = resp.read().decode()
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert not re.search(r'(src|href)="(https?:)?//', body)
    for asset in ("/static/app.css", "/static/app.js", "/static/favicon.svg"):
        assert ui.get(asset)[0] == 200


def test_events_stream_announces_the_snapshot_version(ui: DaemonWorld) -> None:
    version = ui.snapshot()["version"]
    with urllib.request.urlopen(ui.url + "/events", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = b""
        while not first.endswith(b"\n\n"):
            first += resp.read(1)
    assert f"data: {version}".encode() in first
    assert ui.get("/healthz")[0] == 200
