"""A record names its repository by a URL anyone can use, not the clone's relative path.

Regression: with ``git remote add origin ../pipelines.git`` (a relative path, as the README's
first-day walkthrough does) every record said ``source.repo: ../pipelines.git``, which
names nothing outside that clone; the steps' ``DVC_REPO_URL`` already said ``file://...``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.support import dvcrepos
from tests.workflows.world import make_world, status


def test_a_relative_origin_is_recorded_as_a_file_url(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    dvcrepos.git(
        world.work, "remote", "set-url", "origin", os.path.relpath(world.origin, world.work)
    )
    out = world.until(lambda o: status(o, "llm-finetune").status == "Succeeded")
    run = status(out, "llm-finetune").run
    record = world.origin_record("experiments/llm-finetune", f"runs/dev/llm-finetune/{run}.yaml")
    assert record.source.repo == world.origin.resolve().as_uri()
