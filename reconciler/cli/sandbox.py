"""``reconciler sandbox``: run the local Kubernetes API emulator in the foreground.

Prints the server URL, the kubeconfig path and the ``export KUBECONFIG=...`` line, then
serves until SIGINT or SIGTERM (state saved on the way out when ``--state`` is given).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from reconciler.cli import output

DEFAULT_KUBECONFIG = "~/.kube/reconciler-sandbox.yaml"


def step_delay_seconds(text: str) -> float:
    """Return the seconds of ``--step-delay`` (``2s``, ``500ms``, ``1m``, ``1.5``, ``0``).

    Raises click.BadParameter for anything else.
    """
    from reconciler.structs import durations

    try:
        return durations.parse_duration(text, allow_zero=True)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("sandbox")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0: a free port).",
)
@click.option(
    "--kubeconfig",
    "kubeconfig",
    default=DEFAULT_KUBECONFIG,
    show_default=True,
    help="Where to write the kubeconfig (cluster, user and context 'sandbox').",
)
@click.option(
    "--state",
    "state",
    default=None,
    type=click.Path(dir_okay=False),
    help="Persist objects in FILE (and FILE.journal) across restarts.",
)
@click.option(
    "--step-delay",
    "step_delay",
    default="2s",
    show_default=True,
    help="How long each simulated controller step takes (e.g. 2s, 500ms).",
)
@click.option(
    "--no-controllers",
    is_flag=True,
    help="Do not simulate workload controllers (Jobs, Deployments... stay as written).",
)
@click.option(
    "--with-crds",
    is_flag=True,
    help="Install the bundled Kubeflow, KServe and Kueue CRDs at start.",
)
@output.output_option("text", "json", "yaml")
def command(
    port: int,
    kubeconfig: str,
    state: str | None,
    step_delay: str,
    no_controllers: bool,
    with_crds: bool,
    fmt: str,
) -> None:
    """Start the local Kubernetes API emulator and serve until interrupted.

    Not emulated: scheduling, real pods (containers never run), admission webhooks,
    authentication and authorization. Simulated controllers move Jobs, PyTorchJobs,
    Deployments and InferenceServices to done/ready after --step-delay.
    """
    from reconciler.sandbox import Sandbox

    delay = step_delay_seconds(step_delay)
    sb = Sandbox(port=port, state_file=state, step_delay=delay, controllers=not no_controllers)
    try:
        sb.start()
    except OSError as exc:
        click.echo(f"error: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    except ValueError as exc:
        click.echo(f"error: cannot load the state file {state}: {exc}", err=True)
        sys.exit(1)
    try:
        path = sb.write_kubeconfig(Path(kubeconfig).expanduser())
    except OSError as exc:
        sb.stop()
        click.echo(f"error: cannot write the kubeconfig {kubeconfig}: {exc}", err=True)
        sys.exit(1)
    if with_crds:
        sb.install_crds()
    state_path = str(Path(state).expanduser().resolve()) if state else None
    if fmt != "text":
        info = {"server": sb.url, "kubeconfig": str(path), "context": "sandbox"}
        output.dump({**info, "state": state_path}, fmt)
    else:
        click.echo(f"Sandbox API server listening on {sb.url}")
        click.echo(f"Kubeconfig written to {path}")
        click.echo(f"  export KUBECONFIG={path}")
        if state_path:
            click.echo(f"State persisted in {state_path}")
    click.echo("Press Ctrl-C to stop.", err=True)
    sys.stdout.flush()
    done = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not done.wait(0.5):
        pass
    sb.stop()
    click.echo("Sandbox stopped.", err=True)
