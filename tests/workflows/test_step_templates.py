"""A run's step objects, once created, are never patched, whatever the commit renders.

Regression: a commit that changes only ``.dvc/config`` (a second remote holding the same
data made the default) keeps every run id (they hash the data's md5), but changes the
steps' ``DATASET_*_URL`` and ``DATASET_*_REV``. Every sync then re-applied the live Jobs of
the finished runs with that new template: 422 (a Job's template is immutable) on every
reconcile, the commit never applied, the daemon backing off for ever.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from kubernetes import client

from reconciler.cli.main import cli
from reconciler.structs.changesets import Action
from tests.support.clirunner import cli_runner
from tests.workflows.world import GOOD, make_world, status


def test_a_new_default_remote_patches_no_live_step(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    done = world.until(lambda o: status(o, "llm-finetune").status == "Succeeded")
    run = status(done, "llm-finetune").run
    jobs = world.jobs()
    assert f"llm-finetune-{run}-train" in jobs
    shutil.copytree(world.work / "dvc-storage", world.work / "dvc-mirror")
    config = world.work / ".dvc" / "config"
    config.write_text(
        config.read_text().replace("remote = storage", "remote = mirror")
        + "['remote \"mirror\"']\n    url = ../dvc-mirror\n"
    )
    commit = world.commit_and_push("Read the data from a second remote")
    out = world.reconcile()  # no failed entry, no error
    assert out.applied_commit == commit
    assert status(out, "llm-finetune").run == run
    entries = {str(e.subject): e.action for e in out.changeset.entries}
    assert entries[f"Job/ml-dev/llm-finetune-{run}-train"] is Action.UNCHANGED
    assert world.jobs()[f"llm-finetune-{run}-train"] == jobs[f"llm-finetune-{run}-train"]


def test_render_of_a_commit_shows_the_step_sync_creates(tmp_path: Path, sandbox: Any) -> None:
    """Regression: ``render --ref`` left out DVC_REPO_URL and DATASET_*_REV/_DVC_PATH."""
    world = make_world(tmp_path, sandbox)
    out = world.reconcile()
    name = f"fraud-detector-{status(out, 'fraud-detector').run}-prepare"
    result = cli_runner().invoke(
        cli,
        ["render", "--env", "dev", "--repo", str(world.work), "--ref", "main", "-o", "json"],
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.exit_code == 0, result.output
    (rendered,) = [o for o in json.loads(result.stdout)["items"] if o["metadata"]["name"] == name]
    live = client.BatchV1Api(world.api).read_namespaced_job(name, "ml-dev").to_dict()
    want = {e["name"]: e["value"] for e in live["spec"]["template"]["spec"]["containers"][0]["env"]}
    got = {
        e["name"]: e.get("value")
        for e in rendered["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert got == want
    assert "DVC_REPO_URL" in got and "DATASET_TRANSACTIONS_REV" in got
