"""Property tests: no input gives a traceback, and what the validator accepts the schema does.

Random documents are either arbitrary nested data dumped as YAML, or a valid spec with
one random mutation (a field deleted, replaced by odd data, or an unknown field added).
"""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.specs import loading, schema, validation
from reconciler.structs.errors import SpecErrors
from tests.specs.samples import ENVIRONMENT, EXP_ENVIRONMENT, PIPELINE

FIELD_NAMES = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "spec",
    "steps",
    "image",
    "needs",
    "output",
    "env",
    "secretEnv",
    "resources",
    "gpus",
    "cpu",
    "workers",
    "runtime",
    "serve",
    "branch",
    "namespace",
    "params",
    "datasets",
    "promote",
    "min",
    "metric",
    "autoscale",
    "x",
    "",
]
ODD_STRINGS = [
    "",
    " ",
    "exp/*",
    "{branch}",
    "ml-{branch}",
    "{run}",
    "s3://m/{run}",
    "16Gi",
    "0",
    "500m",
    "1h30m",
    "0s",
    "a b",
    "Pipeline",
    "Environment",
    "reconciler.ml/v1alpha1",
    "kubeflow",
    "job",
    "HF_TOKEN",
    "datasets/x.dvc",
    "../x.dvc",
    "x" * 70,
    "é",
    "a\nb",
    "-",
    "main",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))
data = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


def _dump(value: Any) -> bytes:
    yaml = YAML(typ="safe", pure=True)
    buf = io.StringIO()
    yaml.dump(value, buf)
    return buf.getvalue().encode()


def _try_parse(kind: str, doc: Any) -> bool:
    """Validate; True if accepted, False on SpecErrors (anything else propagates)."""
    try:
        if kind == "pipeline":
            p = validation.parse_pipeline(doc, path="p.yaml", sha256="")
            json.dumps(p.raw)
        else:
            validation.parse_environment(doc, path="e.yaml")
    except SpecErrors as e:
        assert e.errors and all(err.path in ("p.yaml", "e.yaml") for err in e.errors)
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data, st.sampled_from(["pipeline", "environment"]))
def test_arbitrary_yaml_never_gives_a_traceback(value: Any, kind: str) -> None:
    try:
        doc = loading.load_document(_dump(value), path="p.yaml")
    except SpecErrors:
        return
    _try_parse(kind, doc)


@settings(max_examples=100, deadline=None)
@given(data)
def test_arbitrary_spec_bodies_never_give_a_traceback(body: Any) -> None:
    doc = {"apiVersion": "reconciler.ml/v1alpha1", "kind": "Pipeline", "metadata": {"name": "p"}}
    _try_parse("pipeline", {**doc, "spec": body})
    _try_parse("pipeline", {**doc, "spec": {"steps": [body]}})


def _plain(text: str) -> Any:
    return json.loads(json.dumps(loading.load_document(text.encode(), path="f.yaml")))


BASES = {
    "pipeline": _plain(PIPELINE),
    "environment": _plain(ENVIRONMENT),
    "exp-environment": _plain(EXP_ENVIRONMENT),
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], action: str, new: Any, key: str) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return new if action == "replace" else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = new
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][key] = new
    return doc


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(ODD_STRINGS),
)
json_data = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(BASES)),
    st.data(),
    st.sampled_from(["delete", "replace", "add"]),
    json_data,
    st.sampled_from(FIELD_NAMES),
)
def test_what_the_validator_accepts_the_schema_accepts(
    base: str, draw: Any, action: str, new: Any, key: str
) -> None:
    doc = BASES[base]
    path = draw.draw(st.sampled_from(_paths(doc)))
    mutated = _mutate(doc, path, action, new, key)
    kind = "pipeline" if base == "pipeline" else "environment"
    if _try_parse(kind, mutated):
        s = schema.pipeline_schema() if kind == "pipeline" else schema.environment_schema()
        errors = [e.message for e in jsonschema.Draft7Validator(s).iter_errors(mutated)]
        assert errors == [], f"validator accepted, schema refused: {errors}"
