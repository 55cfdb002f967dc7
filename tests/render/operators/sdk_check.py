"""Validate rendered objects with the operators' official Python SDK models.

Run by ``test_sdk_models.py`` with the interpreter of the SDK virtualenv (see
``sdk-requirements.txt``), never imported by the project's own tests: the SDKs pin older
``kubernetes`` clients than the project uses. Reads a JSON list of manifests on stdin and
prints a JSON list with, for each manifest, ``{"model": <class name or null>, "errors":
[...]}``.

Kinds and models:

- ``kubeflow.org/v1`` PyTorchJob: ``kubeflow.training.models.KubeflowOrgV1PyTorchJob``
  (kubeflow-training, the Training Operator v1 SDK);
- ``serving.kserve.io/v1beta1`` InferenceService: ``kserve.models.V1beta1InferenceService``
  (kserve);
- ``trainer.kubeflow.org/v1alpha1`` TrainJob and ClusterTrainingRuntime: the pydantic models
  of ``kubeflow_trainer_api`` (installed by the ``kubeflow`` SDK).

The SDK models are looser than an API server: openapi-generator models drop unknown keys
and coerce primitives, pydantic models ignore unknown keys. So the check is a round trip:
every key of the manifest must be a field of its model (recursively, with the model's own
type for each field), primitives must have the model's type exactly, and the model's
constructor must accept the values (required fields, enums). Anything else is an error
naming the JSON path.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from typing import Any

import kubernetes.client.models as k8s_models

PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


class Walker:
    """Checks a JSON value against openapi-generator model classes, looked up by name."""

    def __init__(self, *modules: Any) -> None:
        self.modules = modules

    def model(self, name: str) -> Any:
        for m in self.modules:
            klass = getattr(m, name, None)
            if klass is not None:
                return klass
        raise LookupError(f"no model class {name}")

    def check(self, value: Any, type_name: str, path: str, errors: list[str]) -> Any:
        """Return the value as the SDK would build it; append what does not fit to errors."""
        if value is None:
            return None
        if type_name.startswith("list["):
            inner = type_name[5:-1]
            if not isinstance(value, list):
                errors.append(f"{path}: expected a list, got {type(value).__name__}")
                return None
            return [self.check(v, inner, f"{path}[{i}]", errors) for i, v in enumerate(value)]
        m = re.fullmatch(r"dict\(([^,]*), (.*)\)", type_name)
        if m:
            if not isinstance(value, dict):
                errors.append(f"{path}: expected a map, got {type(value).__name__}")
                return None
            return {k: self.check(v, m.group(2), f"{path}.{k}", errors) for k, v in value.items()}
        if type_name in PRIMITIVES:
            ok = isinstance(value, PRIMITIVES[type_name])
            if ok and type_name != "bool" and isinstance(value, bool):
                ok = False
            if not ok:
                errors.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
            return value
        if type_name == "object":
            return value
        if type_name in ("datetime", "date"):
            try:
                datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                errors.append(f"{path}: not a {type_name}: {value!r}")
            return value
        return self._model(value, type_name, path, errors)

    def _model(self, value: Any, type_name: str, path: str, errors: list[str]) -> Any:
        klass = self.model(type_name)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object ({type_name}), got {type(value).__name__}")
            return None
        by_json = {j: a for a, j in klass.attribute_map.items()}
        kwargs: dict[str, Any] = {}
        for key, v in value.items():
            attr = by_json.get(key)
            if attr is None:
                errors.append(f"{path}.{key}: not a field of {type_name}")
                continue
            kwargs[attr] = self.check(v, klass.openapi_types[attr], f"{path}.{key}", errors)
        try:
            return klass(**kwargs)
        except (ValueError, TypeError) as e:
            errors.append(f"{path}: {type_name}: {e}")
            return None


def diff(sent: Any, back: Any, path: str, errors: list[str]) -> None:
    """Append every difference between a manifest and its model round trip."""
    if isinstance(sent, dict) and isinstance(back, dict):
        for k, v in sent.items():
            if k not in back:
                if v not in (None, {}, []):
                    errors.append(f"{path}.{k}: not a field of the model (dropped)")
                continue
            diff(v, back[k], f"{path}.{k}", errors)
        return
    if isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        for i, (a, b) in enumerate(zip(sent, back, strict=True)):
            diff(a, b, f"{path}[{i}]", errors)
        return
    if sent != back:
        errors.append(f"{path}: {sent!r} became {back!r}")


def check_pydantic(obj: dict[str, Any], klass: Any) -> list[str]:
    """Validate with a pydantic model (strict types) and compare the round trip."""
    import pydantic

    try:
        model = klass.from_dict(obj)
    except pydantic.ValidationError as e:
        return [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
    errors: list[str] = []
    diff(obj, json.loads(json.dumps(model.to_dict(), default=str)), "", errors)
    return errors


def check(obj: dict[str, Any]) -> dict[str, Any]:
    """Return the model used and the errors of one manifest."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key == ("kubeflow.org/v1", "PyTorchJob"):
        import kubeflow.training.models as kft

        errors: list[str] = []
        Walker(kft, k8s_models).check(obj, "KubeflowOrgV1PyTorchJob", "", errors)
        return {"model": "KubeflowOrgV1PyTorchJob", "errors": errors}
    if key == ("serving.kserve.io/v1beta1", "InferenceService"):
        import kserve.models as ks

        errors = []
        Walker(ks, k8s_models).check(obj, "V1beta1InferenceService", "", errors)
        return {"model": "V1beta1InferenceService", "errors": errors}
    if key[0] == "trainer.kubeflow.org/v1alpha1" and key[1] in (
        "TrainJob",
        "ClusterTrainingRuntime",
    ):
        from kubeflow_trainer_api import models as kt

        name = f"TrainerV1alpha1{key[1]}"
        return {"model": name, "errors": check_pydantic(obj, getattr(kt, name))}
    return {"model": None, "errors": []}


def main() -> None:
    objs = json.load(sys.stdin)
    json.dump([check(o) for o in objs], sys.stdout)


if __name__ == "__main__":
    main()
