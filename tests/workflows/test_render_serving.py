"""``reconciler render`` shows serving objects too, before and after a run passes its gate.

Before any run of a pipeline passed its gate the serving objects carry a placeholder model,
annotated ``reconciler.ml/placeholder-model`` and named in a note on stderr; once a run is
served, they carry that run's model (read from the provenance records, no cluster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler.cli.main import cli
from reconciler.cli.render import PLACEHOLDER_ANNOTATION
from tests.support.clirunner import cli_runner
from tests.workflows.world import GOOD, World, make_world, status


def render(world: World, tmp_path: Path) -> tuple[dict[tuple[str, str], Any], str]:
    result = cli_runner().invoke(
        cli,
        ["render", "--env", "dev", "--repo", str(world.work)],
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}, result.stderr


def test_render_shows_serving_with_a_placeholder_then_the_served_model(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    objs, notes = render(world, tmp_path)
    dep = objs[("Deployment", "fraud-detector")]
    assert dep["metadata"]["annotations"][PLACEHOLDER_ANNOTATION] == "true"
    assert "placeholder://fraud-detector/" in yaml.safe_dump(dep)
    assert (
        objs[("InferenceService", "resnet50")]["metadata"]["annotations"][PLACEHOLDER_ANNOTATION]
        == "true"
    )
    assert "note: fraud-detector: no run has passed its gate in dev yet" in notes
    assert not [k for k in objs if k[1].startswith("llm-finetune") and k[0] != "Job"]  # trains only

    world.outcomes(GOOD)
    out = world.until(lambda o: status(o, "fraud-detector").serving is not None)
    served = status(out, "fraud-detector").serving
    assert served is not None
    objs, notes = render(world, tmp_path)
    dep = objs[("Deployment", "fraud-detector")]
    assert PLACEHOLDER_ANNOTATION not in (dep["metadata"].get("annotations") or {})
    assert served.model_uri in yaml.safe_dump(dep)
    assert f"note: fraud-detector: serving objects show run {served.run}" in notes
