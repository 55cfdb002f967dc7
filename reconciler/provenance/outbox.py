"""The outbox: records written to disk before they are committed, kept until they are pushed.

Called by :class:`reconciler.provenance.store.ProvenanceStore`. A record is first written
atomically (temporary file, fsync, rename, fsync of the directory) to
``<state_dir>/outbox/<key>.json``, and removed only once it is in Git (pushed, or committed
when there is no remote). If the process dies or the remote is unreachable, the record waits
there and the next :meth:`~reconciler.provenance.store.ProvenanceStore.flush` delivers it, in
the order records were queued.

One file per (branch, path): the key is a hash of both, so queueing the same record twice is
a no-op, and a *different* record for the same run never replaces the queued one (a record is
never written twice). Each file is a small JSON envelope: branch, path, queue time and
sequence, the record's YAML text, byte for byte as it will be committed, and a summary of
the record (pipeline, run, status...) that the commit message is made of, so that delivering
hundreds of records parses none of them (envelopes written before it have no summary).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.structs.errors import ProvenanceError

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1


@dataclass(frozen=True)
class OutboxEntry:
    """One queued record: where it goes (branch, path), its text, and when it was queued."""

    key: str
    branch: str
    path: str
    text: str
    queued_at: datetime
    seq: int
    summary: Mapping[str, Any] | None = field(default=None, compare=False)
    """What the commit message says of the record (see ``delivery.record_summary``)."""

    @property
    def run_name(self) -> str:
        """The run name, from the file name of the record's path."""
        return self.path.rsplit("/", 1)[-1].removesuffix(".yaml")


def entry_key(branch: str, path: str) -> str:
    """Return the outbox key of a (branch, path): a hex hash, safe as a file name."""
    return hashlib.sha256(f"{branch}\0{path}".encode()).hexdigest()[:32]


class Outbox:
    """A directory of queued records; safe against crashes at any point of a write."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def put(
        self, branch: str, path: str, text: str, summary: Mapping[str, Any] | None = None
    ) -> tuple[OutboxEntry, bool]:
        """Queue a record (and its ``summary``); return ``(entry, added)``.

        If the same (branch, path) is already queued, nothing is written and the queued
        entry is returned with ``added=False`` (its text may differ from ``text``: the
        caller reports that as a conflict). Raises ProvenanceError if the file cannot be
        written durably.
        """
        key = entry_key(branch, path)
        existing = self.get(key)
        if existing is not None:
            return existing, False
        return self._create(key, branch, path, text, summary, sync_dir=True)

    def _create(
        self,
        key: str,
        branch: str,
        path: str,
        text: str,
        summary: Mapping[str, Any] | None,
        *,
        sync_dir: bool,
    ) -> tuple[OutboxEntry, bool]:
        now = datetime.now(UTC)
        entry = OutboxEntry(key, branch, path, text, now, time.time_ns(), summary)
        envelope: dict[str, Any] = {
            "version": ENVELOPE_VERSION,
            "branch": branch,
            "path": path,
            "queuedAt": now.isoformat().replace("+00:00", "Z"),
            "seq": entry.seq,
            "record": text,
        }
        if summary is not None:
            envelope["summary"] = dict(summary)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            created = _create_atomically(
                self._file(key), json.dumps(envelope, indent=1).encode(), sync_dir=sync_dir
            )
        except OSError as exc:
            raise ProvenanceError(
                f"cannot queue provenance record {path} in {self.directory}: {exc.strerror or exc}"
            ) from exc
        if not created:  # another process queued the same key between our get and link
            queued = self.get(key)
            if queued is not None:
                return queued, False
        return entry, True

    def put_many(
        self,
        records: Sequence[tuple[str, str, str]],
        summaries: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[tuple[OutboxEntry, bool]]:
        """Queue many ``(branch, path, text)`` records; return ``(entry, added)`` for each.

        As :meth:`put`, with one directory sync for all of them: every file is written and
        synced, linked into place, and then the directory is synced once. ``summaries``, if
        given, has one summary (or None) per record.
        """
        out: list[tuple[OutboxEntry, bool]] = []
        created_any = False
        for index, (branch, path, text) in enumerate(records):
            key = entry_key(branch, path)
            existing = self.get(key)
            if existing is not None:
                out.append((existing, False))
                continue
            summary = summaries[index] if summaries is not None else None
            entry, created = self._create(key, branch, path, text, summary, sync_dir=False)
            created_any = created_any or created
            out.append((entry, created))
        if created_any:
            _fsync_dir(self.directory)
        return out

    def get(self, key: str) -> OutboxEntry | None:
        """Return the entry of a key, or None if none is queued (or its file is unreadable)."""
        return self._load(self._file(key))

    def entries(self, branch: str | None = None) -> list[OutboxEntry]:
        """Return queued entries, oldest first; only those for ``branch`` if given."""
        if not self.directory.is_dir():
            return []
        found = [self._load(p) for p in self.directory.glob("*.json")]
        entries = [e for e in found if e is not None and (branch is None or e.branch == branch)]
        return sorted(entries, key=lambda e: (e.seq, e.key))

    def remove(self, key: str) -> None:
        """Delete an entry once its record is in Git (missing already: fine)."""
        self.remove_many([key])

    def remove_many(self, keys: Sequence[str]) -> None:
        """Delete entries once their records are in Git, with one directory sync."""
        if not keys:
            return
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                self._file(key).unlink()
        _fsync_dir(self.directory)

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _load(self, file: Path) -> OutboxEntry | None:
        try:
            data = json.loads(file.read_bytes())
            return OutboxEntry(
                key=file.stem,
                branch=str(data["branch"]),
                path=str(data["path"]),
                text=str(data["record"]),
                queued_at=datetime.fromisoformat(str(data["queuedAt"]).replace("Z", "+00:00")),
                seq=int(data["seq"]),
                summary=data["summary"] if isinstance(data.get("summary"), dict) else None,
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Never delete it: a human must look. Writes are atomic, so this is not a torn write.
            log.error("provenance outbox: unreadable entry %s: %s", file, exc)
            return None


def _create_atomically(target: Path, data: bytes, *, sync_dir: bool = True) -> bool:
    """Create ``target`` holding all of ``data``, durably; False if it already exists.

    The data is written and fsynced to a temporary file first, then hard-linked into place
    (``link`` fails if the target exists, so two writers never overwrite each other), so a
    reader or a crash sees either no file or the whole file.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError:
            # A file system without hard links: a rename is still atomic, only not exclusive.
            if target.exists():
                return False
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    if sync_dir:
        _fsync_dir(target.parent)
    return True


def _fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
