"""Inline spec fixtures for the specs tests, with helpers that return error lines.

The valid documents follow design.md; tests derive broken variants with :func:`variant`
(one exact textual replacement), so every expected ``path:line:column`` is stable.
"""

from __future__ import annotations

from typing import Any

from reconciler.specs import loading, models, validation
from reconciler.structs.errors import SpecErrors

PIPELINE_PATH = "pipelines/resnet50.yaml"
ENV_PATH = "overlays/prod/environment.yaml"

PIPELINE = """\
apiVersion: reconciler.ml/v1alpha1
kind: Pipeline
metadata:
  name: resnet50
  labels: {team: vision}
spec:
  datasets: {train: datasets/imagenet-mini.dvc}
  params: {lr: 0.01, epochs: 10, seed: 42}
  steps:
    - name: features
      image: registry.example.com/vision/features:2.0.1
      command: [python, make_features.py]
      resources: {cpu: "4", memory: 16Gi}
    - name: train
      needs: [features]
      image: registry.example.com/vision/resnet-train:1.4.2
      command: [python, train.py]
      args: []
      env: {LOG_LEVEL: info}
      secretEnv: {WANDB_API_KEY: {secret: wandb, key: api-key}}
      resources: {gpus: 4, gpuType: nvidia-a100-80gb, cpu: "16", memory: 64Gi}
      workers: 1
      runtime: job
      queue: gpu-queue
      retries: 2
      timeout: 6h
      output: s3://models/resnet50/{run}/
    - name: evaluate
      needs: [train]
      image: registry.example.com/vision/eval:1.0.0
      command: [python, eval.py]
  promote: {metric: accuracy, min: 0.92}
  serve:
    image: registry.example.com/vision/resnet-serve:1.4.2
    replicas: 2
    resources: {gpus: 1}
    port: 8080
    autoscale: {minReplicas: 1, maxReplicas: 8, targetCPUUtilization: 70}
    ingress: {host: resnet.example.com}
    runtime: deployment
"""

ENVIRONMENT = """\
apiVersion: reconciler.ml/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  branch: main
  namespace: ml-prod
  serve: true
  provenanceBranch: "experiments/{pipeline}"
  cluster: {context: gpu-east}
  scheduling:
    nodeSelector: {pool: gpu}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
    gpuResource: nvidia.com/gpu
  limits: {maxGpusPerRun: 8}
"""

EXP_ENVIRONMENT = """\
apiVersion: reconciler.ml/v1alpha1
kind: Environment
metadata: {name: exp}
spec:
  branch: "exp/*"
  namespace: "ml-exp-{branch}"
  serve: false
  provenanceBranch: "runs/{source}"
"""


def variant(base: str, old: str, new: str) -> str:
    """Return ``base`` with its single occurrence of ``old`` replaced by ``new``."""
    assert base.count(old) == 1, f"{old!r} occurs {base.count(old)} times"
    return base.replace(old, new)


def load(text: str, path: str = PIPELINE_PATH) -> Any:
    """Load one document from text."""
    return loading.load_document(text.encode(), path=path)


def pipeline(text: str = PIPELINE, path: str = PIPELINE_PATH) -> models.Pipeline:
    """Load and validate a pipeline (raises SpecErrors)."""
    return validation.parse_pipeline(load(text, path), path=path, sha256="0" * 64)


def environment(text: str = ENVIRONMENT, path: str = ENV_PATH) -> models.Environment:
    """Load and validate an environment (raises SpecErrors)."""
    return validation.parse_environment(load(text, path), path=path)


def pipeline_errors(text: str, path: str = PIPELINE_PATH) -> list[str]:
    """Return the error lines of a pipeline text (``[]`` if valid)."""
    try:
        pipeline(text, path)
    except SpecErrors as e:
        return [str(x) for x in e.errors]
    return []


def environment_errors(text: str, path: str = ENV_PATH) -> list[str]:
    """Return the error lines of an environment text (``[]`` if valid)."""
    try:
        environment(text, path)
    except SpecErrors as e:
        return [str(x) for x in e.errors]
    return []


def load_errors(content: bytes, path: str = PIPELINE_PATH) -> list[str]:
    """Return the error lines of loading ``content`` as one document."""
    try:
        loading.load_document(content, path=path)
    except SpecErrors as e:
        return [str(x) for x in e.errors]
    return []
