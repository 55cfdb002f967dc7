"""Bare mirrors of remote repositories in the state directory, refreshed by ``git fetch``.

Used by the daemon's fetch function (built in ``reconciler.cli.run``) when ``--repo`` is a
URL, and by anything else that needs a remote repository as a local path. The mirror
holds only what the remote has (branches and tags): deleting the cache directory loses
nothing.

Credentials in a URL (``https://user:token@host/repo.git``) are given to this process's git
children in memory (:func:`provide_credentials`), never stored in the mirror's config,
never logged and never put in an error message (:func:`reconciler.source.git.redact`).
Git runs through :mod:`reconciler.source.git`: it never prompts (a fetch that needs
credentials it lacks fails at once with git's whole message) and is killed after
:data:`DEFAULT_TIMEOUT`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from reconciler.source import git as gitcmd
from reconciler.source.repos import open_repo, redact_url
from reconciler.structs.errors import SourceError

log = logging.getLogger(__name__)

FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
WATCHED_REFS = ("refs/heads/", "refs/tags/", "HEAD")
DEFAULT_TIMEOUT = gitcmd.NETWORK_TIMEOUT
"""Seconds a clone or fetch may take before it is abandoned."""

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_LIKE = re.compile(r"^[^/:@]+@[^/:]+:")  # git@github.com:org/repo.git


def is_url(repo: str) -> bool:
    """Return True if ``repo`` names a remote (``scheme://...`` or ``user@host:path``)."""
    return bool(_URL_SCHEME.match(repo) or _SCP_LIKE.match(repo))


def mirror_path(url: str, cache_dir: Path) -> Path:
    """Return where the mirror of ``url`` lives: ``<cache_dir>/<name>-<hash>.git``.

    The hash is of the URL without its credentials, so rotating a token keeps the mirror.
    """
    public = redact_url(url)
    stem = re.sub(r"\.git$", "", public.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", stem)[:40] or "repo"
    digest = hashlib.sha256(public.encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{stem}-{digest}.git"


def _git(args: list[str], *, url: str, timeout: float) -> None:
    """Run git for the mirror of ``url``; SourceError naming the URL (redacted) on failure."""
    try:
        gitcmd.run(args, timeout=timeout)
    except gitcmd.GitError as exc:
        raise SourceError(f"{redact_url(url)}: {exc}") from exc


def _register(url: str) -> None:
    """Make every git message redact the credentials of ``url``."""
    if _URL_SCHEME.match(url):
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
        for secret in (userinfo, userinfo.partition(":")[2]):
            gitcmd.register_secret(secret)


def provide_credentials(url: str) -> None:
    """Let this process's git children use ``url``'s credentials without storing them.

    Registers ``url.<url>.insteadOf <url without credentials>`` through git's
    ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` environment variables
    (git >= 2.31), so the mirror's ``origin`` (stored without credentials) fetches and
    pushes with them: our own fetches and the provenance store's pushes alike (it copies
    the environment when it is created, so call this first). A URL without credentials,
    or one already registered, changes nothing.
    """
    public = redact_url(url)
    if public == url:
        return
    _register(url)
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    key = f"url.{url}.insteadOf"
    if any(os.environ.get(f"GIT_CONFIG_KEY_{i}") == key for i in range(count)):
        return
    os.environ[f"GIT_CONFIG_KEY_{count}"] = key
    os.environ[f"GIT_CONFIG_VALUE_{count}"] = public
    os.environ["GIT_CONFIG_COUNT"] = str(count + 1)


def ensure_mirror(url: str, cache_dir: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Create or refresh the bare mirror of ``url`` in ``cache_dir``; return its path.

    The mirror's ``origin`` is the URL without credentials (see
    :func:`provide_credentials`), fetching branches and tags into ``refs/heads`` and
    ``refs/tags``; the provenance store pushes to the same ``origin``. The first call
    fetches into a temporary directory that is renamed into place only once the fetch
    succeeded, so a failed first clone leaves nothing half-made; if another process (a
    second daemon on the same state directory) put its mirror there first, that one is
    fetched and used. Later calls ``git fetch
    --prune`` (a branch deleted upstream disappears). Raises :class:`SourceError` (URL
    redacted) if git fails or takes over ``timeout``.
    """
    provide_credentials(url)
    path = mirror_path(url, cache_dir)
    fetch = ["fetch", "--prune", "--quiet", "--no-write-fetch-head", "origin", *FETCH_REFSPECS]
    if (path / "HEAD").is_file():
        _git(["--git-dir", str(path), *fetch], url=url, timeout=timeout)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=path.parent))
    try:
        _git(["init", "--quiet", "--bare", str(tmp)], url=url, timeout=timeout)
        configure = ["--git-dir", str(tmp), "config"]
        _git([*configure, "remote.origin.url", redact_url(url)], url=url, timeout=timeout)
        for spec in FETCH_REFSPECS:
            _git([*configure, "--add", "remote.origin.fetch", spec], url=url, timeout=timeout)
        _git(["--git-dir", str(tmp), *fetch], url=url, timeout=timeout)
        _set_head(tmp, url, timeout)
        try:
            tmp.rename(path)
        except OSError:
            if not (path / "HEAD").is_file():
                raise
            # Another process sharing the state directory made the mirror first: use it.
            shutil.rmtree(tmp, ignore_errors=True)
            _git(["--git-dir", str(path), *fetch], url=url, timeout=timeout)
            return path
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("mirrored %s into %s", redact_url(url), path)
    return path


def _set_head(path: Path, url: str, timeout: float) -> None:
    """Point the mirror's HEAD at the remote's default branch (if the remote says)."""
    try:
        listing = gitcmd.output(
            ["--git-dir", str(path), "ls-remote", "--symref", "origin", "HEAD"], timeout=timeout
        )
    except gitcmd.GitError:
        return
    for line in listing.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            target = line[len("ref: ") :].split("\t", 1)[0]
            _git(["--git-dir", str(path), "symbolic-ref", "HEAD", target], url=url, timeout=timeout)
            return


def local_or_mirror(repo: str, cache_dir: Path) -> tuple[Path, bool]:
    """Return ``(path, is_mirror)`` for ``--repo``: a local repository as is, a URL mirrored.

    Raises :class:`SourceError` if a local path does not exist or a mirror cannot be made.
    """
    if is_url(repo):
        return ensure_mirror(repo, cache_dir), True
    path = Path(repo).expanduser()
    if not path.exists():
        raise SourceError(f"{repo}: no such repository (not a directory, not a URL)")
    return path.resolve(), False


Follow = Literal["remote", "local"]
"""What a daemon given a local clone deploys: its remote's branches, or its own (development)."""


def remote_of(repo: Path) -> str | None:
    """Return the URL of a work tree's ``origin`` (a relative path made absolute), or None.

    None for a bare repository (its branches are the ones people push to) and for a work
    tree without an ``origin``.
    """
    handle = open_repo(repo)
    if handle.bare or handle.workdir is None:
        return None
    url = handle.remote_url("origin")
    if not url:
        return None
    if not is_url(url) and not url.startswith("file:") and not Path(url).is_absolute():
        url = str((handle.workdir / url).resolve())
    return url


def followed(repo: str, follow: Follow) -> tuple[str, bool]:
    """Return what the daemon fetches for ``--repo`` and ``--follow``: ``(source, mirrored)``.

    A URL is mirrored. A local work tree with ``follow="remote"`` is followed through its
    ``origin``: that remote is mirrored and fetched, so what is deployed is what was pushed,
    never the clone's local, unpushed commits. ``follow="local"`` (development) uses the
    repository itself, local branches first. A bare repository is used as it is. Raises
    :class:`SourceError` for a missing path, and for a work tree without ``origin`` unless
    ``follow="local"``.
    """
    if is_url(repo):
        return repo, True
    path = Path(repo).expanduser()
    if not path.exists():
        raise SourceError(f"{repo}: no such repository (not a directory, not a URL)")
    if follow == "local":
        return str(path.resolve()), False
    handle = open_repo(path)
    if handle.bare:
        return str(path.resolve()), False
    url = remote_of(path)
    if url is None:
        raise SourceError(
            f"{repo}: a clone without a remote 'origin'; the daemon deploys what is pushed "
            "to a remote: add one and push, or pass --follow local to deploy this "
            "repository's local branches (development)"
        )
    return url, True


def read_refs(repo: Path) -> dict[str, str]:
    """Return ``{refname: sha}`` of every ref of a repository, plus ``HEAD``.

    Raises :class:`SourceError` if ``repo`` is not a Git repository.
    """
    handle = open_repo(repo)
    refs = handle.refs()
    head = handle.resolve("HEAD")
    if head is not None:
        refs["HEAD"] = head
    return refs


def refs_fetcher(
    repo: str, cache_dir: Path, *, follow: Follow = "local"
) -> tuple[Path, Callable[[], bool]]:
    """Return the repository path for ``--repo`` and a fetch function for the daemon.

    What is followed is :func:`followed`'s choice (with ``follow="local"``, a local path
    is used as it is). The function fetches the mirror (nothing to fetch for a local path)
    and returns True if a branch, a tag or HEAD differs from the previous call (the first
    call: True). Remote-tracking refs (the provenance store's fetches) do not count.
    """
    source, mirrored = followed(repo, follow)
    path = ensure_mirror(source, cache_dir) if mirrored else Path(source)
    last: dict[str, str] | None = None

    def fetch() -> bool:
        nonlocal last
        if mirrored:
            ensure_mirror(source, cache_dir)
        refs = {k: v for k, v in read_refs(path).items() if k.startswith(WATCHED_REFS)}
        changed = refs != last
        last = refs
        return changed

    return path, fetch
