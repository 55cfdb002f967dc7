"""MlflowSink: records logged as MLflow runs in a local file store (skipped without mlflow)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import ProvenanceStore
from reconciler.structs.runs import RunStatus

mlflow = pytest.importorskip("mlflow")

Factory = Callable[..., RunRecord]


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a local file store, as in tests
    return (tmp_path / "mlruns").as_uri()


def test_record_becomes_one_mlflow_run(tracking_uri: str, record_factory: Factory) -> None:
    from reconciler.provenance.mlflow_sink import MlflowSink

    sink = MlflowSink(tracking_uri)
    rec = record_factory(attempt=2)
    run_id = sink.log(rec)
    run = sink.client.get_run(run_id)
    assert run.info.run_name == "a1b2c3d4e5-2"
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "lr": "0.01",
        "epochs": "10",
        "dataset.train.md5": "d41d8cd98f00b204e9800998ecf8427e",
    }
    assert run.data.metrics == {
        "accuracy": 0.95,
        "loss": 0.21,
        "train.loss": 0.21,
        "train.accuracy": 0.9,
        "evaluate.accuracy": 0.95,
    }
    tags = run.data.tags
    assert tags["reconciler.run"] == "a1b2c3d4e5"
    assert tags["reconciler.attempt"] == "2"
    assert (
        tags["reconciler.commit"]
        == tags["mlflow.source.git.commit"]
        == "0123456789abcdef" * 2 + "01234567"
    )
    assert tags["reconciler.promoted"] == "true"
    assert sink.client.get_experiment(run.info.experiment_id).name == "resnet50"
    # idempotent: logging the same record again finds the same run
    assert sink.log(rec) == run_id
    failed = sink.client.get_run(sink.log(record_factory("b2", status=RunStatus.FAILED)))
    assert failed.info.status == "FAILED"


def test_store_logs_what_it_commits(
    clone: Path, tmp_path: Path, tracking_uri: str, record_factory: Factory
) -> None:
    from reconciler.provenance.mlflow_sink import MlflowSink

    sink = MlflowSink(tracking_uri, experiment="{env}-{pipeline}")
    store = ProvenanceStore(clone, remote=None, state_dir=tmp_path / "s", sinks=[sink])
    store.write("experiments/resnet50", record_factory())
    store.write("experiments/resnet50", record_factory())  # unchanged: not logged again
    exp = sink.client.get_experiment_by_name("prod-resnet50")
    runs = sink.client.search_runs([exp.experiment_id])
    assert [r.info.run_name for r in runs] == ["a1b2c3d4e5"]


def test_failing_sink_does_not_lose_the_record(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    def broken(record: RunRecord) -> None:
        raise RuntimeError("tracking server down")

    store = ProvenanceStore(clone, remote=None, state_dir=tmp_path / "s", sinks=[broken])
    assert store.write("experiments/resnet50", record_factory()).outcome == "written"
    assert store.get("experiments/resnet50", "prod", "resnet50", "a1b2c3d4e5") is not None
