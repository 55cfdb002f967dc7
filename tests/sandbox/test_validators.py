"""Validation rules that a differential scenario cannot reach in step with kube-apiserver
(the two servers' controllers write status meanwhile): checked on the rules themselves."""

from __future__ import annotations

from reconciler.sandbox.validators import jobs


def test_a_job_status_count_never_goes_back() -> None:
    """``succeeded`` and ``failed`` may grow, never shrink (ValidateJobUpdateStatus)."""
    assert jobs.status_causes({"succeeded": 3, "failed": 1}, {"succeeded": 2, "failed": 1}) == []
    causes = jobs.status_causes({"succeeded": 1, "failed": 0}, {"succeeded": 2, "failed": 1})
    assert [(field, message) for _, field, message in causes] == [
        ("status.succeeded", "Invalid value: 1: cannot decrease the succeeded counter"),
        ("status.failed", "Invalid value: 0: cannot decrease the failed counter"),
    ]
