"""Build API clients from kubeconfig files, as kubectl does.

Called by the engine and the CLI commands (``plan``, ``sync``, ``status``) to get one
client per cluster: an Environment's ``cluster.context`` selects the context.
Rules (kubectl's): ``--kubeconfig`` wins over ``KUBECONFIG``; ``KUBECONFIG`` may list
several files joined by ``:`` (the first file that sets ``current-context`` wins, missing
files are skipped); without either, ``~/.kube/config``; with no kubeconfig at all and a
``KUBERNETES_SERVICE_HOST``, the in-cluster service account.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from reconciler import __version__
from reconciler.cluster import api
from reconciler.structs.errors import ClusterError

DEFAULT_KUBECONFIG = "~/.kube/config"
USER_AGENT = f"reconciler/{__version__}"


def kubeconfig_paths(kubeconfig: str | None = None) -> list[Path]:
    """Return the kubeconfig files to read, in order, that exist.

    ``kubeconfig`` (the ``--kubeconfig`` flag) is one file and must exist; otherwise
    ``KUBECONFIG`` (``:``-separated, missing entries skipped) or ``~/.kube/config``.
    """
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise ClusterError(f"kubeconfig {kubeconfig}: no such file")
        return [path]
    env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in env.split(os.pathsep) if p] if env else [DEFAULT_KUBECONFIG]
    return [Path(p).expanduser() for p in candidates if Path(p).expanduser().is_file()]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterError(f"kubeconfig {path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ClusterError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
    return data


def current_context(paths: list[Path]) -> str | None:
    """Return the ``current-context`` of the first file that sets one (kubectl's rule)."""
    for path in paths:
        ctx = _read(path).get("current-context")
        if ctx:
            return str(ctx)
    return None


def list_contexts(*, kubeconfig: str | None = None) -> list[str]:
    """Return the names of every context in the kubeconfig files (first definition wins)."""
    names: list[str] = []
    for path in kubeconfig_paths(kubeconfig):
        for ctx in _read(path).get("contexts") or []:
            name = str((ctx or {}).get("name", ""))
            if name and name not in names:
                names.append(name)
    return names


def load_client(
    *, kubeconfig: str | None = None, context: str | None = None
) -> k8s_client.ApiClient:
    """Return an API client for ``context`` (default: the current context).

    Raises ClusterError naming the file or context when no kubeconfig is found, the
    context does not exist, or the kubeconfig is malformed. Never writes the kubeconfig
    back (refreshed tokens stay in memory).
    """
    paths = kubeconfig_paths(kubeconfig)
    configuration = k8s_client.Configuration()
    if not paths:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except ConfigException as exc:
                raise ClusterError(f"in-cluster configuration: {exc}") from exc
            return _client(configuration, "in-cluster service account")
        where = os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
        raise ClusterError(f"no kubeconfig found (looked for {where}); pass --kubeconfig")
    joined = os.pathsep.join(str(p) for p in paths)
    ctx = context or current_context(paths)
    if context and context not in list_contexts(kubeconfig=kubeconfig):
        raise ClusterError(f"kubeconfig {joined}: context {context!r} not found")
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=joined,
            context=ctx,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, KeyError, ValueError, TypeError) as exc:
        raise ClusterError(f"kubeconfig {joined}: {exc}") from exc
    return _client(configuration, f"kubeconfig {joined}, context {ctx}")


def _client(configuration: k8s_client.Configuration, origin: str) -> k8s_client.ApiClient:
    configuration.retries = api.transport_retries()
    client = k8s_client.ApiClient(configuration=configuration)
    client.user_agent = USER_AGENT
    api.set_origin(client, origin)
    return client


WATCH_POOL_SIZE = 1024
"""Connections a client made by :func:`pooled_for_watches` keeps (one per open watch)."""


def pooled_for_watches(client: k8s_client.ApiClient) -> k8s_client.ApiClient:
    """Return a client of the same server and credentials with a pool of its own for watches.

    Each watch holds a connection for minutes: on the reconciles' pool they would leave the
    requests opening new connections, and the pool (a few connections) would drop the
    watches' ones as they return, warning each time.
    """
    configuration = copy.deepcopy(client.configuration)
    configuration.connection_pool_maxsize = WATCH_POOL_SIZE
    out = k8s_client.ApiClient(configuration=configuration)
    out.user_agent = client.user_agent
    return out


def server_url(client: k8s_client.ApiClient) -> str:
    """Return the API server URL the client talks to (``https://host:port``)."""
    return str(client.configuration.host).rstrip("/")
