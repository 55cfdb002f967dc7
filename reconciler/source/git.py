"""Run git: the one place the reconciler starts a git process.

Called by :mod:`reconciler.source.repos` (history queries), :mod:`reconciler.source.mirrors`
(clone, fetch), :mod:`reconciler.provenance.plumbing` (fetch, push, compare-and-swap ref
updates) and the daemon's refs watcher. Objects and refs are read and written in-process by
:mod:`reconciler.source.objects` (libgit2); git's command line is used for what needs git
itself: the network (fetch, push, ls-remote, with the user's credential helpers and ssh
configuration), history walks with pathspecs, and ref transactions.

Every process started here gets:

- a clean environment: variables a hook or a parent git sets (``GIT_DIR``,
  ``GIT_INDEX_FILE``, ``GIT_WORK_TREE``, ...) are dropped, so a reconciler started from a
  hook still reads the repository it was given;
- the C locale, so messages read the same everywhere and can be classified;
- no prompts: ``GIT_TERMINAL_PROMPT=0``, no askpass, ssh in batch mode; a command that needs
  credentials it lacks fails at once instead of waiting for a terminal;
- a timeout (:data:`LOCAL_TIMEOUT`, or the caller's), after which its whole process group
  (ssh, remote helpers) is killed;
- credential redaction: ``user:password@`` in any URL, and every secret registered with
  :func:`register_secret`, are removed from every message;
- housekeeping in the foreground: ``gc.autoDetach=false`` (``GIT_CONFIG_COUNT``), so
  the ``gc --auto`` git runs after a fetch (and
  :meth:`~reconciler.provenance.plumbing.GitRepo.housekeep` after a delivery) never
  leaves a git process behind to outlive a one-shot command or, where the reconciler is
  a container's process 1, end as a zombie nobody reaps.

A failure raises :class:`GitError` with git's whole message (every line but ``hint:``
lines), never only its last line.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.structs.errors import SourceError

LOCAL_TIMEOUT = 120.0
"""Seconds a local git command may take."""
NETWORK_TIMEOUT = 300.0
"""Seconds a fetch, push or clone may take before the remote counts as unreachable."""

_DROP_ENV = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_PREFIX",
        "GIT_NAMESPACE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_QUARANTINE_PATH",
        "GIT_CEILING_DIRECTORIES",
        "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_EDITOR",
        "GIT_PAGER",
    }
)
_FIXED_ENV = {
    "LC_ALL": "C",
    "LANGUAGE": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "GCM_INTERACTIVE": "never",
    "GIT_PAGER": "cat",
}
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_OPTIONS_WITH_VALUE = frozenset({"-c", "-C", "--git-dir", "--work-tree", "--namespace"})


class GitError(SourceError):
    """A git command failed or timed out.

    ``command`` is git's subcommand (``fetch``, ``push``), ``returncode`` its exit status
    (None after a timeout) and ``stderr`` its whole message, redacted.
    """

    def __init__(
        self, message: str, *, command: str = "", returncode: int | None = None, stderr: str = ""
    ) -> None:
        self.command = command
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(message)


class GitTimeout(GitError):
    """A git command took longer than its timeout and was killed."""


def register_secret(secret: str) -> None:
    """Remove ``secret`` from every message this module produces from now on.

    Used for the credentials of a mirrored URL; secrets shorter than 4 characters are
    ignored (they would redact ordinary words).
    """
    if len(secret) >= 4:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: str) -> str:
    """Return ``text`` without URL credentials (``scheme://user:pw@`` loses ``user:pw@``)
    and without any registered secret."""
    text = _URL_USERINFO.sub(r"\g<scheme>", text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of a git process: this process's, cleaned (see the module)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(_FIXED_ENV)
    ssh = env.get("GIT_SSH_COMMAND") or "ssh"
    if "BatchMode" not in ssh:
        env["GIT_SSH_COMMAND"] = f"{ssh} -o BatchMode=yes"
    _add_config(env, "gc.autoDetach", "false")
    if extra:
        env.update(extra)
    return env


def _add_config(env: dict[str, str], key: str, value: str) -> None:
    """Add ``key=value`` to the configuration ``env`` gives git (after any it gives)."""
    try:
        count = max(0, int(env.get("GIT_CONFIG_COUNT") or 0))
    except ValueError:  # not a count: git would refuse it; ours is the only entry
        count = 0
    env[f"GIT_CONFIG_KEY_{count}"] = key
    env[f"GIT_CONFIG_VALUE_{count}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + 1)


def message_of(stderr: bytes | str) -> str:
    """Return git's whole message on one line: every line but hints, redacted."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith("hint:")]
    return redact(" ".join(kept))


def subcommand(args: Sequence[str]) -> str:
    """Return the git subcommand in ``args`` (skipping ``-c key=value`` and the like)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _OPTIONS_WITH_VALUE:
            skip = True
            continue
        if not arg.startswith("-"):
            return arg
    return ""


def run(
    args: Sequence[str],
    *,
    repo: Path | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = LOCAL_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git [-C repo] args``; return the finished process (stdout and stderr as bytes).

    Raises :class:`GitError` (whole message, redacted) if git exits non-zero and ``check``,
    :class:`GitTimeout` if it runs longer than ``timeout`` seconds (whatever ``check``),
    and :class:`GitError` if git itself cannot be started.
    """
    cmd = ["git", *(["-C", str(repo)] if repo is not None else []), *args]
    name = subcommand(args)
    where = f" in {repo}" if repo is not None else ""
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(env),
            start_new_session=True,
        )
    except OSError as exc:
        raise GitError(f"git {name}{where}: cannot run git: {exc.strerror or exc}") from exc
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise GitTimeout(f"git {name}{where}: timed out after {timeout:g}s", command=name) from None
    except BaseException:
        _kill_group(proc)
        raise
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and proc.returncode != 0:
        detail = message_of(err) or message_of(out) or f"exit {proc.returncode}"
        raise GitError(
            f"git {name}{where}: {detail}",
            command=name,
            returncode=proc.returncode,
            stderr=message_of(err),
        )
    return result


def output(
    args: Sequence[str],
    *,
    repo: Path | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = LOCAL_TIMEOUT,
) -> str:
    """Run git (see :func:`run`) and return its stdout as text, stripped."""
    proc = run(args, repo=repo, input=input, env=env, timeout=timeout)
    return proc.stdout.decode(errors="replace").strip()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a git process and everything it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.communicate(timeout=5)
