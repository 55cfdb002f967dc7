"""Render a ChangeSet (a plan or a sync) as plain text, markdown or JSON.

Called by the ``plan``, ``sync`` and ``review`` commands. Plain text is rich-friendly (no
markup, no colour codes: print it with ``markup=False`` or ``click.echo``); markdown is a
pull-request comment (a summary, a table of changes, one collapsible diff per update,
kept under GitHub's comment size); JSON is ``{"summary": {...}, "changes": [...]}``.

Unchanged objects are counted, not listed (unless asked). Entries of one kind that share
an action and a message (e.g. 40 Jobs of a kind whose operator is missing) are folded into
one line. Diffs come already masked (Secret values never appear).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby

from reconciler.structs.changesets import Action, ChangeSet, ChangeSetEntry

SYMBOLS = {
    Action.CREATED: "+",
    Action.CONFIGURED: "~",
    Action.DELETED: "-",
    Action.CONFLICT: "!",
    Action.FAILED: "x",
    Action.SKIPPED: "=",
    Action.UNCHANGED: " ",
}
ORDER = (
    Action.FAILED,
    Action.CONFLICT,
    Action.CREATED,
    Action.CONFIGURED,
    Action.DELETED,
    Action.SKIPPED,
    Action.UNCHANGED,
)
MARKDOWN_LIMIT = 60_000
"""Characters of markdown at most (GitHub refuses comments over 65,536)."""
FOLD_NAMES = 3


def summary(changeset: ChangeSet, *, plan: bool = True) -> str:
    """Return the one-line summary: ``3 to create, 1 to update, ...`` (plan) or past tense."""
    c = changeset.counts()
    if plan:
        parts = [
            f"{c['created']} to create",
            f"{c['configured']} to update",
            f"{c['deleted']} to delete",
        ]
    else:
        parts = [f"{c['created']} created", f"{c['configured']} updated", f"{c['deleted']} pruned"]
    parts += [
        f"{c['unchanged']} unchanged",
        f"{c['skipped']} kept",
        f"{c['conflict']} conflicts",
        f"{c['failed']} failed",
    ]
    return ", ".join(parts)


def _groups(changeset: ChangeSet, show_unchanged: bool) -> Iterator[list[ChangeSetEntry]]:
    """Yield entries by action order; same kind, action and message fold into one group."""
    for action in ORDER:
        if action is Action.UNCHANGED and not show_unchanged:
            continue
        entries = [e for e in changeset.entries if e.action is action]
        if action in (Action.CREATED, Action.CONFIGURED, Action.DELETED, Action.UNCHANGED):
            foldable = [e for e in entries if e.message and not e.diff]
        else:
            foldable = [e for e in entries if e.message]
        folded_ids: set[int] = set()
        keyed = sorted(foldable, key=lambda e: (e.subject.kind, e.message))
        folded: dict[int, list[ChangeSetEntry]] = {}
        for _, group in groupby(keyed, key=lambda e: (e.subject.kind, e.message)):
            items = list(group)
            if len(items) > 1:
                folded[id(items[0])] = items
                folded_ids.update(id(e) for e in items)
        for entry in entries:
            if id(entry) in folded:
                yield folded[id(entry)]
            elif id(entry) not in folded_ids:
                yield [entry]


def _subject(group: list[ChangeSetEntry]) -> str:
    if len(group) == 1:
        return str(group[0].subject)
    names = [e.subject.name for e in group[:FOLD_NAMES]]
    more = f", and {len(group) - FOLD_NAMES} more" if len(group) > FOLD_NAMES else ""
    ns = {e.subject.namespace for e in group}
    where = f"/{next(iter(ns))}" if len(ns) == 1 and next(iter(ns)) else ""
    return f"{len(group)} {group[0].subject.kind}{where} ({', '.join(names)}{more})"


def _line(group: list[ChangeSetEntry]) -> str:
    entry = group[0]
    text = f"{_subject(group)} {entry.action}"
    return f"{text}: {entry.message}" if entry.message else text


def format_text(
    changeset: ChangeSet, *, title: str = "", plan: bool = True, show_unchanged: bool = False
) -> str:
    """Return the change set as indented plain lines with diffs and a summary line."""
    lines: list[str] = [title] if title else []
    for group in _groups(changeset, show_unchanged):
        lines.append(f"  {SYMBOLS[group[0].action]} {_line(group)}")
        if len(group) == 1 and group[0].diff:
            lines.extend(f"      {d}" for d in group[0].diff.rstrip("\n").splitlines())
    if len(lines) == (1 if title else 0):
        lines.append("  no changes" if plan else "  nothing changed")
    lines.append(("Plan: " if plan else "Sync: ") + summary(changeset, plan=plan))
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(
    changeset: ChangeSet, *, title: str = "", plan: bool = True, show_unchanged: bool = False
) -> str:
    """Return the change set as a pull-request comment (GitHub-flavoured markdown).

    A heading, the summary in bold, a table of changes, then each update's diff in a
    collapsible block; diffs that would push the comment over :data:`MARKDOWN_LIMIT` are
    left out with a note saying how many.
    """
    out: list[str] = []
    if title:
        out += [f"### {title}", ""]
    out += [f"**{summary(changeset, plan=plan)}**", ""]
    groups = list(_groups(changeset, show_unchanged))
    if not groups:
        out.append("No changes." if plan else "Nothing changed.")
        return "\n".join(out) + "\n"
    out += ["| | Object | Action | Note |", "|---|---|---|---|"]
    for group in groups:
        entry = group[0]
        out.append(
            f"| {SYMBOLS[entry.action].strip() or '='} | `{_md_cell(_subject(group))}` "
            f"| {entry.action} | {_md_cell(entry.message)} |"
        )
    out.append("")
    size = sum(len(line) + 1 for line in out)
    left_out = 0
    for group in groups:
        entry = group[0]
        if len(group) != 1 or not entry.diff:
            continue
        block = [
            f"<details><summary><code>{entry.subject}</code> {entry.action}</summary>",
            "",
            "```diff",
            entry.diff.rstrip("\n").replace("```", "` ` `"),
            "```",
            "</details>",
            "",
        ]
        block_size = sum(len(line) + 1 for line in block)
        if size + block_size > MARKDOWN_LIMIT:
            left_out += 1
            continue
        out += block
        size += block_size
    if left_out:
        out.append(f"_{left_out} diffs left out to keep this comment under GitHub's size limit._")
    return "\n".join(out) + "\n"


def format_json(changeset: ChangeSet, *, show_unchanged: bool = True) -> str:
    """Return ``{"summary": counts, "changes": [entry, ...]}`` as indented JSON."""
    changes = [
        e.to_dict() for e in changeset.entries if show_unchanged or e.action is not Action.UNCHANGED
    ]
    return json.dumps({"summary": changeset.counts(), "changes": changes}, indent=2) + "\n"
