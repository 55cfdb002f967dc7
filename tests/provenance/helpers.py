"""Helpers for provenance tests: git as a user runs it, realistic records."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.provenance.records import (
    ClusterInfo,
    DatasetRecord,
    Promotion,
    RunRecord,
    SourceInfo,
    StepRecord,
    Trigger,
)
from reconciler.structs.manifests import ObjectRef
from reconciler.structs.runs import RunStatus

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    """Run git in ``cwd`` as a user would; return stdout (fail the test on error)."""
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args],
        input=input,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr.decode()}"
    return proc.stdout.decode().strip()


def write_files(root: Path, files: dict[str, str]) -> None:
    """Create files (and their directories) under ``root``."""
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


ENV_PROD = """\
kind: Environment
apiVersion: reconciler.ml/v1alpha1
metadata: {name: prod}
spec:
  branch: main
  namespace: ml-prod
  serve: true
  provenanceBranch: "experiments/{pipeline}"
"""

ENV_EXP = """\
kind: Environment
apiVersion: reconciler.ml/v1alpha1
metadata: {name: exp}
spec:
  branch: "exp/*"
  namespace: "ml-exp-{branch}"
  serve: false
  provenanceBranch: "runs/{source}"
"""


def make_record(
    run: str = "a1b2c3d4e5",
    *,
    env: str = "prod",
    pipeline: str = "resnet50",
    attempt: int = 1,
    status: RunStatus = RunStatus.SUCCEEDED,
    finished: datetime | None = None,
    accuracy: float = 0.95,
    promoted: bool = True,
    commit: str = "0123456789abcdef0123456789abcdef01234567",
    **overrides: Any,
) -> RunRecord:
    """Return a realistic record of a train-then-evaluate run."""
    finished = finished or T0 + timedelta(hours=1)
    started = finished - timedelta(minutes=50)
    rec = RunRecord(
        run=run,
        attempt=attempt,
        pipeline=pipeline,
        env=env,
        status=status,
        reason="" if status == RunStatus.SUCCEEDED else "step train failed",
        trigger=Trigger.RETRY if attempt > 1 else Trigger.PUSH,
        source=SourceInfo(
            repo="https://github.com/acme/ml.git",
            ref="main",
            commit=commit,
            spec_path=f"pipelines/{pipeline}.yaml",
            spec_sha256="ab" * 32,
        ),
        spec={
            "datasets": {"train": "datasets/imagenet-mini.dvc"},
            "params": {"lr": 0.01, "epochs": 10},
            "steps": [
                {
                    "name": "train",
                    "image": "registry.example.com/vision/resnet-train:1.4.2",
                    "env": {"LOG_LEVEL": "info"},
                    "secretEnv": {"WANDB_API_KEY": {"secret": "wandb", "key": "api-key"}},
                    "output": "s3://models/resnet50/{run}/",
                },
                {"name": "evaluate", "needs": ["train"], "image": "eval:1.0.0"},
            ],
            "promote": {"metric": "accuracy", "min": 0.92},
        },
        params={"lr": 0.01, "epochs": 10},
        datasets=[
            DatasetRecord(
                name="train",
                path="datasets/imagenet-mini.dvc",
                md5="d41d8cd98f00b204e9800998ecf8427e",
                size=1234,
                remote="s3://data/imagenet-mini",
            )
        ],
        steps=[
            StepRecord(
                name="train",
                status="Succeeded",
                image="registry.example.com/vision/resnet-train:1.4.2",
                digest="sha256:" + "1" * 64,
                resources={"gpus": 4, "cpu": "16", "memory": "64Gi"},
                object=ObjectRef("batch", "Job", "ml-prod", f"{pipeline}-{run}-train", "v1"),
                uid="uid-train",
                started=started,
                finished=finished - timedelta(minutes=10),
                metrics={"loss": 0.21, "accuracy": 0.9},
            ),
            StepRecord(
                name="evaluate",
                status="Succeeded",
                image="eval:1.0.0",
                object=ObjectRef("batch", "Job", "ml-prod", f"{pipeline}-{run}-evaluate", "v1"),
                uid="uid-eval",
                started=finished - timedelta(minutes=10),
                finished=finished,
                metrics={"accuracy": accuracy},
            ),
        ],
        cluster=ClusterInfo(server="https://10.0.0.1:6443", namespace="ml-prod"),
        created=started - timedelta(minutes=1),
        started=started,
        finished=finished,
        model_output=f"s3://models/{pipeline}/{run}/",
        promotion=Promotion(
            promoted=promoted,
            metric="accuracy",
            value=accuracy,
            threshold=0.92,
            reason="accuracy 0.95 >= 0.92" if promoted else "below the gate",
        ),
        reconciler_version="0.1.0",
    )
    for key, value in overrides.items():
        setattr(rec, key, value)
    return rec
