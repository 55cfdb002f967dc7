"""``python -m reconciler.sandbox.simulate``: the simulated controllers against any API server.

The sandbox's Job, PyTorchJob, Deployment and InferenceService controllers, its node
and kubelet, and its programmed outcomes (:mod:`reconciler.sandbox.controllers`), run
as a separate client process, kwok-style, against the API server of a kubeconfig (a
real kube-apiserver without kubelets or workload controllers)::

    python -m reconciler.sandbox.simulate --kubeconfig admin.kubeconfig --step-delay 2

The identity needs to read and write those kinds, their status, pods, nodes and events
(``system:masters`` in the cluster test suite). It runs until SIGTERM or SIGINT and
prints ``ready`` on stdout once every watched kind has been listed.

Callers: the cluster test suite (``tests/cluster``), developers.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from kubernetes import config

from reconciler.sandbox.controllers import Controllers
from reconciler.sandbox.controllers.remote import RemotePort
from reconciler.structs.durations import parse_duration


def main(argv: list[str] | None = None) -> int:
    """Run the simulated controllers until a signal; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m reconciler.sandbox.simulate")
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the API server")
    parser.add_argument("--context", default=None, help="kubeconfig context")
    parser.add_argument(
        "--step-delay",
        type=parse_duration,
        default=2.0,
        help="how long a simulated step takes (2s, 500ms, 1m)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request outcome")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=args.kubeconfig, context=args.context
    )
    api_client.user_agent = "sandbox-simulator"
    port = RemotePort(api_client)
    controllers = Controllers(port, step_delay=args.step_delay)
    port.on_change = controllers.wake
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port.start()
    controllers.start()
    print("ready", flush=True)
    done.wait()
    controllers.stop()
    port.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
