"""Plan output: plain text, markdown (a PR comment) and JSON from a ChangeSet."""

from __future__ import annotations

import json

from reconciler.plan import formatting
from reconciler.structs.changesets import Action, ChangeSet
from reconciler.structs.manifests import ObjectRef

DIFF = "--- live/x\n+++ desired/x\n@@ -1,2 +1,2 @@\n spec:\n-  replicas: 2\n+  replicas: 3\n"
MISSING = "PyTorchJob (kubeflow.org/v1) is not served by the cluster: is the Kubeflow training operator installed?"


def ref(kind: str, name: str, group: str = "") -> ObjectRef:
    return ObjectRef(group, kind, "ml-dev", name)


def changeset() -> ChangeSet:
    cs = ChangeSet()
    cs.add(ref("Deployment", "resnet50", "apps"), Action.CONFIGURED, diff=DIFF)
    cs.add(ref("Service", "resnet50"), Action.CREATED)
    cs.add(ref("Job", "old-run-train", "batch"), Action.DELETED)
    cs.add(ref("ConfigMap", "settings"), Action.UNCHANGED)
    cs.add(ref("Service", "taken"), Action.CONFLICT, "exists and is not owned by this environment")
    for i in range(5):
        cs.add(ref("PyTorchJob", f"llm-{i}-train", "kubeflow.org"), Action.FAILED, MISSING)
    return cs


def test_text_lists_changes_with_the_diff_and_a_summary() -> None:
    text = formatting.format_text(changeset(), title="Plan for dev (ml-dev)")
    assert text.splitlines()[-1] == (
        "Plan: 1 to create, 1 to update, 1 to delete, 1 unchanged, 0 kept, 1 conflicts, 5 failed"
    )
    assert "  ~ Deployment/ml-dev/resnet50 configured\n      --- live/x" in text


def test_text_folds_one_missing_operator_into_one_line() -> None:
    text = formatting.format_text(changeset())
    lines = [line for line in text.splitlines() if "PyTorchJob" in line]
    assert lines == [
        "  x 5 PyTorchJob/ml-dev (llm-0-train, llm-1-train, llm-2-train, and 2 more) failed: "
        + MISSING
    ]


def test_text_hides_unchanged_unless_asked() -> None:
    assert "settings" not in formatting.format_text(changeset())
    assert "settings unchanged" in formatting.format_text(changeset(), show_unchanged=True)


def test_text_of_nothing() -> None:
    assert formatting.format_text(ChangeSet()).splitlines()[0] == "  no changes"


def test_markdown_has_a_table_and_collapsible_diffs() -> None:
    md = formatting.format_markdown(changeset(), title="dev")
    assert "| ~ | `Deployment/ml-dev/resnet50` | configured |  |" in md
    assert "<details><summary><code>Deployment/ml-dev/resnet50</code> configured</summary>" in md
    assert "```diff\n--- live/x" in md


def test_markdown_escapes_pipes() -> None:
    cs = ChangeSet()
    cs.add(ref("Service", "a"), Action.FAILED, "bad | value")
    assert "bad \\| value" in formatting.format_markdown(cs)


def test_markdown_stays_under_the_comment_limit() -> None:
    cs = ChangeSet()
    big = "--- a\n+++ b\n" + "+x\n" * 5000
    for i in range(30):
        cs.add(ref("ConfigMap", f"c{i}"), Action.CONFIGURED, diff=big)
    md = formatting.format_markdown(cs)
    assert len(md) < 65_536 and "diffs left out" in md


def test_json_is_machine_readable() -> None:
    data = json.loads(formatting.format_json(changeset()))
    assert data["summary"]["failed"] == 5 and data["changes"][0]["diff"] == DIFF
