"""``$(NAME)`` in a ``serve.env`` or step ``env`` value is checked by ``validate`` as a
step's command is.

On the example repository (real git, real DVC pointers): a typo in the serving container's
env names the file, line and field; correct references validate, and ``render`` shows the
variables they name defined before them in the serving and step containers (what
Kubernetes needs to expand them, and what the check assumes).
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.cli.main import cli
from tests.support import dvcrepos
from tests.support.clirunner import cli_runner

SERVE_ENV = '    env: {GUNICORN_WORKERS: "2"}\n'
PREPARE = "      timeout: 30m\n"


def test_a_serve_env_reference_is_checked_at_validation(tmp_path: Path) -> None:
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    spec = work / "pipelines" / "fraud-detector.yaml"
    text = spec.read_text()
    assert text.count(SERVE_ENV) == 1
    line = text[: text.index(SERVE_ENV)].count("\n") + 1
    spec.write_text(
        text.replace(SERVE_ENV, '    env: {GUNICORN_WORKERS: "2", MODEL_PATH: $(MODEL_URl)}\n')
    )
    runner = cli_runner()
    bad = runner.invoke(cli, ["validate", "--repo", str(work), "--env", "dev"])
    assert bad.exit_code == 1, bad.output
    said = bad.stdout + bad.stderr
    assert (
        f"pipelines/fraud-detector.yaml:{line}:" in said
        and "spec.serve.env.MODEL_PATH: $(MODEL_URl) is not an env var of the serving "
        "container: Kubernetes would pass it on as written"
        in said
    ), said

    good_text = text.replace(
        SERVE_ENV, '    env: {GUNICORN_WORKERS: "2", MODEL_PATH: $(MODEL_URI)}\n'
    ).replace(PREPARE, PREPARE + "      env: {OUT: $(ARTIFACTS_URI)/$(RUN_ID)}\n", 1)
    spec.write_text(good_text)
    good = runner.invoke(cli, ["validate", "--repo", str(work), "--env", "dev"])
    assert good.exit_code == 0, good.output
    rendered = runner.invoke(cli, ["render", "--repo", str(work), "--env", "dev", "-o", "json"])
    assert rendered.exit_code == 0, rendered.output
    data = json.loads(rendered.stdout)
    objs = data["items"] if isinstance(data, dict) else data
    (deployment,) = [
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "fraud-detector"
    ]
    names = [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert names.index("MODEL_URI") < names.index("MODEL_PATH"), names
    (job,) = [
        o
        for o in objs
        if o["kind"] == "Job"
        and o["metadata"]["name"].endswith("-prepare")
        and o["metadata"]["name"].startswith("fraud-detector-")
    ]
    names = [e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert max(names.index("ARTIFACTS_URI"), names.index("RUN_ID")) < names.index("OUT"), names
