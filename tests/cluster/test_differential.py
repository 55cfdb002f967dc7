"""Differential fidelity: every sandbox scenario against both servers, answers compared.

Each scenario of ``tests/sandbox`` (its assertions included) runs against the in-process
sandbox and against kube-apiserver with the simulated controllers; every HTTP answer and
kubectl output the scenario saw is recorded, normalized (:mod:`.transcripts`) and
compared: status code, reason and message, the object after defaulting, managedFields,
list and watch results, headers that clients read. A difference fails the test unless
:data:`ON_PURPOSE` lists it with the reason (README, "Sandbox fidelity").
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import transcripts
from tests.cluster.transcripts import Difference, Step
from tests.conftest import kubectl_binary
from tests.sandbox import http, test_api, test_apply, test_controllers, test_kubectl

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class OnPurpose:
    """A difference kept on purpose: scenario and request globs, JSON pointer glob, why."""

    scenario: str
    request: str
    pointer: str
    why: str

    def covers(self, scenario: str, d: Difference) -> bool:
        """True if this entry explains difference ``d`` in ``scenario``."""
        return (
            fnmatch.fnmatchcase(scenario, self.scenario)
            and fnmatch.fnmatchcase(d.request, self.request)
            and fnmatch.fnmatchcase(d.pointer, self.pointer)
        )


_BUILTIN = ("* /api/*", "* /apis/apps/*", "* /apis/batch/*", "* /apis/apiextensions.k8s.io/*")
_TYPED = "Update-operation managedFields of built-in kinds: '.' markers and defaulted fields"
_PROGRESS = "simulated controllers and the namespace controller run on their own clock"

ON_PURPOSE: tuple[OnPurpose, ...] = (
    # Which fields an Update (create, update, patch; not apply) owns depends on Go struct
    # tags (pointer, omitempty) that the published OpenAPI does not carry.
    *(OnPurpose("*", r, "*/managedFields/entries/*|Update|*/fieldsV1*", _TYPED) for r in _BUILTIN),
    OnPurpose(
        "*", "kubectl get *", "/body/stdout/metadata/managedFields/entries/*|Update|*", _TYPED
    ),
    # A snapshot taken while a controller works may see an earlier or a later state.
    OnPurpose("*", "* /apis/apps/v1/*deployments*", "/body/status*", _PROGRESS),
    OnPurpose("*", "* /apis/apps/v1/*deployments*", "*/managedFields/*", _PROGRESS),
    OnPurpose("*", "kubectl get deploy*", "/body/stdout/status*", _PROGRESS),
    OnPurpose("*", "* /api/v1/namespaces/*/pods*", "/body/items/*/status*", _PROGRESS),
    OnPurpose(
        "*", "* /api/v1/namespaces/*/pods*", "/body/items/*/metadata/managedFields*", _PROGRESS
    ),
    # managedFields are sorted by operation, then write time in whole seconds, then
    # manager: two writes one server made within a second may straddle one on the other
    # (the entries themselves are compared).
    *(
        OnPurpose("*", "*", pointer, "entries sorted by write time in seconds")
        for pointer in (
            "/body/metadata/managedFields/order*",
            "/body/items/*/metadata/managedFields/order*",
            "/body/stdout/metadata/managedFields/order*",
        )
    ),
    OnPurpose("*", "kubectl rollout status *", "/body/stdout", _PROGRESS),
    OnPurpose(
        "test_unknown_kind_missing_and_terminating_namespace",
        "PATCH /api/v1/namespaces/going/*",
        "/body/metadata/deletion*",
        _PROGRESS,
    ),
    # The sandbox serves the kinds ML stacks and their tools use, not every kind.
    OnPurpose(
        "*", "kubectl api-resources*", "/body/stdout", "the sandbox serves a subset of kinds"
    ),
    OnPurpose("*", "GET /api/v1", "/body/resources", "the sandbox serves a subset of kinds"),
    OnPurpose("*", "GET /apis/*/*", "/body/resources", "the sandbox serves a subset of kinds"),
    OnPurpose("*", "GET /apis", "/body/items", "the sandbox serves a subset of kinds"),
    # The sandbox names itself in /version (v1.X.0-sandbox, no commit, its own Go).
    *(
        OnPurpose("*", "GET /version", f"/body/{field}", "the sandbox names itself")
        for field in ("gitVersion", "gitCommit", "goVersion")
    ),
    # The sandbox's /metrics serves the request counter only (apiserver_request_total).
    OnPurpose("*", "GET /metrics", "/body", "/metrics: apiserver_request_total only"),
    OnPurpose(
        "*", "GET /metrics", "/headers/Content-Type", "/metrics: apiserver_request_total only"
    ),
    # The sandbox authenticates nobody: every client is one administrator.
    OnPurpose("*", "kubectl auth whoami*", "/body/stdout/status/userInfo/*", "no authentication"),
    OnPurpose("*", "kubectl auth can-i --list*", "/body/stdout", "no authorization: '*' on '*'"),
    # kube-apiserver prints an immutable field's value from its internal Go type.
    OnPurpose(
        "test_invalid_name_and_immutable_job_template",
        "kubectl apply *",
        "/body/stderr",
        "an immutable field's value is printed from the internal Go type",
    ),
    # kube-apiserver's message for a body that is not JSON is its Go decoder's.
    OnPurpose(
        "test_a_body_with_a_number_json_has_not_is_400",
        "POST *",
        "/body/message",
        "a malformed body's message is the Go JSON decoder's",
    ),
    OnPurpose(
        "test_a_body_nested_deeper_than_json_decoders_go_is_400",
        "POST *",
        "/body/message",
        "a malformed body's message is the Go JSON decoder's",
    ),
)
"""Differences the sandbox keeps on purpose (mirrored in README's fidelity table)."""


def _scenarios() -> list[Callable[..., None]]:
    out = []
    for module in (test_api, test_apply, test_controllers, test_kubectl):
        for name, fn in sorted(vars(module).items()):
            if name.startswith("test_") and inspect.isfunction(fn):
                out.append(fn)
    return out


SCENARIOS = _scenarios()


def _kubectl(kubeconfig: Path, home: Path, steps: list[Any]) -> Callable[..., Any]:
    binary = kubectl_binary()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update({"KUBECONFIG": str(kubeconfig), "HOME": str(home), "KUBECACHEDIR": str(home / "c")})

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, *args], input=input, capture_output=True, text=True, env=env, timeout=timeout
        )
        steps.append(
            transcripts.kubectl_step(args, input, proc.returncode, proc.stdout, proc.stderr)
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    return run


def _run(scenario: Callable[..., None], handle: Any, workdir: Path) -> list[Step]:
    """Run one scenario against ``handle``; return its folded, normalized transcript."""
    workdir.mkdir(parents=True)
    params = inspect.signature(scenario).parameters
    with http.recording() as transcript:
        kwargs: dict[str, Any] = {}
        if "sandbox" in params:
            kwargs["sandbox"] = handle
        if "kubectl" in params:
            # kubectl runs land in the same transcript, in order with the HTTP calls.
            kwargs["kubectl"] = _kubectl(handle.kubeconfig, workdir, transcript.exchanges)
        if "tmp_path" in params:
            kwargs["tmp_path"] = workdir / "tmp"
            kwargs["tmp_path"].mkdir()
        scenario(**kwargs)
    return transcripts.fold(transcripts.steps_of(transcript.exchanges))


def _unexplained(name: str, diffs: list[Difference]) -> list[Difference]:
    return [d for d in diffs if not any(p.covers(name, d) for p in ON_PURPOSE)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f.__name__ for f in SCENARIOS])
def test_both_servers_answer_alike(
    scenario: Callable[..., None], kube: Any, sandbox_server: Any, tmp_path: Path
) -> None:
    on_sandbox = _run(scenario, sandbox_server, tmp_path / "sandbox")
    on_kube = _run(scenario, kube, tmp_path / "kube")
    keep = os.environ.get("RECONCILER_TRANSCRIPTS")  # a directory: keep both transcripts
    if keep:
        out = Path(keep) / scenario.__name__
        out.mkdir(parents=True, exist_ok=True)
        for name, steps in (("sandbox", on_sandbox), ("kube", on_kube)):
            text = json.dumps([s.as_dict() for s in steps], indent=1, sort_keys=True)
            (out / f"{name}.json").write_text(text)
    unexplained = _unexplained(scenario.__name__, transcripts.compare(on_sandbox, on_kube))
    assert not unexplained, "the sandbox answered differently:\n" + "\n".join(
        str(d) for d in unexplained
    )
