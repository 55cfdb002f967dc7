"""Resolve a pipeline's DVC pointers (``datasets/<name>.dvc``) with DVC's own library.

Called by ``reconciler.render.environments`` for every pipeline it renders (and by
``review`` to compare datasets). For each pointer it returns the md5 (a directory keeps
its ``.dir`` suffix), size and number of files as written by ``dvc add``, the remote that
holds the data and the URL of that md5 in it (what ``dvc.api.get_url`` gives), and, when
asked, whether the remote really holds it (for a directory: the ``.dir`` listing and
every file in it).

Nothing here re-implements DVC: the pointer is loaded by DVC's single-stage loader (with
its schema), remotes come from DVC's config (``.dvc/config``, ``config.local``, the
user's and the system's, relative URLs resolved as DVC does) and URLs from the remote's
object database. ``repo_root`` is any directory holding the repository's files at one
commit: a work tree or a ``git archive`` export (no ``.git``); DVC is opened without SCM
so both behave the same, and DVC never walks up to a parent repository.

Every problem is a :class:`SpecError` on the pointer file (or on ``.dvc/config``), never a
traceback: a missing file, a file that is not a DVC pointer, a path outside the
repository (absolute, ``..``, or a symlink leading out), no remote configured, or
(``check_remote``) a remote that does not hold the data. A local remote inside a
repository read without a work tree (a URL the daemon mirrors) is a logged warning.

DVC is imported lazily (it is slow to import); :class:`DatasetResolver` opens DVC's
``Repo`` once per repository tree and caches remotes and pointers, so resolving many
pipelines of one commit costs one open.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import TracebackType
from typing import TYPE_CHECKING, Any

from reconciler.render import kustomize_inputs
from reconciler.source import repos, trees
from reconciler.specs import loading
from reconciler.structs.errors import ReconcilerError, SpecError, SpecErrors

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from dvc.output import Output
    from dvc.repo import Repo
    from dvc_data.hashfile.db import HashFileDB

DVC_CONFIG = ".dvc/config"
POINTER_SUFFIX = ".dvc"
_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")


@dataclass(frozen=True)
class DatasetFacts:
    """What a pipeline's dataset resolves to; recorded in run ids and provenance."""

    name: str
    """Dataset name in the pipeline (``train``)."""
    path: str
    """Repository-relative pointer path (``datasets/imagenet-mini.dvc``)."""
    md5: str
    """As in the pointer; a directory keeps its ``.dir`` suffix."""
    size: int | None
    """Bytes (a directory: the sum of its files); None if the pointer does not say."""
    nfiles: int | None
    """Files in a directory; None for a single file."""
    remote: str
    """Name of the DVC remote used (the output's own ``remote:`` or the default)."""
    url: str
    """URL of the md5 in that remote, as ``dvc.api.get_url`` gives it."""
    in_remote: bool | None
    """True if the remote was checked and holds everything; None if not checked."""

    @property
    def is_dir(self) -> bool:
        """True if the dataset is a directory (its md5 ends in ``.dir``)."""
        return self.md5.endswith(".dir")

    @property
    def data_url(self) -> str:
        """Where the data is: a file's URL, or a directory's object prefix in the remote.

        DVC keeps a directory as its files' objects plus a ``.dir`` listing (``url``) of
        relative path -> md5, all under ``<prefix>/<md5[:2]>/<md5[2:]>``.
        """
        return self.url.rsplit("/", 2)[0] + "/" if self.is_dir else self.url

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by provenance records and ``--format json``."""
        return dataclasses.asdict(self)


def resolve_dataset(
    repo_root: Path, pointer: str, *, name: str, check_remote: bool
) -> DatasetFacts:
    """Resolve one pointer of the repository tree at ``repo_root``.

    Raises SpecErrors (on the pointer file, or on ``.dvc/config``) if it cannot be
    resolved; see :meth:`DatasetResolver.resolve`.
    """
    with DatasetResolver(repo_root, check_remote=check_remote) as resolver:
        return resolver.resolve(pointer, name=name)


def resolve_datasets(
    repo_root: Path, pointers: Mapping[str, str], *, check_remote: bool
) -> tuple[dict[str, DatasetFacts], list[SpecError]]:
    """Resolve every ``name -> pointer`` of a pipeline; return the facts and the errors.

    A dataset that fails is missing from the facts and has its errors in the list, each
    message starting with ``dataset 'NAME':``. DVC is opened once.
    """
    with DatasetResolver(repo_root, check_remote=check_remote) as resolver:
        return resolver.resolve_all(pointers)


class DatasetResolver:
    """Resolve pointers of one repository tree, opening DVC's ``Repo`` at most once.

    Use it as a context manager (or call :meth:`close`) when resolving the pipelines of
    every environment of one commit. Not thread-safe. Results are cached per pointer
    and remotes per name for the resolver's lifetime: build a new one for a new tree.
    """

    def __init__(self, repo_root: Path, *, check_remote: bool, source: Path | None = None) -> None:
        self.root = Path(repo_root)
        self.check_remote = check_remote
        self.source = source
        self._repo: Repo | None = None
        self._open_error: SpecError | None = None
        self._odbs: dict[tuple[str | None, str], tuple[str, HashFileDB] | SpecError] = {}
        self._facts: dict[str, DatasetFacts | list[SpecError]] = {}

    def __enter__(self) -> DatasetResolver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release DVC's Repo (its state database and lock handles)."""
        if self._repo is not None:
            repo, self._repo = self._repo, None
            # Closing must never mask the outcome of the resolution itself.
            with contextlib.suppress(Exception):
                repo.close()

    def resolve_all(
        self, pointers: Mapping[str, str]
    ) -> tuple[dict[str, DatasetFacts], list[SpecError]]:
        """Resolve every ``name -> pointer``; return the facts and the (deduplicated) errors."""
        facts: dict[str, DatasetFacts] = {}
        errors: list[SpecError] = []
        for name, pointer in pointers.items():
            try:
                facts[name] = self.resolve(pointer, name=name)
            except SpecErrors as exc:
                errors.extend(e for e in exc.errors if e not in errors)
        return facts, errors

    def resolve(self, pointer: str, *, name: str) -> DatasetFacts:
        """Resolve the pointer at repository-relative path ``pointer`` for dataset ``name``.

        Raises SpecErrors if the pointer is not a relative ``.dvc`` path inside the
        repository (absolute, escaping with ``..``, or a symlink leading out), does not
        exist, is not a DVC pointer (bad YAML, DVC's schema, no or several outs, no md5),
        names a data path outside the repository, if no remote is configured for it, or,
        with ``check_remote``, if the remote does not hold the md5 (or a file of a
        directory) or cannot be reached.
        """
        key = _normalise(pointer)
        cached = self._facts.get(key) if key is not None else None
        if cached is None:
            try:
                cached = self._resolve_uncached(pointer, key)
            except SpecErrors as exc:
                cached = exc.errors
            if key is not None:
                self._facts[key] = cached
        if isinstance(cached, list):
            raise SpecErrors(
                [dataclasses.replace(e, message=f"dataset {name!r}: {e.message}") for e in cached]
            )
        return dataclasses.replace(cached, name=name)

    # -- steps ---------------------------------------------------------------------------

    def _resolve_uncached(self, pointer: str, key: str | None) -> DatasetFacts:
        path = self._check_path(pointer, key)
        repo = self._open()
        out = self._load_output(repo, path, pointer)
        md5 = str(out.hash_info.value)
        remote, odb = self._odb(out.remote, out.hash_info.name or "md5", pointer)
        try:
            url = str(odb.fs.unstrip_protocol(odb.oid_to_path(md5)))
        except Exception as exc:
            raise _errors(
                key or pointer, "", f"cannot build the URL of {md5} in remote {remote!r}: {exc}"
            ) from None
        url = self._stable_url(url, remote, str(getattr(odb, "path", "") or url))
        in_remote: bool | None = None
        if self.check_remote:
            in_remote = self._check_in_remote(odb, out, remote, pointer)
        meta = out.meta
        return DatasetFacts(
            name="",
            path=pointer if key is None else key,
            md5=md5,
            size=meta.size if meta and meta.size is not None else None,
            nfiles=meta.nfiles if meta and meta.nfiles is not None else None,
            remote=remote,
            url=url,
            in_remote=in_remote,
        )

    def _stable_url(self, url: str, remote: str, remote_root: str) -> str:
        """Return the real location of the data: where a pod (or anyone) can read it.

        Remote URLs with a scheme (s3://, gs://, azure://, http(s)://...) are returned as
        DVC builds them; a local remote's is an absolute path, as DVC gives it. DVC resolves
        a relative local
        remote against the tree it was opened on, which for an exported commit is a
        temporary directory; the URL goes into step env vars (Job templates are immutable)
        and records, so a remote inside the repository is named in the *source*
        repository the reconciler reads (``source``: the clone or work tree), which is
        where it really is and does not move between reconciles. Without a source, such a
        remote can only be named by its repository-relative path.

        When the source has no work tree (a mirror of a URL, a bare repository), the
        remote's files are only blobs in Git there and the path names a directory inside
        the reconciler's own state that no pod can see. It is still rendered: pods can
        ``dvc get`` the data by ``DVC_REPO_URL`` and the dataset's REV when the store is
        committed (the demo and the tests run that way); a warning, logged once per
        repository, remote and process, says so and what to do on a real cluster.
        ``remote_root`` (the remote's object database root) is named in it.
        """
        if "://" in url and not url.startswith("file://"):
            return url
        local = Path(url.removeprefix("file://"))
        try:
            rel = local.resolve().relative_to(self.root.resolve())
        except ValueError:
            return url
        if self.source is None:
            return rel.as_posix()
        warned = (str(self.source), remote)
        if warned not in _WARNED and _without_work_tree(Path(self.source)):
            _WARNED.add(warned)
            where = Path(remote_root.removeprefix("file://")).resolve()
            if where.parts[-2:] == ("files", "md5"):  # DVC 3's layout under the remote
                where = where.parent.parent
            with contextlib.suppress(ValueError):
                where = where.relative_to(self.root.resolve())
            log.warning(
                "DVC remote %r is a local path inside the repository (%s), and the "
                "repository is read without a work tree (a URL the reconciler mirrors, or a "
                "bare repository): DATASET_*_URL names it inside the reconciler's mirror, "
                "which no pod can read. Pods can still fetch the data with dvc get --rev "
                "$DATASET_<NAME>_REV $DVC_REPO_URL $DATASET_<NAME>_DVC_PATH when the store is "
                "committed to Git; on a real cluster, point the remote at an object store "
                "(dvc remote add -d -f %s s3://BUCKET/PATH, dvc push, commit .dvc/config)",
                remote,
                where.as_posix(),
                remote,
            )
        return str(Path(self.source).resolve() / rel)

    def _check_path(self, pointer: str, key: str | None) -> Path:
        if not pointer or not pointer.strip():
            raise _errors(pointer, "", "the pointer path is empty")
        if PurePosixPath(pointer).is_absolute() or PureWindowsPath(pointer).is_absolute():
            raise _errors(
                pointer, "", "must be a path relative to the repository, not an absolute path"
            )
        if key is None:
            raise _errors(pointer, "", "points outside the repository ('..')")
        if not key.endswith(POINTER_SUFFIX):
            raise _errors(pointer, "", f"is not a DVC pointer file (a {POINTER_SUFFIX} file)")
        path = self.root / key
        if not path.exists() and not path.is_symlink():
            refused = trees.refused_at(self.root, key)  # a link out, left out of the copy
            if refused:
                raise _errors(key, "", refused)
            data = key.removesuffix(POINTER_SUFFIX)
            if self.source is not None and (Path(self.source) / key).is_file():
                raise _errors(
                    key,
                    "",
                    "the DVC pointer file is in the work tree but not in this commit: "
                    f"`dvc add` writes it, Git must carry it (git add {key} && git commit, "
                    "then git push; and dvc push for the data)",
                )
            raise _errors(
                key,
                "",
                f"the DVC pointer file does not exist (dvc add {data} writes it; then "
                f"git add {key} && git commit, and dvc push for the data)",
            )
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise _errors(key, "", "is a broken symlink") from None
        if not resolved.is_relative_to(self.root.resolve()):
            raise _errors(key, "", "is a symlink that points outside the repository; refused")
        if not resolved.is_file():
            raise _errors(key, "", "is not a file")
        # DVC's own loader expands aliases without a budget: a pointer that may hold an
        # anchor, alias or tag gets the limits of pipeline files before DVC reads it.
        content = resolved.read_bytes()
        if kustomize_inputs.needs_yaml_check(content):
            loading.load_document(content, path=key)
        return path

    def _open(self) -> Repo:
        if self._repo is not None:
            return self._repo
        if self._open_error is not None:
            raise SpecErrors([self._open_error])
        if not (self.root / ".dvc").is_dir():
            self._open_error = SpecError(
                DVC_CONFIG,
                0,
                0,
                "",
                "the repository has no .dvc directory: run `dvc init` and commit "
                ".dvc/config with a remote",
            )
            raise SpecErrors([self._open_error])
        try:
            from dvc.repo import Repo

            # No SCM: repo_root may be a `git archive` export, and with a work tree DVC
            # would otherwise touch .gitignore files. DVC's per-repository scratch (state
            # and index databases) goes to the tree's own .dvc/tmp (ignored by
            # .dvc/.gitignore), not to a shared site cache that would gain a directory
            # for every temporary export and never lose it.
            site_cache = self.root.resolve() / ".dvc" / "tmp" / "site-cache"
            core = {"no_scm": True, "site_cache_dir": str(site_cache)}
            self._repo = Repo(str(self.root), config={"core": core})
        except Exception as exc:
            self._open_error = SpecError(DVC_CONFIG, 0, 0, "", f"DVC cannot open it: {exc}")
            raise SpecErrors([self._open_error]) from None
        return self._repo

    def _load_output(self, repo: Repo, path: Path, pointer: str) -> Output:
        from dvc.dvcfile import SingleStageFile
        from dvc.exceptions import DvcException
        from dvc.stage.exceptions import StageFileDoesNotExistError
        from dvc.utils.strictyaml import YAMLSyntaxError, YAMLValidationError

        rel = _normalise(pointer) or pointer
        try:
            stage = SingleStageFile(repo, str(path)).stage
        except YAMLSyntaxError as exc:
            raise SpecErrors([_syntax_error(rel, exc)]) from None
        except YAMLValidationError as exc:
            raise SpecErrors(_validation_errors(rel, exc)) from None
        except StageFileDoesNotExistError:
            raise _errors(rel, "", "is ignored by .dvcignore, so DVC cannot read it") from None
        except DvcException as exc:
            raise _errors(rel, "", f"not a DVC pointer: {exc}") from None
        except Exception as exc:
            raise _errors(rel, "", f"DVC cannot load it: {exc}") from None
        outs = list(stage.outs)
        if not outs:
            raise _errors(rel, "outs", "not a DVC pointer: it tracks no output (use `dvc add`)")
        if len(outs) > 1:
            raise _errors(
                rel, "outs", f"a dataset pointer must track exactly one output, not {len(outs)}"
            )
        out = outs[0]
        md5 = out.hash_info.value if out.hash_info else None
        if not md5:
            raise _errors(rel, "outs[0].md5", "no md5: the data was never committed (`dvc add` it)")
        if not _MD5.match(str(md5)):
            raise _errors(rel, "outs[0].md5", f"{md5!r} is not an md5 (32 hex digits)")
        if not out.is_in_repo:
            raise _errors(
                rel,
                "outs[0].path",
                f"{out.def_path!r} is outside the repository; refused",
            )
        return out

    def _odb(self, name: str | None, hash_name: str, pointer: str) -> tuple[str, HashFileDB]:
        key = (name, hash_name)
        cached = self._odbs.get(key)
        if cached is None:
            cached = self._open_odb(name, hash_name)
            self._odbs[key] = cached
        if isinstance(cached, SpecError):
            raise SpecErrors([dataclasses.replace(cached, path=_normalise(pointer) or pointer)])
        return cached

    def _open_odb(self, name: str | None, hash_name: str) -> tuple[str, HashFileDB] | SpecError:
        from dvc.config import NoRemoteError, RemoteNotFoundError

        repo = self._open()
        remote = name or repo.config["core"].get("remote")
        # An output's own `remote:` is the pointer's doing; the default is the config's.
        field = "outs[0].remote" if name else ""
        try:
            odb = repo.cloud.get_remote_odb(name, hash_name=hash_name)
        except NoRemoteError:
            return SpecError(
                "",
                0,
                0,
                "",
                "no DVC remote: .dvc/config sets no default remote "
                "(dvc remote add -d NAME URL, then commit .dvc/config)",
            )
        except RemoteNotFoundError:
            return SpecError("", 0, 0, field, f"DVC remote {remote!r} is not configured")
        except Exception as exc:
            layout = _layout_without_plugin(repo, str(remote), hash_name, exc)
            if layout is None:
                return SpecError("", 0, 0, field, f"DVC remote {remote!r} cannot be used: {exc}")
            return str(remote), layout  # type: ignore[return-value]
        return str(remote), odb

    def _check_in_remote(self, odb: HashFileDB, out: Output, remote: str, pointer: str) -> bool:
        rel = _normalise(pointer) or pointer
        md5 = str(out.hash_info.value)
        if isinstance(odb, _RemoteLayout):
            raise _errors(
                rel,
                "",
                f"cannot check remote {remote!r}: {odb.missing} "
                f"(pip install 'dvc[{odb.scheme}]' next to the reconciler)",
            )
        try:
            if not odb.exists(md5):
                raise _errors(
                    rel, "outs[0].md5", f"remote {remote!r} does not hold {md5} (run `dvc push`)"
                )
            if md5.endswith(".dir"):
                from dvc_data.hashfile.tree import Tree

                tree = Tree.load(odb, out.hash_info)
                wanted = {hi.value for _key, _meta, hi in tree if hi and hi.value}
                missing = wanted - set(odb.oids_exist(wanted))  # type: ignore[no-untyped-call]
                if missing:
                    raise _errors(
                        rel,
                        "outs[0].md5",
                        f"remote {remote!r} holds the listing {md5} but not {len(missing)} "
                        f"of its {len(wanted)} files (run `dvc push`)",
                    )
        except SpecErrors:
            raise
        except Exception as exc:
            raise _errors(rel, "", f"cannot check remote {remote!r}: {exc}") from None
        return True


# -- helpers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _RemoteLayout:
    """Where DVC puts objects in a remote whose filesystem plugin is not installed.

    ``s3://``, ``gs://``, ``azure://``... need ``dvc-s3``, ``dvc-gs``, ``dvc-azure`` (and
    their cloud SDKs) for DVC to open them, but the URL of an object is DVC's fixed layout
    (``<url>/files/md5/<md5[:2]>/<md5[2:]>``; the root itself for DVC 2's
    ``md5-dos2unix``), which is all that rendering needs: the reconciler names the data
    without installing every cloud's SDK. Checking that the remote holds it does need the
    plugin. Quacks like the two methods of DVC's HashFileDB that resolution uses.
    """

    base: str
    scheme: str
    missing: str

    @property
    def fs(self) -> _RemoteLayout:
        return self

    def oid_to_path(self, oid: str) -> str:
        return f"{self.base}/{oid[:2]}/{oid[2:]}"

    def unstrip_protocol(self, path: str) -> str:
        return path


def _layout_without_plugin(
    repo: Repo, remote: str, hash_name: str, exc: Exception
) -> _RemoteLayout | None:
    """Return the object layout of a remote DVC cannot open only for want of its plugin."""
    from dvc.cachemgr import LEGACY_HASH_NAMES
    from dvc_objects.fs.errors import RemoteMissingDepsError

    # DVC raises ImportError ("s3 is supported, but requires 'dvc-s3' to be installed")
    # when it looks the filesystem up, RemoteMissingDepsError when the plugin lacks an SDK.
    if not isinstance(exc, ImportError | RemoteMissingDepsError):
        return None
    conf = repo.config["remote"].get(remote) or {}
    url = str(conf.get("url") or "")
    scheme = url.partition("://")[0]
    if not scheme or url == scheme or conf.get("worktree") or conf.get("version_aware"):
        return None
    base = url.rstrip("/")
    if hash_name not in LEGACY_HASH_NAMES:
        base += "/files/md5"
    return _RemoteLayout(base=base, scheme=scheme, missing=str(exc))


def _normalise(pointer: str) -> str | None:
    """Return the normalised repository-relative POSIX path, or None if it leaves the repo."""
    if not pointer:
        return None
    norm = posixpath.normpath(pointer.replace("\\", "/"))
    if norm == ".." or norm.startswith("../") or norm.startswith("/"):
        return None
    return norm


_WARNED: set[tuple[str, str]] = set()
"""(Repository, remote) pairs warned about by :meth:`DatasetResolver._stable_url` in this process."""


def _without_work_tree(source: Path) -> bool:
    """True if ``source`` is a Git repository with no work tree (a mirror, a bare one)."""
    try:
        return repos.open_repo(source).workdir is None
    except ReconcilerError:
        return False


def _errors(path: str, field: str, message: str) -> SpecErrors:
    return SpecErrors([SpecError(path, 0, 0, field, message)])


def _field(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _syntax_error(path: str, exc: Exception) -> SpecError:
    cause = getattr(getattr(exc, "exc", None), "__cause__", None)
    mark = getattr(cause, "problem_mark", None) or getattr(cause, "context_mark", None)
    problem = getattr(cause, "problem", None) or getattr(cause, "context", None) or "bad syntax"
    line = getattr(mark, "line", -1) + 1
    column = getattr(mark, "column", -1) + 1
    return SpecError(path, line, column, "", f"not a DVC pointer: invalid YAML: {problem}")


def _validation_errors(path: str, exc: Exception) -> list[SpecError]:
    invalid = getattr(exc, "exc", None)
    errors = list(getattr(invalid, "errors", []) or [])
    text = getattr(exc, "text", "")
    data: Any = None
    try:
        from dvc.utils.serialize import parse_yaml_for_update
        from dvc.utils.strictyaml import determine_linecol

        data = parse_yaml_for_update(text, path)
    except Exception:
        data = None
    out: list[SpecError] = []
    for err in errors:
        parts = list(getattr(err, "path", []) or [])
        line = column = 0
        if isinstance(data, Mapping) and parts:
            try:
                found_line, found_col, _steps = determine_linecol(data, parts)
                line, column = found_line or 0, found_col or 0
            except Exception:
                line = column = 0
        message = getattr(err, "error_message", None) or str(err)
        out.append(SpecError(path, line, column, _field(parts), f"not a DVC pointer: {message}"))
    return out or [SpecError(path, 0, 0, "", f"not a DVC pointer: {exc}")]
