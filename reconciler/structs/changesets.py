"""The one reporting type every layer speaks: plan, sync, the CLI, logs and provenance.

Modelled on Flux's ``ssa.ChangeSet``: an entry is a subject (an object's identity) and an
action; printed as ``Kind/namespace/name action``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.structs.manifests import ObjectRef


class Action(StrEnum):
    """What happened (or, in a plan, would happen) to one object."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"
    CONFLICT = "conflict"
    FAILED = "failed"


@dataclass
class ChangeSetEntry:
    """One object and its action; ``message`` explains skips, conflicts and failures."""

    subject: ObjectRef
    action: Action
    message: str = ""
    diff: str = ""

    def __str__(self) -> str:
        text = f"{self.subject} {self.action}"
        return f"{text}: {self.message}" if self.message else text

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by ``--format json`` and logs."""
        out: dict[str, Any] = {
            "kind": self.subject.kind,
            "group": self.subject.group,
            "namespace": self.subject.namespace,
            "name": self.subject.name,
            "action": str(self.action),
        }
        if self.message:
            out["message"] = self.message
        if self.diff:
            out["diff"] = self.diff
        return out


@dataclass
class ChangeSet:
    """An ordered list of entries with counts by action."""

    entries: list[ChangeSetEntry] = field(default_factory=list)

    def add(self, subject: ObjectRef, action: Action, message: str = "", diff: str = "") -> None:
        """Append one entry."""
        self.entries.append(ChangeSetEntry(subject, action, message, diff))

    def extend(self, other: ChangeSet) -> None:
        """Append every entry of another change set."""
        self.entries.extend(other.entries)

    def counts(self) -> dict[str, int]:
        """Return the number of entries per action (every action present, zero if none)."""
        c = Counter(e.action for e in self.entries)
        return {str(a): c.get(a, 0) for a in Action}

    @property
    def failed(self) -> bool:
        """True if any entry is a failure or a conflict."""
        return any(e.action in (Action.FAILED, Action.CONFLICT) for e in self.entries)

    @property
    def changed(self) -> bool:
        """True if any entry creates, configures or deletes an object."""
        return any(
            e.action in (Action.CREATED, Action.CONFIGURED, Action.DELETED) for e in self.entries
        )

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.entries)

    def to_list(self) -> list[dict[str, Any]]:
        """Return the JSON form of every entry."""
        return [e.to_dict() for e in self.entries]
