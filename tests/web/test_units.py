"""The web UI's pure parts: SVG charts, redaction, pagination, the snapshot's versions."""

from __future__ import annotations

import threading
from pathlib import Path

from reconciler import engine
from reconciler.render.environments import Target
from reconciler.structs.changesets import Action, ChangeSet
from reconciler.structs.manifests import ObjectRef
from reconciler.structs.runs import ServedModel
from reconciler.web import charts, pages, redaction, serving, snapshots


def test_metric_chart_marks_promoted_runs_and_the_gate() -> None:
    points = [
        charts.Point("r1", 0.90, "/r1"),
        charts.Point("r2", 0.95, "/r2", promoted=True),
        charts.Point("r<3>", 0.93, ""),
    ]
    svg = str(charts.metric_chart("accuracy", points, gate=0.92))
    assert svg.count('class="point promoted"') == 1 and svg.count('class="point"') == 2
    assert 'class="gate"' in svg and 'href="/r2"' in svg
    assert "r&lt;3&gt;" in svg and "r<3>" not in svg
    flat = str(charts.metric_chart("loss", [charts.Point("a", 1.0)]))
    assert "nan" not in flat and 'class="series"' in flat
    assert str(charts.metric_chart("x", [])) == ""


def test_step_graph_places_steps_by_their_needs() -> None:
    nodes = [
        charts.Node("evaluate", ("train",), "Pending"),
        charts.Node("train", ("features", "download"), "Running", "1m02s"),
        charts.Node("features", (), "Succeeded"),
        charts.Node("download", (), "Succeeded"),
    ]
    svg = str(charts.step_graph(nodes))
    assert svg.count('class="edge"') == 3
    import re

    x = {
        name: float(re.search(rf'<text x="(\d+)" y="\d+" class="name">{name}<', svg).group(1))  # type: ignore[union-attr]
        for name in ("features", "download", "train", "evaluate")
    }
    assert x["features"] == x["download"] < x["train"] < x["evaluate"]
    assert "Running · 1m02s" in svg
    cyclic = str(
        charts.step_graph(
            [charts.Node("a", ("b",), "Pending"), charts.Node("b", ("a",), "Pending")]
        )
    )
    assert cyclic.count('class="node') == 2


def test_redaction_of_text_and_data() -> None:
    text = "\n".join(
        [
            "-  DB_PASSWORD: hunter2",
            "+  db_password=hunter3",
            "   url: https://ci:hunter4@git.example.com/x.git",
            "   - name: HF_TOKEN",
            "     value: hunter5",
            "   - name: LOG_LEVEL",
            "     value: info",
            "   max_tokens: 512",
        ]
    )
    out = redaction.redact_text(text)
    for secret in ("hunter2", "hunter3", "hunter4", "hunter5"):
        assert secret not in out
    assert "value: info" in out and "max_tokens: 512" in out and "DB_PASSWORD" in out
    data = redaction.redact_data({"metrics": {"api_token": "s3cr3t", "max_tokens": 7, "auc": 0.9}})
    assert data == {"metrics": {"api_token": redaction.REDACTED, "max_tokens": 7, "auc": 0.9}}
    assert redaction.redact_diff("Secret/ns/x", "+ tls.key: abc") == redaction.SECRET_DIFF
    assert redaction.redact_diff("ConfigMap/ns/x", "") == ""


def test_pagination_and_search() -> None:
    items = [f"p{i:04d}" for i in range(1000)]
    page = pages.paginate(items, number=3, query="", text_of=str)
    assert page.items[0] == "p0100" and page.pages == 20 and (page.first, page.last) == (101, 150)
    assert pages.paginate(items, number=99, query="", text_of=str).number == 20
    found = pages.paginate(items, number=1, query="P050", text_of=str)
    assert found.total == 10 and found.items[0] == "p0500"
    assert pages.paginate([], number=1, query="x", text_of=str).first == 0


def outcome(*, run: str = "abc12345", dry_run: bool = False) -> engine.Outcome:
    changes = ChangeSet()
    changes.add(ObjectRef("batch", "Job", "ml-dev", f"p-{run}-train", "batch/v1"), Action.CREATED)
    return engine.Outcome(
        target=Target("dev", "main", "ml-dev"),
        commit="c" * 40,
        changeset=changes,
        applied_commit="b" * 40,
        dry_run=dry_run,
        duration=1.5,
        pipelines=[
            engine.PipelineStatus(
                name="p",
                run=run,
                status="Running",
                serving=ServedModel("old", "s3://m/old"),
                health="Healthy",
                steps=(engine.StepStatus("train", (), "Running", "2024-01-01T00:00:00Z"),),
            )
        ],
    )


def test_snapshot_views_and_versions() -> None:
    store = snapshots.SnapshotStore()
    store.expect(["dev", "exp@exp/a"])
    snap = store.snapshot()
    assert [v.key for v in snap.environments] == ["dev", "exp@exp/a"]
    assert snap.find("exp", "exp/a") is not None and snap.find("dev", None) is not None
    assert snap.by_key["dev"].state == "Unknown"
    view = store.publish(outcome())
    assert view.state == "Synced" and view.synced_commit == "c" * 40 and view.in_flight == 1
    assert view.pipelines[0].serving_run == "old" and view.changes == ()
    version = store.snapshot().version
    store.publish(outcome())  # only the time differs: no new version, no wake-up
    assert store.snapshot().version == version
    planned = store.publish(outcome(dry_run=True))
    assert planned.state == "OutOfSync" and planned.pending == 1 and len(planned.changes) == 1
    assert store.snapshot().version == version + 1
    failed = store.publish_error("dev", "overlays/dev/environment.yaml:3:1: spec.branch: required")
    assert (
        failed.state == "Failing"
        and failed.pipelines
        and "environment.yaml:3:1" in failed.errors[0]
    )


def test_wait_for_change_wakes_on_publish_and_on_close() -> None:
    store = snapshots.SnapshotStore()
    seen: list[int] = []
    waiter = threading.Thread(target=lambda: seen.append(store.wait_for_change(0, timeout=30)))
    waiter.start()
    store.publish(outcome())
    waiter.join(10)
    assert seen == [1]
    store.close()
    assert store.wait_for_change(1, timeout=30) == 1 and store.closed


def test_ui_token_from_file_or_environment(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("abc\n")
    assert serving.load_token(str(f), env={}) == "abc"
    assert serving.load_token(None, env={"RECONCILER_UI_TOKEN": " xyz "}) == "xyz"
    assert serving.load_token(None, env={}) is None
    (tmp_path / "empty").write_text("")
    for bad in (tmp_path / "empty", tmp_path / "missing"):
        try:
            serving.load_token(str(bad), env={})
        except Exception as exc:
            assert str(bad) in str(exc)
        else:
            raise AssertionError("expected an error")


def test_branch_instances_are_addressed_by_a_branch_query(tmp_path: Path) -> None:
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.web import app as web_app
    from reconciler.web import readers
    from tests.support import dvcrepos

    repo = tmp_path / "repo"
    repo.mkdir()
    dvcrepos.git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("x\n")
    dvcrepos.commit_all(repo, "init")
    store = snapshots.SnapshotStore()
    branch = outcome()
    branch.target = Target("exp", "exp/lr-sweep", "ml-exp-lr-sweep", True)
    store.publish(branch)
    store.publish(outcome())
    application = web_app.create_app(
        store, readers.Readers(repo, ProvenanceStore(repo, state_dir=tmp_path / "state"))
    )
    client = application.test_client()
    home = client.get("/").get_data(as_text=True)
    assert 'href="/envs/exp?branch=exp/lr-sweep"' in home and 'href="/envs/dev"' in home
    page = client.get("/envs/exp?branch=exp/lr-sweep")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "ml-exp-lr-sweep" in text
    assert 'href="/envs/exp/pipelines/p?branch=exp/lr-sweep"' in text
    assert client.get("/envs/exp?branch=exp/other").status_code == 404
    assert client.get("/envs/exp").status_code == 404
