"""Say in one line why a finished run ended as it did, from its provenance record.

Called by the run tracker (``status`` and the daemon's logs show it for the current run)
and by the run history (``history``, the web page). The record keeps the run's reason
(``step train failed``) and each step's own reason and message (``OOMKilled``, the tail of
a termination message that was not JSON); this joins them without repeating a part the run
reason already says. A Succeeded run has no failure reason; a Cancelled one says what
superseded it.
"""

from __future__ import annotations

from typing import Any

from reconciler.structs.runs import RunStatus


def _step_detail(step: Any) -> str:
    parts = []
    for name in ("reason", "message"):
        text = str(getattr(step, name, "") or "").strip()
        if text and text not in parts:
            parts.append(text)
    return ": ".join(parts)


def run_reason(record: Any) -> str:
    """Return why a recorded run ended ("" for a Succeeded run).

    ``record`` is a :class:`reconciler.provenance.records.RunRecord`. Failed: the run's
    reason and the first failed step's own reason and message tail; Cancelled: the reason
    and the commit that superseded it.
    """
    status = str(record.status)
    if status == RunStatus.SUCCEEDED:
        return ""
    text = str(record.reason or "").strip() or f"run {status.lower()}"
    if status == RunStatus.FAILED:
        failed = [s for s in record.steps if str(getattr(s, "status", "")) == "Failed"]
        if failed:
            step = failed[0]
            if step.name not in text:
                text = f"{text}: step {step.name}"
            detail = _step_detail(step)
            if detail and detail not in text:
                text = f"{text}: {detail}"
    elif status == RunStatus.CANCELLED and record.superseded_by:
        commit = str(record.superseded_by)[:12]
        if commit not in text:
            text = f"{text} (commit {commit})"
    return text


def gate_reason(record: Any) -> str:
    """Return why a recorded run is not served ("" if it was promoted)."""
    if record.promoted:
        return ""
    promotion = record.promotion
    if str(record.status) != RunStatus.SUCCEEDED:
        return f"run {record.run_name} {str(record.status).lower()}: {run_reason(record)}"
    if promotion is not None and promotion.reason:
        return f"run {record.run_name} not promoted: {promotion.reason}"
    return f"run {record.run_name} not promoted"
