"""``dvc get`` in a pod: DVC_REPO_URL and each dataset's DATASET_<NAME>_REV / _DVC_PATH.

A copy of the example repository with a bare ``origin``: the step objects the engine
renders name the origin and a commit, and the real ``dvc get`` CLI fetches the very data
(same md5) from them. The commit stays the same across commits that leave the dataset's
md5 alone (so a live run's Job template never changes) and moves when the md5 does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.render import dvcsources, steps
from reconciler.render.runspecs import RunSpec
from reconciler.source import repos
from tests.support import dvcrepos

POINTER = "datasets/fraud-transactions.csv.dvc"


def run_spec(repo: Path, pipeline: str = "fraud-detector") -> RunSpec:
    sha = repos.commit_info(repo, "HEAD").sha
    with repos.checkout_tree(repo, sha) as (root, _):
        prepared = engine.prepare_target(root, "prod", branch=None, source=repo, commit=sha)
    return prepared.run_specs[pipeline]


def step_env(spec: RunSpec, step: str) -> dict[str, str]:
    obj = steps.step_object(spec, spec.pipeline.step(step))
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The example with its DVC remote named by an absolute URL, as an object store's is.

    (``dvc get`` of a clone resolves a relative local remote against the source, not the
    clone: the example's ``../dvc-storage`` only works from a work tree.)
    """
    repo = dvcrepos.copy_example_repo(tmp_path / "work")
    config = repo / ".dvc" / "config"
    storage = str((repo / "dvc-storage").resolve())
    config.write_text(config.read_text().replace("../dvc-storage", storage))
    dvcrepos.commit_all(repo, "DVC remote by URL")
    dvcrepos.git(repo, "push", "-q", "origin", "main")
    return repo


def test_dvc_get_in_a_pod_fetches_the_runs_data(work: Path, tmp_path: Path) -> None:
    spec = run_spec(work)
    env = step_env(spec, "prepare")
    origin = dvcrepos.origin_of(work)
    assert env["DVC_REPO_URL"] == origin.resolve().as_uri()
    assert env["DATASET_TRANSACTIONS_REV"] == repos.commit_info(work, "HEAD").sha
    assert env["DATASET_TRANSACTIONS_DVC_PATH"] == "datasets/fraud-transactions.csv"
    out = tmp_path / "fetched.csv"
    dvcrepos.dvc(
        tmp_path,
        "get",
        "--rev",
        env["DATASET_TRANSACTIONS_REV"],
        env["DVC_REPO_URL"],
        env["DATASET_TRANSACTIONS_DVC_PATH"],
        "-o",
        str(out),
    )
    assert hashlib.md5(out.read_bytes()).hexdigest() == env["DATASET_TRANSACTIONS_MD5"]
    # A directory dataset is named by its directory.
    resnet = step_env(run_spec(work, "resnet50"), "features")
    assert resnet["DATASET_TRAIN_DVC_PATH"] == "datasets/imagenet-mini"
    assert resnet["DATASET_TRAIN_REV"] == env["DATASET_TRANSACTIONS_REV"]


def test_the_commit_stays_while_the_md5_does(work: Path) -> None:
    first = run_spec(work)
    rev = first.sources.datasets["transactions"].rev
    job = steps.step_object(first, first.pipeline.step("prepare"))

    (work / "NOTES.md").write_text("unrelated\n")
    dvcrepos.commit_all(work, "notes")
    pointer = work / POINTER
    pointer.write_text("# the fraud transactions\n" + pointer.read_text())
    dvcrepos.commit_all(work, "pointer rewritten, same md5")
    again = run_spec(work)
    assert again.run_id == first.run_id
    assert again.sources.datasets["transactions"].rev == rev
    assert steps.step_object(again, again.pipeline.step("prepare")) == job

    text = pointer.read_text()
    md5 = first.datasets["transactions"].md5
    pointer.write_text(text.replace(md5, "0123456789abcdef" * 2))
    changed = dvcrepos.commit_all(work, "new data")
    newer = run_spec(work)
    assert newer.run_id != first.run_id
    assert newer.sources.datasets["transactions"].rev == changed

    pointer.write_text(text)  # back to the first md5: a new stretch of history
    back = dvcrepos.commit_all(work, "old data again")
    assert run_spec(work).sources.datasets["transactions"].rev == back

    config = work / ".dvc" / "config"  # the remote moved: dvc get must read the new one
    config.write_text(config.read_text() + "['remote \"mirror\"']\n    url = /srv/mirror\n")
    moved = dvcrepos.commit_all(work, "a second remote")
    assert run_spec(work).sources.datasets["transactions"].rev == moved


def test_a_pointer_that_does_not_have_the_md5_gets_no_rev(work: Path) -> None:
    sha = repos.commit_info(work, "HEAD").sha
    assert dvcsources.dataset_source(work, sha, POINTER, "f" * 32) is None
    assert dvcsources.dataset_source(work, sha, "datasets/none.dvc", "f" * 32) is None
    found = dvcsources.dataset_source(
        work, sha, POINTER, run_spec(work).datasets["transactions"].md5
    )
    assert found == dvcsources.DatasetSource(rev=sha, path="datasets/fraud-transactions.csv")


def test_without_a_repository_nothing_is_added(work: Path) -> None:
    prepared = engine.prepare_target(work, "prod", branch=None)
    env = step_env(prepared.run_specs["fraud-detector"], "prepare")
    assert "DVC_REPO_URL" not in env
    assert not any(k.endswith(("_REV", "_DVC_PATH")) for k in env)


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("https://ci-bot:ghp_secret@github.com/org/ml.git", "https://github.com/org/ml.git"),
        ("https://x-access-token@github.com/org/ml.git", "https://github.com/org/ml.git"),
        (
            "ssh://git:hunter2@git.example.com:2222/org/ml.git",
            "ssh://git@git.example.com:2222/org/ml.git",
        ),
        ("ssh://git@git.example.com/org/ml.git", "ssh://git@git.example.com/org/ml.git"),
        ("git@github.com:org/ml.git", "git@github.com:org/ml.git"),
        ("s3://bucket/ml.git", "s3://bucket/ml.git"),
    ],
)
def test_the_repository_url_carries_no_secret(work: Path, configured: str, expected: str) -> None:
    dvcrepos.git(work, "remote", "set-url", "origin", configured)
    assert repos.pod_url(work) == expected


def test_a_local_remote_is_made_absolute_and_no_remote_is_the_repository(work: Path) -> None:
    origin = dvcrepos.origin_of(work)
    dvcrepos.git(work, "remote", "set-url", "origin", f"../{origin.name}")
    assert repos.pod_url(work) == origin.resolve().as_uri()
    dvcrepos.git(work, "remote", "remove", "origin")
    assert repos.pod_url(work) == work.resolve().as_uri()
    assert repos.pod_url(origin) == origin.resolve().as_uri()


def render_envs(repo: Path, *args: str) -> tuple[dict[str, dict[str, str]], str]:
    """Run ``reconciler render --env prod``; return each Job's plain env vars and stderr."""
    import json

    from reconciler.cli.main import cli
    from tests.support.clirunner import cli_runner

    result = cli_runner().invoke(
        cli, ["render", "--env", "prod", "--repo", str(repo), "-o", "json", *args]
    )
    assert result.exit_code == 0, result.output
    jobs = [o for o in json.loads(result.stdout)["items"] if o["kind"] == "Job"]
    envs = {}
    for job in jobs:
        container = job["spec"]["template"]["spec"]["containers"][0]
        envs[job["metadata"]["labels"]["reconciler.ml/pipeline"]] = {
            e["name"]: e["value"] for e in container["env"] if "value" in e
        }
    return envs, result.stderr


def test_render_of_the_work_tree_names_datasets_at_head(work: Path) -> None:
    head = repos.commit_info(work, "HEAD").sha
    at_head, _ = render_envs(work, "--ref", "HEAD")
    here, stderr = render_envs(work)
    assert here == at_head  # a clean work tree renders as HEAD does: same REV, same URL
    assert here["fraud-detector"]["DATASET_TRANSACTIONS_REV"] == head
    assert "DVC_REPO_URL" in here["fraud-detector"] and "warning:" not in stderr

    # A pointer modified relative to HEAD: no commit holds its md5, so no REV, and a warning.
    dvcrepos.dvc(work, "pull", "-q", POINTER)
    data = work / "datasets" / "fraud-transactions.csv"
    data.write_text(data.read_text() + data.read_text().splitlines()[-1] + "\n")
    dvcrepos.dvc_add(work, ["datasets/fraud-transactions.csv"])
    here, stderr = render_envs(work)
    fraud = here["fraud-detector"]
    assert (
        fraud["DATASET_TRANSACTIONS_MD5"] != at_head["fraud-detector"]["DATASET_TRANSACTIONS_MD5"]
    )
    assert "DATASET_TRANSACTIONS_REV" not in fraud and "DATASET_TRANSACTIONS_DVC_PATH" not in fraud
    assert fraud["DVC_REPO_URL"] == at_head["fraud-detector"]["DVC_REPO_URL"]
    assert f"warning: {POINTER}: modified relative to HEAD ({head[:12]})" in stderr
    assert "DATASET_TRANSACTIONS_REV" in stderr
    assert here["resnet50"] == at_head["resnet50"]  # untouched datasets keep their REV

    # A remote changed in the work tree: the URL follows it, `dvc get` at HEAD does not.
    dvcrepos.dvc(work, "remote", "add", "other", str(work / "elsewhere"))
    _, stderr = render_envs(work)
    assert "warning: .dvc/config: modified relative to HEAD" in stderr


def test_render_of_a_repository_without_a_commit_says_what_is_left_out(
    work: Path, tmp_path: Path
) -> None:
    import shutil

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for name in ("pipelines", "overlays", "datasets", ".dvc", "dvc-storage"):
        shutil.copytree(work / name, fresh / name)
    dvcrepos.git(fresh, "init", "-q", "-b", "main")
    here, stderr = render_envs(fresh)
    assert not any(k == "DVC_REPO_URL" or k.endswith("_REV") for e in here.values() for k in e)
    assert "warning: the repository has no commit yet: DVC_REPO_URL" in stderr
