"""No secret value on any page: plant secret-looking values everywhere a page reads, then scan.

Planted through every input the UI shows: an overlay ConfigMap with a credential-named key
and a Secret (applied, then changed so the pending diff and a review's diff carry the new
values), a step metric with a credential-like name, a URL with a password in a commit
message, and the UI's own bearer token. The UI is in ``reconciler ui``'s mode (dry runs
with diffs), crawled link by link, and every body is searched for every planted value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.web import app as web_app
from reconciler.web import readers, serving, snapshots
from tests.support import dvcrepos
from tests.workflows import world as worlds

pytestmark = pytest.mark.slow

PLANTED = {
    "configmap": "planted-db-password-9f3kq",
    "configmap-next": "planted-db-password-next-5hd8",
    "secret": "planted-secret-value-x7q2m",
    "secret-next": "planted-secret-value-next-w3e9",
    "metric": "planted-metric-token-k2v9c",
    "url": "planted-url-password-p4s5n",
    "token": "planted-ui-token-z8w1b",
}

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data:
  DB_HOST: db.internal
  DB_PASSWORD: %s
"""
SECRET = """apiVersion: v1
kind: Secret
metadata: {name: app-secret}
type: Opaque
stringData:
  password: %s
"""


def plant_overlay(work: Path, configmap: str, secret: str) -> None:
    dev = work / "overlays" / "dev"
    (dev / "app-config.yaml").write_text(CONFIGMAP % configmap)
    (dev / "app-secret.yaml").write_text(SECRET % secret)
    kustomization = dev / "kustomization.yaml"
    text = kustomization.read_text()
    if "app-config.yaml" not in text:
        text = text.replace(
            "  - network-policy.yaml\n",
            "  - network-policy.yaml\n  - app-config.yaml\n  - app-secret.yaml\n",
            1,
        )
        kustomization.write_text(text)


def crawl(client: Any, headers: dict[str, str], start: list[str]) -> dict[str, str]:
    """Return ``{path: body}`` of every page reachable from ``start``."""
    seen: dict[str, str] = {}
    todo = list(start)
    while todo and len(seen) < 300:
        path = todo.pop()
        if path in seen:
            continue
        resp = client.get(path, headers=headers)
        assert resp.status_code == 200, f"{path}: {resp.status_code}"
        body = resp.get_data(as_text=True)
        seen[path] = body
        for href in re.findall(r'href="(/[^"#]*)"', body):
            href = href.replace("&amp;", "&")
            if href not in seen and not href.startswith("/static/"):
                todo.append(href)
    return seen


def test_no_planted_secret_value_on_any_page(tmp_path: Path, sandbox: Any) -> None:
    w = worlds.make_world(tmp_path, sandbox)
    w.outcomes(
        {
            **worlds.GOOD,
            "05-resnet-eval": {
                "match": "*/resnet50-*-evaluate",
                "message": json.dumps({"accuracy": 0.95, "api_token": PLANTED["metric"]}),
            },
        }
    )
    plant_overlay(w.work, PLANTED["configmap"], PLANTED["secret"])
    w.commit_and_push(f"Config from https://ci:{PLANTED['url']}@git.example.com/ml.git")
    w.until(lambda out: not out.in_flight)
    dvcrepos.git(w.work, "checkout", "-q", "-b", "exp/leak")
    plant_overlay(w.work, PLANTED["configmap-next"], PLANTED["secret-next"])
    dvcrepos.commit_all(w.work, "Rotate the database password")
    dvcrepos.git(w.work, "checkout", "-q", "main")
    dvcrepos.git(w.work, "merge", "-q", "--ff-only", "exp/leak")

    store = snapshots.SnapshotStore()
    serving.dry_run_refresh(w.ctx, envs=["dev"])(store)
    view = store.snapshot().find("dev", None)
    assert view is not None and view.pending > 0, "the planted change must be pending"
    application = web_app.create_app(
        store, readers.Readers(w.work, w.ctx.provenance), mode="planned", token=PLANTED["token"]
    )
    client = application.test_client()
    headers = {"Authorization": f"Bearer {PLANTED['token']}"}
    pages = crawl(client, headers, ["/", "/failures", "/review?range=main~1..exp/leak"])
    pages["/review.md"] = client.get("/review.md?range=main~1..exp/leak", headers=headers).get_data(
        as_text=True
    )
    pages["login"] = client.get("/").get_data(as_text=True)
    assert client.get("/").status_code == 401

    assert any("app-config" in body for body in pages.values()), "the ConfigMap is shown"
    assert any("DB_PASSWORD" in body for body in pages.values()), "its key is shown"
    assert any("api_token" in body for body in pages.values()), "the metric is shown"
    assert any("/commits/" in path for path in pages), "commit pages were scanned"
    for path, body in pages.items():
        for what, value in PLANTED.items():
            assert value not in body, f"{what} value leaked on {path}"
