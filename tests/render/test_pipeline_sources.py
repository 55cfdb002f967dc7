"""reconciler.render.overlays.pipeline_sources: each pipeline file's name, read fast or exactly.

A plain file is read by the C parser; a file that may hold an anchor, alias or tag, or that
has an error, by the position-tracking loader. Both must give the same names, and errors
must still name the file and line.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.render import overlays
from reconciler.source import caches
from reconciler.specs import loading


def pipeline(name: str, extra: str = "") -> str:
    return (
        f"apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\nmetadata: {{name: {name}}}\n{extra}"
    )


def test_plain_and_hazardous_files_give_the_same_names(tmp_path: Path) -> None:
    files = {
        "plain.yaml": pipeline("plain"),
        "tagged.yaml": pipeline("tagged", "spec: {n: !!str 5}\n"),
        "quoted.yaml": 'kind: "Pipeline"\nmetadata:\n  name: "quoted"\n',
        "number.yaml": "kind: Pipeline\nmetadata: {name: 12}\n",
        "other.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n",
    }
    for name, text in files.items():
        (tmp_path / "pipelines").mkdir(exist_ok=True)
        (tmp_path / "pipelines" / name).write_text(text)
    found, errors = overlays.pipeline_sources(tmp_path, cache=caches.ContentCache())
    assert errors == []
    assert set(found) == {"plain", "tagged", "quoted"}
    for name, text in files.items():
        content = text.encode()
        exact = overlays._kind_and_name(loading.load_document(content, path=name))
        fast = overlays._plain_kind_and_name(content)
        assert fast in (None, exact), name
    assert overlays._plain_kind_and_name(files["tagged.yaml"].encode()) is None  # exact loader


def test_errors_still_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines/dup-key.yaml").write_text(pipeline("a") + "kind: Pipeline\n")
    (tmp_path / "pipelines/b1.yaml").write_text(pipeline("b"))
    (tmp_path / "pipelines/b2.yaml").write_text(pipeline("b"))
    (tmp_path / "pipelines/two.yaml").write_text(pipeline("c") + "---\n" + pipeline("d"))
    found, errors = overlays.pipeline_sources(tmp_path, cache=caches.ContentCache())
    assert set(found) == {"b"}
    shown = {f"{e.path}:{e.line}: {e.message}" for e in errors}
    assert any(s.startswith("pipelines/dup-key.yaml:4:") and "duplicate key" in s for s in shown)
    assert any(
        s.startswith("pipelines/b2.yaml:3:") and "duplicate pipeline name" in s for s in shown
    )
    assert any(s.startswith("pipelines/two.yaml:") for s in shown)
