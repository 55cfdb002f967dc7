"""A real control plane on loopback: etcd, kube-apiserver and (optionally) kube-controller-manager.

The way controller-runtime's envtest runs one, from the binaries ``python -m
tools.kube.build`` builds (no kubelet, no scheduler)::

    with ControlPlane(tmp_path) as cp:
        cp.kubeconfig            # admin (system:masters)
        cp.kubeconfig_for("reconciler")   # the reconciler's own identity (RBAC applies)

What it sets up, in ``workdir``:

- etcd on a free loopback port, data in ``workdir/etcd`` (``--unsafe-no-fsync``: a test
  store, thrown away afterwards);
- kube-apiserver on a free loopback port over TLS: a CA and a serving certificate for
  ``127.0.0.1``/``localhost`` made here, a service-account signing key pair,
  ``--authorization-mode=RBAC``, and a static token file with one token per
  :data:`IDENTITIES` entry (``admin`` in ``system:masters``; ``reconciler`` as the
  ServiceAccount ``reconciler-system/reconciler`` that ``reconciler manifests`` binds;
  ``simulator`` and ``controller-manager``, the simulated controllers and kube-controller-
  manager). The ServiceAccount admission plugin is off, as in envtest: no
  serviceaccount controller creates ``default`` ServiceAccounts for pods to use;
- an audit log of the requests made by ``admin`` and ``reconciler`` (the clients under
  test), so :meth:`ControlPlane.request_counts` counts only theirs, not the controllers'
  or the API server's own;
- kube-controller-manager with only the ``garbage-collector``, ``namespace``,
  ``resourcequota`` and ``persistentvolumeclaim-protection`` controllers: namespaces
  finish deleting, owner references cascade (``propagationPolicy``), quotas get the
  status their admission needs, and a deleted claim no Pod uses goes, as on any real
  cluster. The workload controllers (Job, Deployment...) are left to the sandbox's
  simulated controllers (``python -m reconciler.sandbox.simulate``), which need no node.

Teardown is certain: every process runs in its own process group with
``PR_SET_PDEATHSIG`` (killed by the kernel if this Python process dies, even by SIGKILL);
:meth:`ControlPlane.stop` (also registered with ``atexit``) sends SIGTERM to each group,
then SIGKILL after a grace period. Callers: ``tests/cluster/conftest.py`` and the server
benchmarks.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import datetime as dt
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tools.kube import build


@dataclass(frozen=True)
class Identity:
    """A static-token user: name, token, and groups."""

    user: str
    token: str
    groups: tuple[str, ...]


RECONCILER_SA = ("reconciler-system", "reconciler")
IDENTITIES: dict[str, Identity] = {
    "admin": Identity("admin", "admin-token", ("system:masters",)),
    "reconciler": Identity(
        f"system:serviceaccount:{RECONCILER_SA[0]}:{RECONCILER_SA[1]}",
        "reconciler-token",
        ("system:serviceaccounts", f"system:serviceaccounts:{RECONCILER_SA[0]}"),
    ),
    "simulator": Identity("sandbox-simulator", "simulator-token", ("system:masters",)),
    "controller-manager": Identity(
        "system:kube-controller-manager", "controller-manager-token", ("system:masters",)
    ),
}
AUDITED = ("admin", "reconciler")
KCM_CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "resourcequota-controller",
    "persistentvolumeclaim-protection-controller",
)
_AUDIT_VERBS = {
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETECOLLECTION",
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
}


@dataclass(frozen=True)
class AuditedRequest:
    """One request of an audited identity, as kube-apiserver's audit log records it."""

    user: str
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: str
    uri: str

    @property
    def is_write(self) -> bool:
        """True for every verb that changes something."""
        return self.verb in ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION")


_BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_RENEWED = b"/registry/leases/"
"""Keys :meth:`ControlPlane.reset` leaves as they are: leases the API server renews."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class ControlPlaneError(RuntimeError):
    """A component did not start; the message carries the tail of its log."""


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask the kernel to SIGKILL this child when its parent dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Process:
    """One component: its Popen, log file and name."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            list(argv),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            env=env,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Anything left in the group (children of the component) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._out.close()


def _pem_pair(common_name: str, *, ca: tuple[Any, Any] | None) -> tuple[bytes, bytes, Any, Any]:
    """Return (cert PEM, key PEM, cert, key): a CA when ``ca`` is None, else signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
    )
    if ca is None:
        builder = builder.issuer_name(name).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        signer = key
    else:
        ca_cert, signer = ca
        import ipaddress

        builder = (
            builder.issuer_name(ca_cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes.default.svc"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
    cert = builder.sign(signer, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem, cert, key


def _service_account_keys() -> tuple[bytes, bytes]:
    """Return (private PEM, public PEM) of an RSA key for signing service-account tokens."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        # Patch bodies tell a server-side apply (a whole object) from other patches.
        {"level": "Request", "users": [IDENTITIES[k].user for k in AUDITED], "verbs": ["patch"]},
        {"level": "Metadata", "users": [IDENTITIES[k].user for k in AUDITED]},
        {"level": "None"},
    ],
}


class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        *,
        binaries: Path | None = None,
        controller_manager: bool = True,
        start_timeout: float = 120.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.binaries = binaries or build.binaries_dir()
        self.with_controller_manager = controller_manager
        self.start_timeout = start_timeout
        self.port = 0
        self.url = ""
        self.ca_file = self.workdir / "pki" / "ca.crt"
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.audit_log = self.workdir / "audit.log"
        self.audit_offset = 0
        """Where :meth:`requests` starts reading the audit log (moved by a reset)."""
        self._procs: list[_Process] = []
        self._ssl: ssl.SSLContext | None = None
        self.startup_seconds = 0.0
        self.etcd_url = ""
        self._baseline: dict[str, tuple[str, str]] = {}

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> ControlPlane:
        """Start every component, wait until ``/readyz`` answers ok; returns self."""
        if not build.is_built(self.binaries):
            raise ControlPlaneError(
                f"kube-apiserver/etcd binaries are not built in {self.binaries}: "
                "run `python -m tools.kube.build`"
            )
        atexit.register(self.stop)
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._write_pki()
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
            self._wait_ready()
            self._write_kubeconfigs()
            if self.with_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every component (SIGTERM, then SIGKILL); safe to call twice."""
        procs, self._procs = self._procs, []
        for proc in reversed(procs):
            proc.stop()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def pids(self) -> list[int]:
        """Process ids of the running components (for orphan checks)."""
        return [p.popen.pid for p in self._procs if p.alive()]

    def check_alive(self) -> None:
        """Raise :class:`ControlPlaneError` if a component has exited."""
        for p in self._procs:
            if not p.alive():
                raise ControlPlaneError(f"{p.name} exited ({p.popen.returncode}):\n{p.tail()}")

    # ----------------------------------------------------------------- components

    def _spawn(self, name: str, argv: Sequence[str]) -> _Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "ETCD"))}
        proc = _Process(name, argv, self.workdir / f"{name}.log", env)
        self._procs.append(proc)
        return proc

    def _write_pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        ca_pem, ca_key_pem, ca_cert, ca_key = _pem_pair("reconciler-test-ca", ca=None)
        srv_pem, srv_key_pem, _, _ = _pem_pair("kube-apiserver", ca=(ca_cert, ca_key))
        sa_private, sa_public = _service_account_keys()
        files = {
            "ca.crt": ca_pem,
            "ca.key": ca_key_pem,
            "apiserver.crt": srv_pem,
            "apiserver.key": srv_key_pem,
            "sa.key": sa_private,
            "sa.pub": sa_public,
        }
        for name, data in files.items():
            (pki / name).write_bytes(data)
            (pki / name).chmod(0o600)
        rows = [f'{i.token},{i.user},{i.user},"{",".join(i.groups)}"' for i in IDENTITIES.values()]
        (pki / "tokens.csv").write_text("\n".join(rows) + "\n")
        (pki / "tokens.csv").chmod(0o600)
        (self.workdir / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                str(self.binaries / "etcd"),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self.etcd_url = url
        return url

    def _start_apiserver(self, etcd_url: str) -> None:
        pki = self.workdir / "pki"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--secure-port={self.port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.96.0.0/12",
                "--disable-admission-plugins=ServiceAccount",
                f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-mode=blocking",
                "--audit-log-format=json",
                f"--cert-dir={pki}",
                "--v=0",
            ],
        )

    def _start_controller_manager(self) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig_for('controller-manager')}",
                f"--controllers={','.join(KCM_CONTROLLERS)}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--concurrent-namespace-syncs=4",
                "--v=0",
            ],
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                code, body = self.raw("GET", "/readyz", token=IDENTITIES["admin"].token)
                if code == 200:
                    return
                last = f"{code} {body[:300]!r}"
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.2)
        tails = "\n".join(f"--- {p.name}\n{p.tail()}" for p in self._procs)
        raise ControlPlaneError(
            f"kube-apiserver not ready after {self.start_timeout}s: {last}\n{tails}"
        )

    # ------------------------------------------------------------------ sharing

    def _etcd(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request to etcd's v3 JSON gateway (``/v3/kv/...``) on the client URL."""
        req = urllib.request.Request(
            f"{self.etcd_url}/v3/{call}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            answer: dict[str, Any] = json.loads(r.read())
        return answer

    def _stored(self) -> dict[str, tuple[str, str]]:
        """{key: (mod_revision, value)} of every key under ``/registry/`` (base64 keys)."""
        answer = self._etcd(
            "kv/range",
            {"key": _b64("/registry/"), "range_end": _b64("/registry0")},
        )
        return {
            kv["key"]: (kv["mod_revision"], kv.get("value", "")) for kv in answer.get("kvs") or []
        }

    def snapshot(self) -> None:
        """Remember what etcd holds now, once the API server's bootstrap objects are there;
        :meth:`reset` brings the store back to it."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            ready = [
                self.raw("GET", path)[0] == 200
                for path in (
                    *(f"/api/v1/namespaces/{ns}" for ns in _BOOTSTRAP_NAMESPACES),
                    "/api/v1/namespaces/default/services/kubernetes",
                    "/apis/scheduling.k8s.io/v1/priorityclasses/system-node-critical",
                    "/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin",
                )
            ]
            if all(ready):
                break
            time.sleep(0.2)
        else:
            raise ControlPlaneError("the API server's bootstrap objects did not appear")
        self._baseline = self._stored()
        self.audit_offset = self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def reset(self, timeout: float = 60.0) -> None:
        """Bring etcd back to the :meth:`snapshot`, the way a fresh control plane starts:
        every key written since is deleted (namespaces and all they hold, CRDs and their
        objects, cluster-scoped objects), every bootstrap object changed since is put back
        (leases excepted: the API server renews its own). kube-apiserver sees it all
        through its etcd watch, as it would see another API server's writes; this waits
        until its cache agrees. The audit log is counted from here on."""
        self.check_alive()
        baseline = self._baseline
        now = self._stored()
        ops: list[dict[str, Any]] = []
        for key, (revision, _value) in now.items():
            if key not in baseline:
                ops.append({"request_delete_range": {"key": key}})
            elif revision != baseline[key][0] and not base64.b64decode(key).startswith(_RENEWED):
                ops.append({"request_put": {"key": key, "value": baseline[key][1]}})
        for key, (_, value) in baseline.items():
            if key not in now and not base64.b64decode(key).startswith(_RENEWED):
                ops.append({"request_put": {"key": key, "value": value}})
        for i in range(0, len(ops), 100):  # etcd's default --max-txn-ops is 128
            self._etcd("kv/txn", {"success": ops[i : i + 100]})
        expected = set(_BOOTSTRAP_NAMESPACES) | {
            base64.b64decode(k).decode().rsplit("/", 1)[1]
            for k in baseline
            if base64.b64decode(k).startswith(b"/registry/namespaces/")
        }
        deadline = time.monotonic() + timeout
        while True:
            code, body = self.raw("GET", "/api/v1/namespaces")
            names = (
                {i["metadata"]["name"] for i in json.loads(body)["items"]} if code == 200 else set()
            )
            crds = self.raw("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            no_crds = crds[0] == 200 and not json.loads(crds[1])["items"]
            if names == expected and no_crds:
                break
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"reset not visible after {timeout}s: {sorted(names)}")
            time.sleep(0.1)
        self.audit_offset = self.audit_log.stat().st_size if self.audit_log.exists() else 0

    # ------------------------------------------------------------------ clients

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting the control plane's CA."""
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=str(self.ca_file))
        return self._ssl

    def raw(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 20.0,
    ) -> tuple[int, bytes]:
        """Send one request as ``admin`` (or ``token``); return (code, body)."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", f"Bearer {token or IDENTITIES['admin'].token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context()) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()

    def kubeconfig_dict(self, who: str = "admin") -> dict[str, Any]:
        """Return a kubeconfig for one identity of :data:`IDENTITIES`."""
        ident = IDENTITIES[who]
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "kube", "cluster": {"server": self.url, "certificate-authority-data": ca}}
            ],
            "users": [{"name": who, "user": {"token": ident.token}}],
            "contexts": [{"name": f"{who}@kube", "context": {"cluster": "kube", "user": who}}],
            "current-context": f"{who}@kube",
            "preferences": {},
        }

    def kubeconfig_for(self, who: str) -> Path:
        """Return the path of ``who``'s kubeconfig (written on first use)."""
        path = self.workdir / f"{who}.kubeconfig"
        if not path.exists():
            path.write_text(yaml.safe_dump(self.kubeconfig_dict(who)))
            path.chmod(0o600)
        return path

    def _write_kubeconfigs(self) -> None:
        for who in IDENTITIES:
            self.kubeconfig_for(who)

    def requests(self, users: Sequence[str] = AUDITED) -> list[AuditedRequest]:
        """The requests ``users`` made (audited identities), in the order they completed.

        Verbs are named as ``apiserver_request_total`` names them; a PATCH whose body is
        a whole object (``apiVersion`` and ``kind``) counts as APPLY, as only an apply
        configuration has to carry them.
        """
        out: list[AuditedRequest] = []
        wanted = {IDENTITIES[u].user for u in users}
        if not self.audit_log.exists():
            return out
        previous = -1
        # Audit events are written as each response completes: wait until the log settles.
        for _ in range(20):
            size = self.audit_log.stat().st_size
            if size == previous:
                break
            previous = size
            time.sleep(0.05)
        with open(self.audit_log, encoding="utf-8") as f:
            f.seek(self.audit_offset)
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("stage") != "ResponseComplete":
                    continue
                user = (ev.get("user") or {}).get("username")
                if user not in wanted:
                    continue
                ref = ev.get("objectRef") or {}
                verb = _AUDIT_VERBS.get(ev.get("verb", ""), ev.get("verb", "").upper())
                body = ev.get("requestObject")
                if verb == "PATCH" and isinstance(body, dict) and "apiVersion" in body:
                    verb = "APPLY"  # an apply configuration names its apiVersion and kind
                out.append(
                    AuditedRequest(
                        user=user,
                        verb=verb,
                        group=ref.get("apiGroup", ""),
                        resource=ref.get("resource", ""),
                        subresource=ref.get("subresource", ""),
                        namespace=ref.get("namespace", ""),
                        name=ref.get("name", ""),
                        code=str((ev.get("responseStatus") or {}).get("code", "")),
                        uri=ev.get("requestURI", ""),
                    )
                )
        return out

    def request_counts(self, users: Sequence[str] = AUDITED) -> dict[tuple[str, str, str], int]:
        """{(verb, resource, code): n} of the requests ``users`` made (see :meth:`requests`)."""
        out: dict[tuple[str, str, str], int] = {}
        for r in self.requests(users):
            key = (r.verb, r.resource, r.code)
            out[key] = out.get(key, 0) + 1
        return out
