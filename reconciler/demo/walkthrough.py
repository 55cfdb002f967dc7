"""The demo's script: sandbox + daemon + the Git workflows, narrated.

1. push: the example lands on ``main``; prod trains every pipeline step by step, records
   land on ``experiments/<pipeline>`` branches, serving goes live once a run succeeded
   (resnet50 only if it passes its accuracy gate).
2. experiment: a branch ``exp/lr-sweep`` changes a hyperparameter; it trains in its own
   namespace, its records land on ``runs/exp/lr-sweep`` (never on the branch itself) and
   ``reconciler review main..exp/lr-sweep`` prints the PR report.
3. bad change and revert: a change to fraud-detector is pushed, trains and is served; then
   ``git revert``: the spec has the earlier run id again, so serving goes straight back to
   that run's model and no Job is created.

Everything runs on this machine: the sandbox API server, a bare Git remote in a
temporary directory (removed at the end unless ``--workdir`` names one), the daemon in a
thread. What is printed at the end points only at what still exists: the kubeconfig only
while the sandbox keeps running (``--keep``).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.daemon import loop, outcomes
from reconciler.demo import examples
from reconciler.structs import labels
from reconciler.structs.errors import ReconcilerError

PartsFactory = Callable[[loop.DaemonOptions], outcomes.DaemonParts]
"""Build the daemon's callables for the demo's options (``reconciler.cli.wiring``)."""

PROD_NS = "ml-prod"
EXP_BRANCH = "exp/lr-sweep"
EXP_NS = "ml-exp-lr-sweep"
SELECTOR = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
REPORT_WIDTH = 120
"""Widest the review report is drawn (a terminal narrower than this wraps it)."""
OUTCOMES = {
    # sandbox-outcomes rules (key order): what a simulated step reports when it ends
    "10-exp-resnet-eval": {
        "match": "ml-exp-*/resnet50-*-evaluate",
        "outcome": "Succeeded",
        "message": '{"accuracy": 0.953, "top5": 0.991}',
    },
    "20-resnet-eval": {
        "match": "*/resnet50-*-evaluate",
        "outcome": "Succeeded",
        "message": '{"accuracy": 0.941, "top5": 0.987}',
    },
    "30-fraud-eval": {
        "match": "*/fraud-detector-*-evaluate",
        "outcome": "Succeeded",
        "message": '{"auc": 0.962, "precision": 0.91}',
    },
    "40-llm-train": {
        "match": "*/llm-finetune-*-train",
        "outcome": "Succeeded",
        "message": '{"eval_loss": 1.82}',
    },
}


@dataclass
class Demo:
    """The running demo's parts and where they are."""

    base: Path
    work: Path
    remote: Path
    kubeconfig: Path
    sandbox: Any
    daemon: Any = None
    thread: threading.Thread | None = None
    seen: dict[str, str] = field(default_factory=dict)


def _say(console: Any, text: str) -> None:
    console.print(text)


def _api(kubeconfig: Path) -> Any:
    """Return a ResourceManager on the sandbox (plain-dict reads, our retry policy)."""
    from reconciler.apply.manager import ResourceManager
    from reconciler.cluster import clients

    return ResourceManager(clients.load_client(kubeconfig=str(kubeconfig)), field_manager="demo")


def _phase(obj: dict[str, Any]) -> str:
    from reconciler import health

    return str(health.step_phase(obj))


def _steps(api: Any) -> list[dict[str, Any]]:
    from reconciler.structs.errors import MissingCRDError

    out = []
    for api_version, kind in (("batch/v1", "Job"), ("kubeflow.org/v1", "PyTorchJob")):
        try:
            items = api.list(api_version, kind, label_selector=SELECTOR)
        except MissingCRDError:
            items = []
        for obj in items:
            meta = obj["metadata"]
            out.append({"ns": meta["namespace"], "name": meta["name"], "phase": _phase(obj)})
    return out


def _serving(api: Any, namespace: str) -> dict[str, str]:
    from reconciler.structs.errors import MissingCRDError

    out: dict[str, str] = {}
    for api_version, kind in (
        ("apps/v1", "Deployment"),
        ("serving.kserve.io/v1beta1", "InferenceService"),
    ):
        try:
            items = api.list(api_version, kind, namespace=namespace, label_selector=SELECTOR)
        except MissingCRDError:
            items = []
        for obj in items:
            meta = obj["metadata"]
            out[meta["name"]] = (meta.get("annotations") or {}).get(labels.MODEL, "")
    return out


def _records(remote: Path) -> list[str]:
    from reconciler.source import repos

    handle = repos.open_repo(remote)
    files: list[str] = []
    for ref, commit in sorted(handle.refs("refs/heads/").items()):
        branch = ref.removeprefix("refs/heads/")
        files.extend(f"{branch}:{path}" for path in handle.list_blobs(commit, "runs"))
    return sorted(set(files))


def _progress(demo: Demo, api: Any, console: Any) -> None:
    for s in _steps(api):
        key = f"{s['ns']}/{s['name']}"
        if demo.seen.get(key) != s["phase"]:
            demo.seen[key] = s["phase"]
            colour = {"Succeeded": "green", "Failed": "red"}.get(s["phase"], "yellow")
            _say(console, f"   step [bold]{key}[/bold] [{colour}]{s['phase']}[/{colour}]")
    for r in _records(demo.remote):
        if demo.seen.get(r) != "recorded":
            demo.seen[r] = "recorded"
            _say(console, f"   record [cyan]{r}[/cyan]")


def _wait(
    demo: Demo, api: Any, console: Any, what: str, done: Callable[[], bool], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _progress(demo, api, console)
        if done():
            return
        time.sleep(0.3)
    raise ReconcilerError(
        f"demo: timed out after {timeout:.0f}s waiting for {what} (see {demo.base / 'daemon.log'})"
    )


def _start_sandbox(base: Path, step_delay: float) -> tuple[Any, Path]:
    from reconciler.sandbox import Sandbox

    sandbox = Sandbox(port=0, step_delay=step_delay)
    sandbox.start()
    kubeconfig = sandbox.write_kubeconfig(base / "kubeconfig")
    return sandbox, kubeconfig


def _program_outcomes(api: Any) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "sandbox-outcomes", "namespace": "kube-system"},
        "data": {k: json.dumps(v) for k, v in OUTCOMES.items()},
    }
    api.call("POST", "/api/v1/namespaces/kube-system/configmaps", body=body)


def _start_daemon(demo: Demo, daemon_parts: PartsFactory) -> None:
    handler = logging.FileHandler(demo.base / "daemon.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # The clone, as `reconciler run --repo .` would be given: the daemon follows its remote
    # (mirrored, fetched) and names the example's DVC remote, dvc-storage/ inside the
    # repository, where it really is (a bare repository has no such directory to name).
    options = loop.DaemonOptions(
        repo=str(demo.work),
        interval=2.0,
        resync=60.0,
        listen="127.0.0.1:0",
        envs=("prod", "exp"),
        state_dir=demo.base / "state",
        kubeconfig=str(demo.kubeconfig),
        shutdown_timeout=5.0,
    )
    demo.daemon = loop.Daemon(options, **daemon_parts(options))
    demo.thread = threading.Thread(target=demo.daemon.run, name="daemon", daemon=True)
    demo.thread.start()


def run(
    *,
    console: Any,
    daemon_parts: PartsFactory,
    keep: bool = False,
    workdir: Path | None = None,
    step_delay: float = 0.5,
) -> int:
    """Run the demo; return the exit code (0 when every stage behaved as promised).

    ``daemon_parts`` wires the engine into the daemon (``reconciler.cli.wiring``). Without
    ``workdir`` everything lives in a temporary directory that is removed at the end,
    whatever happens; the sandbox and the daemon are always stopped on the way out (after
    Ctrl-C with ``keep``).
    """
    example = examples.find_example_root()
    base = workdir or Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    try:
        base.mkdir(parents=True, exist_ok=True)
        return _run_in(
            base,
            example,
            console=console,
            keep=keep,
            keep_dir=workdir is not None,
            step_delay=step_delay,
            daemon_parts=daemon_parts,
        )
    finally:
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)


def _run_in(
    base: Path,
    example: Path,
    *,
    console: Any,
    keep: bool,
    keep_dir: bool,
    step_delay: float,
    daemon_parts: PartsFactory,
) -> int:
    started = time.monotonic()
    _say(console, "[bold]reconciler demo[/bold]: GitOps for ML pipelines, on this machine only\n")
    sandbox, kubeconfig = _start_sandbox(base, step_delay)
    demo = Demo(
        base=base,
        work=base / "work",
        remote=base / "remote.git",
        kubeconfig=kubeconfig,
        sandbox=sandbox,
    )
    try:
        sandbox.install_crds()
        api = _api(kubeconfig)
        _program_outcomes(api)
        _say(
            console,
            f"sandbox API server at {sandbox.url} (Kubeflow, KServe and Kueue CRDs installed)",
        )
        demo.work, demo.remote = examples.make_example_repos(example, base)
        _start_daemon(demo, daemon_parts)
        _say(console, "daemon following the clone's remote (envs prod and exp)\n")
        _stages(demo, api, console)
        _say(console, f"\n[bold green]done[/bold green] in {time.monotonic() - started:.1f}s")
        _where(demo, console, keep=keep, keep_dir=keep_dir)
        if keep:
            _say(console, "\nsandbox and daemon keep running (--keep); Ctrl-C to stop")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        if demo.daemon is not None:
            demo.daemon.stop()
            if demo.thread is not None:
                demo.thread.join(10)
        sandbox.stop()


def _where(demo: Demo, console: Any, *, keep: bool, keep_dir: bool) -> None:
    """Print where things are, only those that outlive the demo."""
    if keep_dir:
        _say(console, f"   repository  {demo.work}  (remote {demo.remote})")
        _say(console, f"   records     git -C {demo.remote} log --oneline --all -- runs/")
        _say(console, f"   daemon log  {demo.base / 'daemon.log'}")
    if keep:
        _say(console, f"   kubeconfig  export KUBECONFIG={demo.kubeconfig}")
    if not keep_dir and not keep:
        _say(console, "   (--workdir DIR keeps the repository and records, --keep the sandbox)")


def _stages(demo: Demo, api: Any, console: Any) -> None:
    """The three stories: push, experiment + review, bad change + revert."""
    first = _push_stage(demo, api, console)
    _experiment_stage(demo, api, console)
    _revert_stage(demo, api, console, first)


def _push_stage(demo: Demo, api: Any, console: Any) -> dict[str, str]:
    # 1. push
    _say(console, "[bold]1. git push[/bold] of the example to main: prod trains every pipeline")
    _wait(
        demo,
        api,
        console,
        "prod serving",
        lambda: {"fraud-detector", "resnet50"} <= set(_serving(api, PROD_NS)),
    )
    first = _serving(api, PROD_NS)
    for name, model in sorted(first.items()):
        _say(console, f"   serving [bold]{name}[/bold] -> [green]{model}[/green]")
    return first


def _experiment_stage(demo: Demo, api: Any, console: Any) -> None:
    work, remote, base = demo.work, demo.remote, demo.base
    # 2. experiment + review
    _say(
        console,
        f"\n[bold]2. experiment[/bold]: branch {EXP_BRANCH} raises resnet50's lr; it trains in {EXP_NS}",
    )
    examples.git(work, "checkout", "-q", "-b", EXP_BRANCH)
    spec = work / "pipelines" / "resnet50.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.02"))
    examples.git(work, "commit", "-qam", "Try a higher learning rate")
    examples.git(work, "push", "-q", "-u", "origin", EXP_BRANCH)
    _wait(
        demo,
        api,
        console,
        "the experiment's resnet50 record",
        lambda: any(
            r.startswith(f"runs/{EXP_BRANCH}:runs/exp/resnet50/") for r in _records(remote)
        ),
    )
    examples.git(work, "fetch", "-q", "origin")
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.review import markdown, reports

    store = ProvenanceStore(work, remote="origin", state_dir=base / "review-state")
    store.fetch()
    report = reports.build_review(work, f"origin/main..origin/{EXP_BRANCH}", provenance=store)
    _say(
        console,
        f"   [bold]reconciler review origin/main..origin/{EXP_BRANCH}[/bold] (markdown for the PR):",
    )
    from rich.markdown import Markdown
    from rich.panel import Panel

    # Markdown fills the console's width: piped, that is PIPE_WIDTH, so cap it to a page.
    width = min(console.width, REPORT_WIDTH)
    console.print(Panel(Markdown(markdown.format_markdown(report)), expand=False), width=width)


def _revert_stage(demo: Demo, api: Any, console: Any, first: dict[str, str]) -> None:
    work = demo.work
    # 3. bad change and revert
    examples.git(work, "checkout", "-q", "main")
    fraud = work / "pipelines" / "fraud-detector.yaml"
    fraud.write_text(fraud.read_text().replace("max_depth: 6", "max_depth: 16"))
    examples.git(work, "commit", "-qam", "Deeper trees for fraud-detector")
    examples.git(work, "push", "-q", "origin", "main")
    _say(
        console,
        "\n[bold]3. a bad change[/bold] to fraud-detector is pushed: it trains and is served",
    )
    _wait(
        demo,
        api,
        console,
        "the new fraud-detector model",
        lambda: _serving(api, PROD_NS).get("fraud-detector") != first["fraud-detector"],
    )
    _say(
        console,
        f"   serving fraud-detector -> [yellow]{_serving(api, PROD_NS)['fraud-detector']}[/yellow]",
    )
    jobs_before = {s["name"] for s in _steps(api)}
    examples.git(work, "revert", "--no-edit", "HEAD")
    examples.git(work, "push", "-q", "origin", "main")
    _say(console, "   [bold]git revert[/bold] and push: the spec has its earlier run id again")
    _wait(
        demo,
        api,
        console,
        "serving back on the first model",
        lambda: _serving(api, PROD_NS).get("fraud-detector") == first["fraud-detector"],
    )
    new_jobs = {s["name"] for s in _steps(api)} - jobs_before
    _say(
        console,
        f"   serving fraud-detector -> [green]{first['fraud-detector']}[/green], new Jobs: {len(new_jobs)} (no retraining)",
    )
    if new_jobs:
        raise ReconcilerError(f"the revert created Jobs: {sorted(new_jobs)}")
