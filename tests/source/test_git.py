"""The one git runner: clean environment, whole messages, redaction, timeouts."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from reconciler.source import git as gitcmd
from reconciler.source import mirrors
from reconciler.structs.errors import SourceError


def test_whole_message_is_kept_not_only_its_last_line(tmp_path: Path) -> None:
    """git's "Could not read from remote repository. Please make sure ... exists." stays whole."""
    repo = tmp_path / "r"
    gitcmd.run(["init", "-q", str(repo)])
    gitcmd.run(["remote", "add", "origin", str(tmp_path / "missing.git")], repo=repo)
    with pytest.raises(gitcmd.GitError) as err:
        gitcmd.run(["fetch", "origin"], repo=repo)
    message = str(err.value)
    assert message.startswith(f"git fetch in {repo}: ")
    assert "does not appear to be a git repository" in message
    assert "Could not read from remote repository." in message
    assert "and the repository exists." in message
    assert "\n" not in message
    assert err.value.command == "fetch" and err.value.returncode == 128
    assert isinstance(err.value, SourceError)


def test_hook_variables_are_dropped_and_locale_is_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "r"
    gitcmd.run(["init", "-q", str(repo)])
    # As inside a hook of another repository: git would read that one instead.
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "index"))
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    assert gitcmd.output(["rev-parse", "--absolute-git-dir"], repo=repo) == str(repo / ".git")
    env = gitcmd.environment()
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env
    assert env["LC_ALL"] == "C" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert "BatchMode=yes" in env["GIT_SSH_COMMAND"]
    assert os.environ["GIT_DIR"]  # this process's own environment is left alone


def test_git_housekeeping_runs_in_the_foreground_after_the_users_own_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "r"
    gitcmd.run(["init", "-q", str(repo)])
    gitcmd.run(["config", "gc.autoDetach", "true"], repo=repo)  # git's default, said aloud
    assert gitcmd.output(["config", "gc.autoDetach"], repo=repo) == "false"
    # A caller's own GIT_CONFIG_COUNT entries are kept; ours comes after them.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "someone")
    assert gitcmd.output(["config", "user.name"], repo=repo) == "someone"
    assert gitcmd.output(["config", "gc.autoDetach"], repo=repo) == "false"
    assert gitcmd.environment()["GIT_CONFIG_COUNT"] == "2"


def test_credentials_never_appear_in_messages(tmp_path: Path) -> None:
    url = "http://deploy-bot:ghp_zzSECRETzz@127.0.0.1:9/ml/pipelines.git"
    mirrors.provide_credentials(url)
    assert gitcmd.redact(f"cannot reach {url} (token ghp_zzSECRETzz)") == (
        "cannot reach http://127.0.0.1:9/ml/pipelines.git (token ***)"
    )
    with pytest.raises(SourceError) as err:
        mirrors.ensure_mirror(url, tmp_path / "cache", timeout=30)
    assert "ghp_zzSECRETzz" not in str(err.value)
    assert "deploy-bot" not in str(err.value)


def running_with(marker: str) -> list[str]:
    """Return the command lines of live processes that mention ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(cmdline)
    return found


def test_timeout_kills_the_process_group() -> None:
    """A git that hangs (here: an alias running a shell) is killed with its children."""
    marker = f"hang-{uuid.uuid4().hex}"
    with pytest.raises(gitcmd.GitTimeout, match=r"timed out after 0\.5s"):
        gitcmd.run(["-c", f"alias.hang=!sleep 300; echo {marker}", "hang"], timeout=0.5)
    assert running_with(marker) == []


def test_subcommand_skips_global_options() -> None:
    assert gitcmd.subcommand(["-c", "a.b=c", "--git-dir", "x", "push", "origin"]) == "push"
    assert gitcmd.subcommand(["--no-pager", "log"]) == "log"
