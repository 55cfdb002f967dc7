"""KServe's built-in ClusterServingRuntimes and KServe's rule for picking one.

A ``serve.modelFormat`` is served by a KServe runtime, not by an image of ours, so a spec
is only sound if some runtime serves that format over the InferenceService's protocol.
This module holds what a default KServe install (``config/runtimes`` of KServe v0.15 and
later) declares, and mirrors KServe's selection (``ModelSpec.GetSupportingRuntimes`` and
``RuntimeSupportsModel`` in ``pkg/apis/serving/v1beta1/predictor_model.go``):

- a runtime supports ``mt:<name>`` and, for formats declared with a version,
  ``mt:<name>:<version>``; a model's format label is ``mt:<name>`` or, with a version,
  ``mt:<name>:<version>``;
- without ``runtime`` only formats declared ``autoSelect: true`` count; a named runtime
  counts every format it declares;
- the runtime must list the model's protocol (default ``v1``) or list none;
- candidates are ordered by the format's ``priority`` (higher first; none last).

A ``servingRuntime`` that is not built in names the cluster's own ServingRuntime, which
the reconciler cannot see: it is accepted as given.

Callers: spec validation (cross-field rules), render (the protocol and the default health
probes of the chosen runtime), tests.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PROTOCOL = "v1"
PROTOCOLS = ("v1", "v2")


@dataclass(frozen=True)
class Format:
    """One ``supportedModelFormats`` entry of a runtime."""

    name: str
    version: str | None = None
    auto_select: bool = True
    priority: int | None = None


@dataclass(frozen=True)
class Runtime:
    """A built-in ClusterServingRuntime: its formats, protocols and health endpoints."""

    name: str
    formats: tuple[Format, ...]
    protocols: tuple[str, ...]
    ready_path: str = "/v2/health/ready"
    live_path: str = "/v2/health/live"

    def labels(self, *, explicit: bool) -> set[str]:
        """Return the format labels this runtime matches (all of them when named)."""
        out = set()
        for f in self.formats:
            if explicit or f.auto_select:
                out.add(f"mt:{f.name}")
                if f.version:
                    out.add(f"mt:{f.name}:{f.version}")
        return out

    def priority(self, name: str) -> int | None:
        """Return the priority this runtime declares for format ``name``."""
        for f in self.formats:
            if f.name == name and f.priority is not None:
                return f.priority
        return None

    def speaks(self, protocol: str) -> bool:
        """Return True if the runtime serves ``protocol`` (or declares no protocols)."""
        return not self.protocols or protocol in self.protocols


def _f(name: str, version: str | None, priority: int | None = 1, auto: bool = True) -> Format:
    return Format(name, version, auto, priority)


BUILTIN_RUNTIMES: tuple[Runtime, ...] = (
    Runtime("kserve-sklearnserver", (_f("sklearn", "1"),), ("v1", "v2")),
    Runtime("kserve-xgbserver", (_f("xgboost", "2"),), ("v1", "v2")),
    Runtime("kserve-lgbserver", (_f("lightgbm", "4"),), ("v1", "v2")),
    Runtime(
        "kserve-mlserver",
        (
            _f("sklearn", "0", 2),
            _f("sklearn", "1", 2),
            _f("xgboost", "1", 2),
            _f("xgboost", "2", 2),
            _f("lightgbm", "3", 2),
            _f("lightgbm", "4", 2),
            _f("mlflow", "1"),
            _f("mlflow", "2"),
        ),
        ("v2",),
    ),
    Runtime(
        "kserve-predictiveserver",
        (
            _f("sklearn", "1", 3, auto=False),
            _f("xgboost", "2", 3, auto=False),
            _f("lightgbm", "4", 3, auto=False),
        ),
        ("v1", "v2"),
    ),
    Runtime(
        "kserve-tensorflow-serving",
        (_f("tensorflow", "1", 2), _f("tensorflow", "2", 2)),
        ("v1", "grpc-v1"),
        ready_path="/v1/models/{name}",
        live_path="/v1/models/{name}",
    ),
    Runtime("kserve-torchserve", (_f("pytorch", "1", 2),), ("v1", "v2", "grpc-v2")),
    Runtime(
        "kserve-tritonserver",
        (
            _f("tensorrt", "8"),
            _f("tensorflow", "1"),
            _f("tensorflow", "2"),
            _f("onnx", "1"),
            _f("pytorch", "1", None, auto=False),
            _f("triton", "2"),
        ),
        ("v2", "grpc-v2"),
    ),
    Runtime("kserve-pmmlserver", (_f("pmml", "3"), _f("pmml", "4")), ("v1", "v2")),
    Runtime("kserve-paddleserver", (_f("paddle", "2"),), ("v1", "v2")),
    Runtime("kserve-huggingfaceserver", (_f("huggingface", "1"),), ("v2", "v1")),
    Runtime("kserve-autogluonserver", (_f("autogluon", "1"),), ("v1", "v2")),
    Runtime(
        "kserve-vllmserver",
        (_f("vLLM", "1"),),
        (),
        ready_path="/v1/models",
        live_path="/health",
    ),
)
"""KServe's single-node ClusterServingRuntimes (``config/runtimes/kustomization.yaml``)."""

BY_NAME = {r.name: r for r in BUILTIN_RUNTIMES}
FORMATS: tuple[str, ...] = tuple(
    sorted({f.name for r in BUILTIN_RUNTIMES for f in r.formats}, key=str.lower)
)
"""Every model format a built-in runtime declares (the values ``serve.modelFormat`` takes
without a ``servingRuntime`` of the cluster's own)."""


def supporting(name: str, version: str | None, protocol: str, runtime: str | None) -> list[Runtime]:
    """Return the built-in runtimes KServe would pick from, best first.

    ``runtime`` None: auto-selection. A ``runtime`` that is built in yields that runtime if
    it supports the model, else nothing; one that is not built in yields nothing (the
    cluster's own: see :func:`is_builtin`).
    """
    label = f"mt:{name}:{version}" if version else f"mt:{name}"
    pool = [BY_NAME[runtime]] if runtime in BY_NAME else ([] if runtime else BUILTIN_RUNTIMES)
    found = [
        r for r in pool if label in r.labels(explicit=runtime is not None) and r.speaks(protocol)
    ]
    # Stable: equal (or missing) priorities keep the declared order, as KServe's sort does.
    return sorted(found, key=lambda r: -(r.priority(name) or -1))


def is_builtin(runtime: str) -> bool:
    """Return True if ``runtime`` names one of KServe's built-in ClusterServingRuntimes."""
    return runtime in BY_NAME


def default_protocol(name: str, version: str | None, runtime: str | None) -> str:
    """Return the protocol to ask for: ``v1`` (KServe's default) if a runtime serves it, else
    ``v2`` (Triton and MLServer speak only the Open Inference Protocol)."""
    if runtime and not is_builtin(runtime):
        return DEFAULT_PROTOCOL
    for protocol in PROTOCOLS:
        if supporting(name, version, protocol, runtime):
            return protocol
    return DEFAULT_PROTOCOL


def selection_error(
    name: str, version: str | None, protocol: str | None, runtime: str | None
) -> str | None:
    """Return why KServe would find no runtime for the model (None: one would serve it)."""
    if runtime and not is_builtin(runtime):
        return None
    proto = protocol or default_protocol(name, version, runtime)
    if supporting(name, version, proto, runtime):
        return None
    what = f"{name} version {version}" if version else name
    if runtime:
        formats = ", ".join(sorted({f.name for f in BY_NAME[runtime].formats}))
        return (
            f"KServe runtime {runtime} does not serve {what} over protocol {proto} "
            f"(it serves {formats} over {', '.join(BY_NAME[runtime].protocols) or 'any protocol'})"
        )
    if name not in FORMATS:
        return (
            f"no KServe runtime serves model format {name!r} (built-in formats: "
            f"{', '.join(FORMATS)}); name your cluster's ServingRuntime in servingRuntime"
        )
    return f"no KServe runtime selects {what} automatically over protocol {proto}"
