"""The :class:`Sandbox`: one API server with its store, loops and optional persistence.

Usable in-process (tests and ``reconciler demo`` start it on a thread)::

    with Sandbox(step_delay=0.1) as sb:
        path = sb.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # KUBECONFIG=path kubectl get ns

Callers: ``reconciler sandbox`` (:mod:`reconciler.cli.sandbox`), the demo, tests.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import TracebackType

from reconciler.sandbox.controllers import Controllers
from reconciler.sandbox.controllers.ports import InProcessPort
from reconciler.sandbox.handlers import Api
from reconciler.sandbox.kinds import Registry
from reconciler.sandbox.kubeconfig import write_kubeconfig
from reconciler.sandbox.lifecycle import Lifecycle
from reconciler.sandbox.persistence import Persistence
from reconciler.sandbox.request_metrics import Metrics
from reconciler.sandbox.schemas import builtin_definitions
from reconciler.sandbox.server import SandboxHTTPServer
from reconciler.sandbox.storage import Store

log = logging.getLogger(__name__)


class Sandbox:
    """A local Kubernetes API server emulator on ``127.0.0.1:port`` (0: a free port).

    ``state_file``: persist objects there (snapshot + journal) and load them on start.
    ``step_delay``: seconds the simulated controllers take per step.
    ``controllers``: run the simulated workload controllers (Job, PyTorchJob,
    Deployment, InferenceService); garbage collection and namespace/CRD finalization
    always run.
    """

    def __init__(
        self,
        port: int = 0,
        state_file: str | os.PathLike[str] | None = None,
        step_delay: float = 2.0,
        controllers: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.port = port
        self.step_delay = step_delay
        self.store = Store()
        self.registry = Registry()
        self.metrics = Metrics()
        self.api = Api(self.store, self.registry)
        self.persistence = (
            Persistence(state_file, self.store, self.registry) if state_file else None
        )
        self.lifecycle = Lifecycle(self.api)
        self.controllers = Controllers(InProcessPort(self.api), step_delay) if controllers else None
        if self.controllers is not None:
            self.store.listeners.append(self.controllers.wake)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the port is known once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Sandbox:
        """Load state, bind the port and serve on a background thread; returns self."""
        if self._server is not None:
            return self
        builtin_definitions()  # load schemas before the first request
        if self.persistence is not None:
            n = self.persistence.load()
            log.info("sandbox: loaded %d objects from %s", n, self.persistence.path)
            self.persistence.attach()
        self.api.ensure_initial_namespaces()
        self._server = SandboxHTTPServer((self.host, self.port), self.api, self.metrics)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self.lifecycle.start()
        if self.controllers is not None:
            self.controllers.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open watches, stop the loops and save the state."""
        server = self._server
        if server is None:
            return
        server.stopping.set()
        self.store.close_watches()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.controllers is not None:
            self.controllers.stop()
        self.lifecycle.stop()
        if self.persistence is not None:
            self.persistence.close()
        self._server = None
        self._thread = None

    def install_crds(self, field_manager: str = "sandbox") -> list[str]:
        """Apply the bundled CRDs (server-side apply, in-process); returns their names."""
        import json

        from reconciler.sandbox.crds import bundled_crds
        from reconciler.sandbox.handlers import Params

        rt = self.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert rt is not None
        names = []
        for crd in bundled_crds():
            name = crd["metadata"]["name"]
            self.api.patch(
                rt,
                "",
                name,
                "application/apply-patch+yaml",
                json.dumps(crd).encode(),
                "",
                Params({"fieldManager": field_manager, "force": "true"}),
            )
            names.append(name)
        return names

    def wait(self) -> None:
        """Block until the server thread ends (after :meth:`stop` from another thread)."""
        if self._thread is not None:
            self._thread.join()

    def write_kubeconfig(self, path: str | os.PathLike[str]) -> Path:
        """Write a kubeconfig (cluster/user/context ``sandbox``) for this server to ``path``."""
        return write_kubeconfig(path, self.url)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
