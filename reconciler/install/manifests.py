"""The in-cluster install of the daemon as plain objects (``reconciler manifests``).

Called by :mod:`reconciler.cli.manifests`, which prints them as YAML, like
``flux install --export``. The objects, in apply order:

- ``Namespace`` labelled for Pod Security "restricted";
- ``ServiceAccount``;
- least-privilege RBAC, no Secrets, no wildcards, no escalation verbs: a ``ClusterRole``
  for the one cluster-scoped kind (Namespaces, :data:`CLUSTER_RESOURCES`; with
  ``--environment-namespace``, read-only but for those, patched by name), and a
  ``ClusterRole`` ``reconciler-environment`` for what an environment's namespace holds
  (:data:`ENVIRONMENT_RESOURCES`: the kinds the reconciler renders, applies and prunes,
  pods read-only for the termination messages that carry step metrics), bound by a
  RoleBinding in each environment namespace (``--environment-namespace``), or
  cluster-wide when none is given (branch-pattern environments);
- a ``Role`` in our namespace for the leader ``Lease`` (and nothing else), and bindings;
- a ``Service`` with the named port ``http-metrics`` (webhook, probes, Prometheus; a
  ServiceMonitor selects it by that name);
- the ``Service`` ``reconciler-ui`` (port ``http``, 80) for the read-only web UI, and with
  ``--ui-host`` an ``Ingress`` for it; the UI's bearer token is read from the Secret
  ``reconciler-ui`` (key ``token``) by reference, optional (without it the UI is open to
  whoever reaches the Service);
- the ``Deployment`` of ``reconciler run --leader-elect``: probes on ``/healthz`` and
  ``/readyz``, the restricted security context, requests and limits, the webhook secret
  from a Secret by ``secretKeyRef`` (optional: without it the webhook answers 401).

The Secret itself is never emitted (a value in YAML would end up in Git); create it with
``kubectl -n NAMESPACE create secret generic reconciler-webhook --from-literal=secret=...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler import __version__
from reconciler.daemon import webhooks
from reconciler.structs.manifests import Manifest

DEFAULT_NAMESPACE = "reconciler-system"  # also the daemon's default lease namespace
DEFAULT_IMAGE = f"registry.example.com/reconciler/reconciler:{__version__}"
PLACEHOLDER_REPO = "https://git.example.com/ml/pipelines.git"
"""Used when no ``--repo`` is given: the printed Deployment must then be edited."""
NAME = "reconciler"
WEBHOOK_SECRET_NAME = "reconciler-webhook"
WEBHOOK_SECRET_KEY = "secret"
PORT = 8080
PORT_NAME = "http-metrics"
UI_NAME = "reconciler-ui"
UI_PORT_NAME = "http"
UI_TOKEN_KEY = "token"
UI_TOKEN_ENV_VAR = "RECONCILER_UI_TOKEN"
STATE_DIR = "/var/cache/reconciler"
RUN_AS = 65532  # the conventional "nonroot" uid/gid of distroless images

READ = ("get", "list", "watch")
WRITE = ("get", "list", "watch", "create", "update", "patch", "delete")

Rule = tuple[str, tuple[str, ...], tuple[str, ...]]

CLUSTER_RESOURCES: tuple[Rule, ...] = (("", ("namespaces",), WRITE),)
"""(API group, resources, verbs) of the ClusterRole ``reconciler``: the one cluster-scoped
kind environments need (their Namespaces, created and annotated by the reconciler). With
:attr:`InstallOptions.environment_namespaces` it is narrower: see
:data:`PREPARED_NAMESPACE_VERBS`."""

PREPARED_NAMESPACE_VERBS = ("update", "patch")
"""What the reconciler may do to the Namespaces an install prepared, by name
(``resourceNames``): apply them (server-side apply of an existing object is a patch) and
annotate them (the commit last synced, a retry request). It never creates them (the
install does) nor deletes them (no ApplySet claims a prepared Namespace); other
Namespaces it may only read."""

ENVIRONMENT_RESOURCES: tuple[Rule, ...] = (
    ("", ("services", "configmaps", "resourcequotas", "limitranges"), WRITE),
    ("", ("pods",), READ),
    ("apps", ("deployments",), WRITE),
    ("batch", ("jobs",), WRITE),
    ("autoscaling", ("horizontalpodautoscalers",), WRITE),
    ("networking.k8s.io", ("ingresses", "networkpolicies"), WRITE),
    ("policy", ("poddisruptionbudgets",), WRITE),
    ("kubeflow.org", ("pytorchjobs",), WRITE),
    ("trainer.kubeflow.org", ("trainjobs",), WRITE),
    ("serving.kserve.io", ("inferenceservices",), WRITE),
    ("kueue.x-k8s.io", ("localqueues",), WRITE),
)
"""(API group, resources, verbs) of the ClusterRole ``reconciler-environment``: what an
environment's namespace holds. Bound per namespace (a RoleBinding in each of
:attr:`InstallOptions.environment_namespaces`), or cluster-wide when those are not
listed (environments whose namespace follows a branch pattern).

ConfigMaps are there for the ApplySet parent (one per environment instance); pods are
read for the termination messages steps report metrics in. No Secrets, no events (the
reconciler emits none).
"""

MANAGED_RESOURCES: tuple[Rule, ...] = CLUSTER_RESOURCES + ENVIRONMENT_RESOURCES
"""Everything the reconciler may touch, cluster-scoped and per environment."""

ENVIRONMENT_ROLE = f"{NAME}-environment"

LEASE_VERBS = ("get", "create", "update")


@dataclass(frozen=True)
class InstallOptions:
    """What ``reconciler manifests`` takes; the defaults are the documented install."""

    namespace: str = DEFAULT_NAMESPACE
    repo: str = PLACEHOLDER_REPO
    image: str = DEFAULT_IMAGE
    interval: str = "30s"
    replicas: int = 1
    ui_host: str | None = None
    """Host name of the web UI's Ingress (None: no Ingress)."""
    ui_tls_secret: str | None = None
    """TLS Secret of that Ingress (None: plain HTTP, e.g. TLS ends at the load balancer)."""
    environment_namespaces: tuple[str, ...] = ()
    """Namespaces of the environments (``ml-prod``...): the environment role is bound in
    each of them only. Empty: bound cluster-wide (needed for branch-pattern namespaces)."""


def _labels(component: str = "controller") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": NAME,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": NAME,
        "app.kubernetes.io/version": __version__,
    }


def _selector() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME}


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = _labels()
    return meta


def namespace(opts: InstallOptions) -> Manifest:
    """Return the Namespace, enforcing the Pod Security Standard "restricted"."""
    meta = _meta(opts.namespace)
    meta["labels"].update(
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        }
    )
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(opts: InstallOptions) -> Manifest:
    """Return the daemon's ServiceAccount."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, opts.namespace)}


def _rules(resources: tuple[Rule, ...]) -> list[dict[str, Any]]:
    return [
        {"apiGroups": [group], "resources": list(names), "verbs": list(verbs)}
        for group, names, verbs in resources
    ]


def _subjects(opts: InstallOptions) -> list[dict[str, str]]:
    return [{"kind": "ServiceAccount", "name": NAME, "namespace": opts.namespace}]


def _role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


def cluster_role(opts: InstallOptions | None = None) -> Manifest:
    """Return the ClusterRole ``reconciler``: :data:`CLUSTER_RESOURCES`, nothing more.

    With environment namespaces listed, Namespaces are read-only but for those, which it
    may update and patch by name (:data:`PREPARED_NAMESPACE_VERBS`): it cannot create,
    change or delete any other Namespace (``kube-system`` included).
    """
    prepared = opts.environment_namespaces if opts is not None else ()
    rules = _rules(CLUSTER_RESOURCES)
    if prepared:
        rules = [
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": list(READ)},
            {
                "apiGroups": [""],
                "resources": ["namespaces"],
                "resourceNames": list(prepared),
                "verbs": list(PREPARED_NAMESPACE_VERBS),
            },
        ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(NAME),
        "rules": rules,
    }


def cluster_role_binding(opts: InstallOptions) -> Manifest:
    """Bind the ClusterRole ``reconciler`` to the ServiceAccount."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(NAME),
        "roleRef": _role_ref("ClusterRole", NAME),
        "subjects": _subjects(opts),
    }


def environment_role() -> Manifest:
    """Return the ClusterRole ``reconciler-environment``: :data:`ENVIRONMENT_RESOURCES`."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(ENVIRONMENT_ROLE),
        "rules": _rules(ENVIRONMENT_RESOURCES),
    }


def environment_bindings(opts: InstallOptions) -> list[Manifest]:
    """Bind the environment role: a Namespace and a RoleBinding per environment namespace,
    or one ClusterRoleBinding when none is listed."""
    if not opts.environment_namespaces:
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _meta(ENVIRONMENT_ROLE),
                "roleRef": _role_ref("ClusterRole", ENVIRONMENT_ROLE),
                "subjects": _subjects(opts),
            }
        ]
    out: list[Manifest] = []
    for ns in opts.environment_namespaces:
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns)})
        out.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta(ENVIRONMENT_ROLE, ns),
                "roleRef": _role_ref("ClusterRole", ENVIRONMENT_ROLE),
                "subjects": _subjects(opts),
            }
        )
    return out


def lease_role(opts: InstallOptions) -> Manifest:
    """Return the Role for the leader Lease in our namespace (leases only)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(f"{NAME}-leader-election", opts.namespace),
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": list(LEASE_VERBS),
            }
        ],
    }


def lease_role_binding(opts: InstallOptions) -> Manifest:
    """Bind the lease Role to the ServiceAccount."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(f"{NAME}-leader-election", opts.namespace),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": f"{NAME}-leader-election",
        },
        "subjects": _subjects(opts),
    }


def service(opts: InstallOptions) -> Manifest:
    """Return the Service for the webhook and metrics (port named ``http-metrics``)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(NAME, opts.namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(),
            "ports": [
                {"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def ui_service(opts: InstallOptions) -> Manifest:
    """Return the web UI's Service: port 80 (``http``) to the daemon's HTTP port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(UI_NAME, opts.namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(),
            "ports": [
                {"name": UI_PORT_NAME, "port": 80, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def ui_ingress(opts: InstallOptions) -> Manifest:
    """Return the web UI's Ingress on ``opts.ui_host`` (TLS with ``opts.ui_tls_secret``)."""
    backend = {"service": {"name": UI_NAME, "port": {"name": UI_PORT_NAME}}}
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": opts.ui_host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
        ]
    }
    if opts.ui_tls_secret:
        spec["tls"] = [{"hosts": [opts.ui_host], "secretName": opts.ui_tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(UI_NAME, opts.namespace),
        "spec": spec,
    }


def daemon_args(opts: InstallOptions) -> list[str]:
    """Return the container's arguments: ``run --repo URL --leader-elect ...``."""
    return [
        "run",
        "--repo",
        opts.repo,
        "--interval",
        opts.interval,
        "--leader-elect",
        "--listen",
        f":{PORT}",
        "--log-format",
        "json",
        "--state-dir",
        STATE_DIR,
    ]


def deployment(opts: InstallOptions) -> Manifest:
    """Return the daemon's Deployment (PSS restricted, probes, resources, secret by ref)."""
    container = {
        "name": NAME,
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["reconciler"],
        "args": daemon_args(opts),
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {
                "name": webhooks.SECRET_ENV_VAR,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": WEBHOOK_SECRET_NAME,
                        "key": WEBHOOK_SECRET_KEY,
                        "optional": True,
                    }
                },
            },
            {
                "name": UI_TOKEN_ENV_VAR,
                "valueFrom": {
                    "secretKeyRef": {"name": UI_NAME, "key": UI_TOKEN_KEY, "optional": True}
                },
            },
            {"name": "HOME", "value": "/tmp"},  # git reads ~/.gitconfig; the root fs is read-only
        ],
        "ports": [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": PORT_NAME},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": PORT_NAME},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": True,
        "terminationGracePeriodSeconds": 30,  # the daemon exits within 10 s of SIGTERM
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [container],
        "volumes": [
            {"name": "state", "emptyDir": {"sizeLimit": "2Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME, opts.namespace),
        "spec": {
            "replicas": opts.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": _selector()},
            # A new pod waits as a standby until the old one releases the lease on SIGTERM.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {"metadata": {"labels": _labels()}, "spec": pod_spec},
        },
    }


def install_objects(opts: InstallOptions | None = None) -> list[Manifest]:
    """Return every object of the install, in apply order (namespace first)."""
    o = opts or InstallOptions()
    return [
        namespace(o),
        service_account(o),
        cluster_role(o),
        cluster_role_binding(o),
        environment_role(),
        *environment_bindings(o),
        lease_role(o),
        lease_role_binding(o),
        service(o),
        ui_service(o),
        deployment(o),
        *([ui_ingress(o)] if o.ui_host else []),
    ]
