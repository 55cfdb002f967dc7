"""The exception tree of the reconciler.

::

    ReconcilerError                 base: every error the CLI prints without a traceback
    ├── SpecErrors                  one or more SpecError (bad input in the watched repository)
    ├── SourceError                 git: unknown ref, unreadable repository, push failure
    ├── RenderError                 kustomize failed, dataset pointer cannot be resolved
    ├── ClusterError                an API call failed; starts with the object's identity
    │   └── MissingCRDError         a kind's CRD is not installed; names the operator
    └── ProvenanceError             a record could not be written, pushed or read
        └── RecordError             one run's record could not be written: names its path

``SpecError`` is a value, not an exception: validation gathers every error at once.
``RecordError`` is reported the same way (beside the SpecErrors of a reconcile's outcome,
the run's objects kept): a failed record is not a problem of any spec file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class SpecError:
    """One problem in one file: printed as ``path:line:column: field.path: message``.

    ``line`` and ``column`` are 1-based; 0 means unknown (the file as a whole).
    ``field`` is the dotted path inside the document (``spec.steps[1].needs``), or ``""``.
    """

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by ``--format json``."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class ReconcilerError(Exception):
    """Base class: an error the user can act on, printed without a traceback."""


class SpecErrors(ReconcilerError):
    """Bad input in the watched repository; carries every error found."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = sorted(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class SourceError(ReconcilerError):
    """A git operation failed (unknown ref, unreadable repository, rejected push)."""


class RenderError(ReconcilerError):
    """An environment could not be rendered (kustomize failed, a pointer did not resolve)."""


class ClusterError(ReconcilerError):
    """An API call failed. The message starts with the object's identity when there is one."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


class MissingCRDError(ClusterError):
    """A kind is not served by the cluster: its operator (CRD) is not installed."""


class ProvenanceError(ReconcilerError):
    """A provenance record could not be committed, pushed or read."""


class RecordError(ProvenanceError):
    """A finished run's record could not be written: ``path: provenance: message``.

    ``path`` is the record's repository path (``runs/<env>/<pipeline>/<run>.yaml``). The
    engine reports it in the outcome rather than raising it; the run's objects are kept.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: provenance: {message}")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by ``--format json``."""
        return {"path": self.path, "kind": "provenance", "message": self.message}
