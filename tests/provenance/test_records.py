"""RunRecord: YAML round trip, stable bytes, forward compatibility, errors, secrets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from ruamel.yaml import YAML

from reconciler.provenance.records import RunRecord, SourceInfo, record_path
from reconciler.provenance.scrubbing import REDACTED, is_credential_name, redact_url
from reconciler.structs.errors import ProvenanceError
from reconciler.structs.runs import RunStatus

Factory = Callable[..., RunRecord]


def test_round_trip_keeps_every_field(record_factory: Factory) -> None:
    rec = record_factory()
    back = RunRecord.from_yaml(rec.to_yaml())
    assert back == rec
    assert back.to_yaml() == rec.to_yaml()


def test_yaml_is_stable_and_ordered(record_factory: Factory) -> None:
    text = record_factory().to_yaml()
    assert text == record_factory().to_yaml()
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert keys[:8] == ["apiVersion", "kind", "id", "run", "attempt", "pipeline", "env", "status"]
    assert keys[-2:] == ["spec", "reconcilerVersion"]


def test_contract_fields_in_yaml(record_factory: Factory) -> None:
    data = YAML(typ="safe").load(record_factory().to_yaml())
    assert data["status"] == "Succeeded"
    assert data["metrics"] == {
        "train": {"loss": 0.21, "accuracy": 0.9},
        "evaluate": {"accuracy": 0.95},
    }
    # flat view: the later step wins for a name two steps report
    assert data["metricsFlat"] == {"loss": 0.21, "accuracy": 0.95}
    assert data["timestamps"]["durationSeconds"] == 3000.0
    assert data["timestamps"]["finished"] == "2024-05-01T13:00:00Z"
    assert data["datasets"]["train"]["md5"] == "d41d8cd98f00b204e9800998ecf8427e"
    train = data["steps"][0]
    assert train["object"] == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "namespace": "ml-prod",
        "name": "resnet50-a1b2c3d4e5-train",
        "uid": "uid-train",
    }
    assert train["digest"].startswith("sha256:")
    assert data["promotion"] == {
        "promoted": True,
        "metric": "accuracy",
        "value": 0.95,
        "threshold": 0.92,
        "reason": "accuracy 0.95 >= 0.92",
    }
    assert data["source"]["specPath"] == "pipelines/resnet50.yaml"


def test_attempt_names_and_paths(record_factory: Factory) -> None:
    rec = record_factory(attempt=3)
    assert rec.run_name == "a1b2c3d4e5-3"
    assert rec.path == "runs/prod/resnet50/a1b2c3d4e5-3.yaml"
    data = YAML(typ="safe").load(rec.to_yaml())
    assert (data["id"], data["run"], data["attempt"], data["trigger"]) == (
        "a1b2c3d4e5-3",
        "a1b2c3d4e5",
        3,
        "retry",
    )
    assert record_path("dev", "bert", "x1") == "runs/dev/bert/x1.yaml"


@pytest.mark.parametrize("bad", ["", "..", "a/b", "../etc", "-x"])
def test_record_path_rejects_escaping_names(bad: str) -> None:
    with pytest.raises(ProvenanceError, match="invalid"):
        record_path("prod", bad, "r1")


def test_only_finished_runs_are_recorded(record_factory: Factory) -> None:
    with pytest.raises(ProvenanceError, match="only finished runs"):
        record_factory(status=RunStatus.RUNNING).to_yaml()


def test_cancelled_record_names_the_superseding_commit(record_factory: Factory) -> None:
    rec = record_factory(status=RunStatus.CANCELLED, superseded_by="f" * 40, promotion=None)
    back = RunRecord.from_yaml(rec.to_yaml())
    assert back.status == RunStatus.CANCELLED
    assert back.superseded_by == "f" * 40
    assert back.promotion is None and not back.promoted


def test_unknown_fields_survive_a_round_trip(record_factory: Factory) -> None:
    text = record_factory().to_yaml() + "carbon:\n  kgCO2: 1.5\n"
    text = text.replace("trigger: push", "trigger: schedule")  # a trigger from the future
    back = RunRecord.from_yaml(text, path="runs/prod/resnet50/a1b2c3d4e5.yaml")
    assert back.extra == {"carbon": {"kgCO2": 1.5}}
    assert "kgCO2: 1.5" in back.to_yaml()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("run: [unclosed\n", r"runs/x\.yaml:\d+:\d+: invalid YAML"),
        ("- a\n- b\n", r"runs/x\.yaml: not a run record"),
        ("kind: Pipeline\n", r"runs/x\.yaml: not a run record \(kind 'Pipeline'\)"),
        (
            "run: r\npipeline: p\nenv: e\n",
            r"runs/x\.yaml: invalid run record: missing field 'status'",
        ),
        ("run: r\npipeline: p\nenv: e\nstatus: Exploded\n", r"runs/x\.yaml: invalid run record"),
        ("run: r\npipeline: p\nenv: e\nstatus: Failed\nsteps: {a: 1}\n", r"'steps' must be a list"),
    ],
)
def test_garbage_names_the_file(text: str, message: str) -> None:
    with pytest.raises(ProvenanceError, match=message):
        RunRecord.from_yaml(text, path="runs/x.yaml")


def test_secrets_never_reach_the_yaml(record_factory: Factory) -> None:
    rec = record_factory(
        source=SourceInfo(repo="https://bob:hunter2@git.example.com/acme/ml.git", commit="c"),
        params={"lr": 0.1, "max_tokens": 5},
    )
    rec.spec["steps"][0]["env"].update({"AWS_SECRET_ACCESS_KEY": "AKIAsecret", "HF_TOKEN": "hf_x"})
    rec.datasets[0].remote = "https://user:pw@minio.local/data"
    text = rec.to_yaml()
    for secret in ("hunter2", "AKIAsecret", "hf_x", "user:pw"):
        assert secret not in text
    data = YAML(typ="safe").load(text)
    assert data["source"]["repo"] == "https://git.example.com/acme/ml.git"
    env = data["spec"]["steps"][0]["env"]
    assert env == {"LOG_LEVEL": "info", "AWS_SECRET_ACCESS_KEY": REDACTED, "HF_TOKEN": REDACTED}
    # a secret *reference* is kept as it is (it names a Secret, it is not one)
    assert data["spec"]["steps"][0]["secretEnv"]["WANDB_API_KEY"] == {
        "secret": "wandb",
        "key": "api-key",
    }
    assert data["params"] == {"lr": 0.1, "max_tokens": 5}  # only env values are scrubbed by name


def test_kubernetes_env_lists_are_scrubbed(record_factory: Factory) -> None:
    rec = record_factory()
    rec.spec["env"] = [{"name": "DB_PASSWORD", "value": "pw"}, {"name": "MODE", "value": "fast"}]
    data = YAML(typ="safe").load(rec.to_yaml())
    assert data["spec"]["env"] == [
        {"name": "DB_PASSWORD", "value": REDACTED},
        {"name": "MODE", "value": "fast"},
    ]


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("WANDB_API_KEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GITHUB_TOKEN", True),
        ("db_password", True),
        ("AUTHOR", False),
        ("LOG_LEVEL", False),
        ("PASSTHROUGH", False),
    ],
)
def test_credential_names(name: str, credential: bool) -> None:
    assert is_credential_name(name) is credential


def test_redact_url_forms() -> None:
    assert redact_url("https://tok@github.com/a/b") == "https://github.com/a/b"
    assert redact_url("ssh://git:pw@host/x") == "ssh://git@host/x"
    assert redact_url("see http://u:p@h and s3://bucket/k") == "see http://h and s3://bucket/k"
    assert redact_url("git@github.com:a/b.git") == "git@github.com:a/b.git"


def test_naive_timestamps_are_utc(record_factory: Factory) -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5)
    rec = record_factory(created=naive, started=naive, finished=naive)
    back = RunRecord.from_yaml(rec.to_yaml())
    assert back.finished == naive.replace(tzinfo=UTC)
    assert back.duration_seconds == 0.0
