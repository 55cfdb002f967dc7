"""``reconciler manifests``: print the in-cluster install as YAML (like ``flux install --export``)."""

from __future__ import annotations

import click

from reconciler import __version__
from reconciler.cli import output


@click.command("manifests")
@click.option(
    "--namespace",
    default="reconciler-system",
    show_default=True,
    help="Namespace of the daemon (and of its leader Lease).",
)
@click.option(
    "--repo",
    "repo",
    required=True,
    metavar="URL",
    help="URL of the watched repository (the Deployment's --repo); required.",
)
@click.option("--image", default=None, help="Image of the reconciler.")
@click.option(
    "--interval",
    default="30s",
    show_default=True,
    type=output.DURATION_TEXT,
    help="Git polling interval (e.g. 30s, 1m).",
)
@click.option("--ui-host", default=None, help="Expose the web UI with an Ingress on this host.")
@click.option("--ui-tls-secret", default=None, help="TLS Secret of the web UI's Ingress.")
@click.option(
    "--environment-namespace",
    "environment_namespaces",
    multiple=True,
    metavar="NS",
    help="Namespace of an environment (repeatable): the reconciler may write only there. "
    "Without it, it may write in any namespace (branch-pattern environments).",
)
@output.output_option("yaml", "json")
def command(
    namespace: str,
    repo: str,
    image: str | None,
    interval: str,
    ui_host: str | None,
    ui_tls_secret: str | None,
    environment_namespaces: tuple[str, ...],
    fmt: str,
) -> None:
    """Print the Namespace, RBAC, Service and Deployment that run the daemon in a cluster.

    Apply with ``reconciler manifests --repo URL | kubectl apply --server-side -f -``. The
    webhook secret is read from the Secret ``reconciler-webhook`` (key ``secret``), which
    this command never prints; create it with ``kubectl create secret generic``.
    """
    from reconciler.install import manifests

    opts = manifests.InstallOptions(
        namespace=namespace,
        repo=repo,
        image=image or manifests.DEFAULT_IMAGE,
        interval=interval,
        ui_host=ui_host,
        ui_tls_secret=ui_tls_secret,
        environment_namespaces=tuple(environment_namespaces),
    )
    objs = manifests.install_objects(opts)
    if fmt == "json":
        output.dump_json({"apiVersion": "v1", "kind": "List", "items": objs})
        return
    header = (
        f"# reconciler {__version__}: in-cluster install "
        f"(namespace {namespace}).\n"
        f"# Webhook secret (optional): kubectl -n {namespace} create secret generic "
        f"{manifests.WEBHOOK_SECRET_NAME} --from-literal={manifests.WEBHOOK_SECRET_KEY}=...\n"
    )
    click.echo(header + output.dump_yaml_documents(objs), nl=False)
