"""Turn Pipeline and Environment documents into models, or into every error they contain.

Called by render (``render.overlays``) on each pipeline and environment after Kustomize,
by ``reconciler validate``, history and review. Input is a document from
``reconciler.specs.loading`` (ruamel types with positions) or plain JSON-like data
(Kustomize output); positions come from a :class:`~reconciler.specs.loading.Locator`,
which may be built from the source file when the data itself has none.

The path of a document: plain data (``checking.to_plain``), the JSON Schema
(``reconciler.specs.schema``, the one definition of field shapes), the rules across
fields (``reconciler.specs.rules``), then the model. Validation is strict: unknown fields
are errors, types are never coerced (``"4"`` is not ``4``; ``true`` is not ``"true"``),
and every error of a document is reported at once as ``path:line:column: field.path:
message``, one per field. A document that validates gives a model whose invariants
(see ``reconciler.specs.models``) the rest of the project trusts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, MutableMapping
from typing import Any

from reconciler.specs import checking, models, rules, secret_values, units
from reconciler.specs.loading import Locator
from reconciler.specs.rules import check_pipeline_set
from reconciler.structs import canonical, memos
from reconciler.structs.errors import SpecError, SpecErrors

__all__ = ["check_pipeline_set", "parse_environment", "parse_pipeline"]


def _check(
    doc: Any,
    *,
    kind: str,
    path: str,
    locator: Locator | None,
    cross_field: Callable[[Any, checking.Report], None],
) -> dict[str, Any]:
    """Return the plain document, or raise SpecErrors with every error, sorted by position."""
    locator = locator if locator is not None else Locator.of(doc)
    found: dict[str, str] = {}
    errors: list[SpecError] = []

    def report(field: str, message: str) -> None:
        if field in found:
            return  # one error per field: the first (a shape error before a rule's)
        found[field] = message
        line, col = locator.position(field)
        errors.append(SpecError(path, line, col, field, message))

    if doc is None:
        report("", f"the file is empty: expected a {kind}")
        raise SpecErrors(errors)
    data = checking.to_plain(doc, report)
    for field, message in checking.schema_errors(data, kind):
        report(field, message)
    cross_field(data, report)
    if errors:
        raise SpecErrors(sorted(errors, key=lambda e: (e.line, e.column)))
    assert isinstance(data, dict)
    return data


def _validity_key(doc: Any) -> str | None:
    """Return the content address of a plain document, or None if it is not JSON data.

    Two documents share an address only if they are the same JSON value (the checks read
    nothing else). The address is taken of sorted, compact JSON: orjson's, or the standard
    library's where orjson's would not tell values apart or is refused (see
    :func:`_key_text`). A YAML date, a non-string key, ``.nan``, ``.inf`` or a cycle has
    none: such a document is always checked (and refused).
    """
    try:
        text = _key_text(doc)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(_VALID_PREFIX + text).hexdigest()


def _key_text(doc: Any) -> bytes:
    """Sorted compact JSON of ``doc``: orjson's (ten times the standard library's speed)
    when :func:`~reconciler.structs.canonical.orjson_sorted` accepts it (built-in JSON
    types only: no date, which orjson would write as its text) and it holds no ``null``
    (orjson writes ``NaN`` and ``Infinity`` as ``null``); otherwise the standard library's,
    which refuses dates, ``NaN`` and ``Infinity``. Either text parses back to ``doc``, so
    equal texts are equal documents."""
    out = canonical.orjson_sorted(doc)
    if out is not None and b"null" not in out:
        return out
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _ignore(field: str, message: str) -> None:
    """A report that drops everything (for documents already known to be valid)."""


def _pipeline_rules(data: Any, report: checking.Report) -> None:
    rules.check_pipeline(data, report)
    secret_values.check(data, report)  # credentials by value (names are schema rules)


VALID_VERSION = "valid-2"
"""Part of the validity key: a change of the checks invalidates what was found valid."""
_VALID_PREFIX = f"{VALID_VERSION}:".encode()


def parse_pipeline(
    doc: Any,
    *,
    path: str,
    sha256: str,
    locator: Locator | None = None,
    valid: MutableMapping[str, Any] | None = None,
    plain: bool = False,
) -> models.Pipeline:
    """Validate a Pipeline document and return its model.

    ``doc`` is a loaded document (ruamel types) or plain data (Kustomize output);
    ``locator`` gives positions when ``doc`` has none (built from the source file).
    ``metadata.namespace`` is accepted and ignored (Kustomize may set it). Raises
    SpecErrors with every error of the document. ``Pipeline.raw`` is the whole document
    as plain JSON data (apiVersion, kind, metadata, spec), for provenance.

    ``valid`` remembers documents found valid, by the hash of their canonical JSON (the
    checks read nothing else): a document seen before is not checked again (schema, rules,
    secret values). Documents with errors are never remembered. With ``valid``, the model
    of a document this process parsed before is returned as it was (the same object).
    ``plain``: ``doc`` is plain JSON data the caller hands over (``documents.plain`` of
    parsed YAML or JSON: dicts with string keys, lists, str, int, float, bool, None); a
    known-valid one then becomes the model's ``raw`` as it is, not converted again.
    """
    key = _validity_key(doc) if valid is not None else None
    memo_key = (key, path, sha256) if key is not None else None
    if key is not None and memo_key is not None and valid is not None and valid.get(key) is True:
        known = _MODELS.get(memo_key)
        if known is not None:
            return known
        # Known valid: its JSON encoding succeeded, so plain data converts to itself.
        data = doc if plain and type(doc) is dict else checking.to_plain(doc, _ignore)
    else:
        data = _check(doc, kind="Pipeline", path=path, locator=locator, cross_field=_pipeline_rules)
        if key is not None and valid is not None:
            valid[key] = True
    meta, spec = data["metadata"], data["spec"]
    serve = spec.get("serve")
    datasets = spec.get("datasets", {})
    promote = spec.get("promote")
    model = models.Pipeline(
        name=meta["name"],
        path=path,
        spec_sha256=sha256,
        labels=tuple(sorted(meta.get("labels", {}).items())),
        datasets=tuple(
            sorted((n, v if isinstance(v, str) else v["path"]) for n, v in datasets.items())
        ),
        mounts=tuple(
            sorted(n for n, v in datasets.items() if isinstance(v, dict) and v.get("mount"))
        ),
        service_account=spec.get("serviceAccountName"),
        image_pull_secrets=tuple(spec.get("imagePullSecrets", ())),
        params=tuple(sorted(spec.get("params", {}).items())),
        steps=tuple(_step(s) for s in spec["steps"]),
        promote=models.Promote(promote["metric"], float(promote["min"])) if promote else None,
        serve=_serve(serve) if serve else None,
        raw=data,
    )
    if memo_key is not None:
        _MODELS.put(memo_key, model)
    return model


MODELS_KEPT = 20_000
"""Pipeline models kept in memory by content address (two commits of 10,000 pipelines)."""
_MODELS: memos.Memo[tuple[str, str, str], models.Pipeline] = memos.Memo(MODELS_KEPT)
"""Valid documents' models by (validity key, source path, file hash): a process renders
the same documents again and again (every environment, every commit that did not change
them), and a model never changes for the same content (it is frozen; ``raw`` is only read)."""


def _resources(data: dict[str, Any] | None) -> models.Resources:
    r = data or {}
    cpu, memory, shm = r.get("cpu"), r.get("memory"), r.get("shm")
    return models.Resources(
        cpu=None if cpu is None else str(cpu),
        memory=None if memory is None else str(memory),
        gpus=r.get("gpus", 0),
        gpu_type=r.get("gpuType"),
        shm=None if shm is None else str(shm),
    )


def _secret_env(data: dict[str, Any] | None) -> tuple[tuple[str, models.SecretRef], ...]:
    return tuple(
        (name, models.SecretRef(secret=ref["secret"], key=ref["key"]))
        for name, ref in sorted((data or {}).items())
    )


def _step(s: dict[str, Any]) -> models.Step:
    timeout = s.get("timeout")
    return models.Step(
        name=s["name"],
        image=s["image"],
        command=tuple(s.get("command", ())),
        args=tuple(s.get("args", ())),
        env=tuple(sorted(s.get("env", {}).items())),
        secret_env=_secret_env(s.get("secretEnv")),
        resources=_resources(s.get("resources")),
        needs=tuple(s.get("needs", ())),
        workers=s.get("workers", 1),
        runtime=s.get("runtime", "job"),
        queue=s.get("queue"),
        retries=s.get("retries", 0),
        timeout_seconds=units.spec_duration(timeout) if timeout is not None else None,
        output=s.get("output"),
        training_runtime=s.get("trainingRuntime"),
    )


def _probe(p: dict[str, Any] | None) -> models.Probe:
    p = p or {}
    return models.Probe(
        path=p.get("path"),
        port=p.get("port"),
        initial_delay_seconds=p.get("initialDelaySeconds"),
        period_seconds=p.get("periodSeconds"),
        timeout_seconds=p.get("timeoutSeconds"),
        failure_threshold=p.get("failureThreshold"),
    )


def _serve(s: dict[str, Any]) -> models.Serve:
    auto = s.get("autoscale")
    fmt = s.get("modelFormat")
    fmt_name, fmt_version = (fmt, None) if isinstance(fmt, str) else (None, None)
    if isinstance(fmt, dict):
        fmt_name, fmt_version = fmt["name"], fmt.get("version")
    probes = s.get("probes", {})
    return models.Serve(
        image=s.get("image"),
        replicas=s.get("replicas", 1),
        resources=_resources(s.get("resources")),
        port=s.get("port", 8080),
        autoscale=models.Autoscale(
            min_replicas=auto.get("minReplicas", 1),
            max_replicas=auto["maxReplicas"],
            target_cpu_utilization=auto.get("targetCPUUtilization", 80),
        )
        if auto
        else None,
        ingress_host=s["ingress"]["host"] if "ingress" in s else None,
        runtime=s.get("runtime", "deployment"),
        env=tuple(sorted(s.get("env", {}).items())),
        secret_env=_secret_env(s.get("secretEnv")),
        model_format=fmt_name,
        model_format_version=fmt_version,
        serving_runtime=s.get("servingRuntime"),
        protocol_version=s.get("protocolVersion"),
        probes=models.Probes(
            readiness=_probe(probes.get("readiness")), liveness=_probe(probes.get("liveness"))
        ),
        ingress_class=s.get("ingress", {}).get("className"),
        metrics_port=s.get("metricsPort"),
    )


def parse_environment(doc: Any, *, path: str, locator: Locator | None = None) -> models.Environment:
    """Validate an Environment document and return its model.

    Same input rules as :func:`parse_pipeline`. Checks the branch (a git branch name or a
    pattern), the namespace (a DNS-1123 label; with a pattern it must contain exactly one
    ``{branch}``), the provenance branch (``{pipeline}``/``{source}`` placeholders forming
    a valid branch name), scheduling and limits. Raises SpecErrors with every error.
    """
    data = _check(
        doc, kind="Environment", path=path, locator=locator, cross_field=rules.check_environment
    )
    spec = data["spec"]
    scheduling = spec.get("scheduling", {})
    return models.Environment(
        name=data["metadata"]["name"],
        path=path,
        branch=spec["branch"],
        namespace=spec["namespace"],
        serve=spec.get("serve", True),
        provenance_branch=spec.get(
            "provenanceBranch", rules.default_provenance_branch(spec["branch"])
        ),
        cluster_context=spec.get("cluster", {}).get("context"),
        scheduling=models.Scheduling(
            node_selector=tuple(sorted(scheduling.get("nodeSelector", {}).items())),
            tolerations=tuple(scheduling.get("tolerations", ())),
            gpu_resource=scheduling.get("gpuResource", "nvidia.com/gpu"),
            gpu_types=tuple(
                (
                    name,
                    models.GpuType(
                        node_selector=tuple(sorted(g.get("nodeSelector", {}).items())),
                        tolerations=tuple(g.get("tolerations", ())),
                    ),
                )
                for name, g in sorted(scheduling.get("gpuTypes", {}).items())
            ),
        ),
        max_gpus_per_run=spec.get("limits", {}).get("maxGpusPerRun"),
        allow_system_namespace=spec.get("allowSystemNamespace", False),
        service_account=spec.get("serviceAccountName"),
        image_pull_secrets=tuple(spec.get("imagePullSecrets", ())),
        artifact_root=spec.get("artifactRoot"),
        data_fetcher_image=spec.get("dataFetcher", {}).get("image"),
        pod_security=spec.get("podSecurity", "restricted"),
        prometheus=_prometheus(spec.get("prometheus")),
        ingress_class=spec.get("ingressClassName"),
    )


def _prometheus(data: dict[str, Any] | None) -> models.Prometheus:
    default = models.Prometheus()
    if not data:
        return default
    labels = data.get("podLabels")
    return models.Prometheus(
        namespace=data.get("namespace", default.namespace),
        pod_labels=tuple(sorted(labels.items())) if labels is not None else default.pod_labels,
    )
