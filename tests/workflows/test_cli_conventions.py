"""CLI conventions, the same on every command (kubectl's, flux's and argocd's habits).

``-o/--output`` on every command that prints data; ``--ref`` with one meaning; one duration
parser (``500ms``, ``2s``, ``1m``); coloured plans on a terminal (``FORCE_COLOR`` stands for
one here), plain when piped, and ``NO_COLOR`` honoured (plan and sync; status and review
too, as argocd and flux colour their states; ``-o json`` never).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.main import COMMANDS, cli
from reconciler.structs.durations import parse_duration
from tests.support import dvcrepos
from tests.support.clirunner import cli_runner
from tests.workflows.world import make_world, status

NO_DATA = {"run", "ui", "demo"}
"""Commands that serve or walk through something rather than print data."""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - NO_DATA))
def test_every_command_that_prints_data_has_output(name: str) -> None:
    result = cli_runner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "-o, --output" in result.stdout, name


@pytest.mark.parametrize("name", ["validate", "render", "plan", "sync"])
def test_ref_means_the_commit_to_read_everywhere(name: str) -> None:
    result = cli_runner().invoke(cli, [name, "--help"])
    text = " ".join(result.stdout.split())
    assert "--ref REF Git commit to read: a branch, tag or sha (default:" in text


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("2s", 2.0), ("1m", 60.0), ("1h30m", 5400.0), ("3", 3.0)]
)
def test_one_duration_parser(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "args",
    [
        ["sandbox", "--step-delay", "soon"],
        ["demo", "--step-delay", "soon"],
        ["manifests", "--repo", "https://git.example.com/x.git", "--interval", "soon"],
        ["run", "--interval", "soon", "--repo", "."],
        ["ui", "--refresh", "soon"],
    ],
)
def test_a_bad_duration_is_a_usage_error_naming_the_option(args: list[str]) -> None:
    result = cli_runner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "soon" in result.stderr and "expected a duration like" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_is_coloured_on_a_terminal_plain_when_piped_and_no_color_wins(
    tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, sandbox)
    args = [
        "plan",
        "--env",
        "dev",
        "--repo",
        str(world.work),
        "--kubeconfig",
        str(sandbox.kubeconfig),
        "--state-dir",
        str(tmp_path / "cli-state"),
    ]
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    piped = cli_runner().invoke(cli, args)
    assert piped.exit_code == 2, piped.output
    assert not ANSI.search(piped.stdout) and "+ Namespace/ml-dev created" in piped.stdout

    monkeypatch.setenv("FORCE_COLOR", "1")
    terminal = cli_runner().invoke(cli, args, color=True)
    assert terminal.exit_code == 2, terminal.output
    assert "\x1b[32m  + Namespace/ml-dev created" in terminal.stdout
    assert ANSI.sub("", terminal.stdout) == piped.stdout

    monkeypatch.setenv("NO_COLOR", "1")
    no_color = cli_runner().invoke(cli, args, color=True)
    assert not ANSI.search(no_color.stdout)

    sync_args = ["sync", *args[1:]]
    monkeypatch.delenv("NO_COLOR")
    synced = cli_runner().invoke(cli, sync_args, color=True)
    assert synced.exit_code == 0, synced.output
    assert "\x1b[32m  Namespace/ml-dev created" in synced.stdout


def test_sandbox_and_init_print_what_they_made_as_json(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    reconciler = str(Path(sys.executable).parent / "reconciler")
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [reconciler, "sandbox", "--kubeconfig", str(kubeconfig), "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # Piped, the document is one line (indented only on a terminal).
        line = proc.stdout.readline()
        assert line.endswith("}\n"), "the sandbox ended before printing its JSON"
        info = json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert info["server"].startswith("http://127.0.0.1:") and info["context"] == "sandbox"
    assert info["kubeconfig"] == str(kubeconfig) and kubeconfig.is_file()

    made = subprocess.run(
        [reconciler, "init", str(tmp_path / "repo"), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    assert re.fullmatch(r"[0-9a-f]{40}", data["commit"])
    assert "pipelines/classifier.yaml" in [f["path"] for f in data["files"]]
    assert (tmp_path / "repo" / "pipelines" / "classifier.yaml").is_file()


COMMON = {"--repo", "--kubeconfig", "--context", "--state-dir", "--format", "--output", "--help"}
"""Options the README states once for every command instead of on each line."""


def test_the_readme_commands_block_lists_every_option() -> None:
    import click

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("```\nreconciler init ")
    block = readme[start + 4 : readme.index("```", start + 4)]
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        m = re.search(rf"^reconciler {name}\b(.*?)(?=^reconciler |\Z)", block, re.S | re.M)
        assert m, f"reconciler {name} is not in the README's Commands block"
        options = {
            o
            for p in command.params
            if isinstance(p, click.Option)
            for o in p.opts + p.secondary_opts
        }
        shown = set(re.findall(r"--[a-z][a-z-]*", m.group(1)))
        missing = {o for o in options if o.startswith("--")} - shown - COMMON
        assert not missing, f"reconciler {name}: {sorted(missing)} not in the README"
        unknown = shown - options
        assert not unknown, f"reconciler {name}: the README shows {sorted(unknown)}, not options"
        if any(o == "-o" for p in command.params for o in getattr(p, "opts", [])):
            assert "[-o " in m.group(1), f"reconciler {name}: -o not shown"


def test_shell_completion_offers_environments_and_pipelines(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.support import dvcrepos

    work = dvcrepos.copy_example_repo(tmp_path / "work")
    reconciler = str(Path(sys.executable).parent / "reconciler")

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_RECONCILER_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        proc = subprocess.run(
            [reconciler], cwd=work, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        return [line.split(",", 1)[1] for line in proc.stdout.splitlines()]

    assert complete("reconciler plan --env ") == ["dev", "exp", "prod", "staging"]
    assert complete("reconciler status --env p") == ["prod"]
    assert complete("reconciler history fr") == ["fraud-detector"]
    assert complete("reconciler st") == ["status"]


def test_retry_prints_the_request_as_json(tmp_path: Path, sandbox: Any) -> None:
    import json

    world = make_world(tmp_path, sandbox)
    out = world.until(lambda o: status(o, "llm-finetune").status in ("Succeeded", "Failed"))
    run = status(out, "llm-finetune").run
    result = cli_runner().invoke(
        cli,
        [
            "retry",
            "llm-finetune",
            "--env",
            "dev",
            "--no-sync",
            "-o",
            "json",
            "--repo",
            str(world.work),
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "--state-dir",
            str(tmp_path / "cli-state"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["pipeline"], data["run"], data["attempt"]) == ("llm-finetune", run, 2)
    assert data["attemptRun"] == f"{run}-2" and data["synced"] is False


def test_status_and_review_are_coloured_on_a_terminal_only(
    tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, sandbox)
    cluster = ["--kubeconfig", str(sandbox.kubeconfig), "--state-dir", str(tmp_path / "state")]
    status_args = ["status", "--env", "dev", "--repo", str(world.work), *cluster]
    dvcrepos.git(world.work, "checkout", "-q", "-b", "exp/lr-sweep")
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.02")
    dvcrepos.commit_all(world.work, "lr 0.02")
    review_args = ["review", "main..exp/lr-sweep", "--repo", str(world.work), *cluster[2:]]
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    def run(args: list[str], code: int) -> str:
        result = cli_runner().invoke(cli, args, color=True)
        assert result.exit_code == code, result.output
        return str(result.stdout)

    piped = (run(status_args, 0), run(review_args, 2))
    assert not any(ANSI.search(text) for text in piped), piped
    monkeypatch.setenv("FORCE_COLOR", "1")
    status_text, review_text = run(status_args, 0), run(review_args, 2)
    assert "sync \x1b[33mOutOfSync\x1b[0m" in status_text, status_text
    assert "health \x1b[33mMissing\x1b[0m" in status_text, status_text
    assert "\x1b[36m| resnet50 | " in review_text and " | new run |\x1b[0m" in review_text
    assert ANSI.sub("", review_text) == piped[1]
    assert not ANSI.search(run([*status_args, "-o", "json"], 0))
    assert not ANSI.search(run([*review_args, "-o", "json"], 2))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not ANSI.search(run(status_args, 0) + run(review_args, 2))
