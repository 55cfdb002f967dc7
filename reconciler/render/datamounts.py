"""Datasets fetched into the pod: ``mount: true`` in a pipeline's ``datasets``.

Called by ``reconciler.render.steps`` for every step of a pipeline that mounts datasets.
Each mounted dataset gets an emptyDir at ``/data/<name>`` and an init container (the
Environment's ``dataFetcher.image``, restricted like every container) that copies the
data from its DVC remote, checks every md5, and fails the pod if any differs, before the
step starts; the step reads it read-only from ``DATASET_<NAME>_PATH``.

The fetcher is a short Python script using fsspec (local paths, ``s3://``, ``gs://``,
``azure://``, ``https://``, with the filesystem package of the remote in the image).
A file is written as ``/data/<name>/<file name>``; a directory is rebuilt from its
``.dir`` listing (relative path -> md5), whose own md5 is checked first. Credentials come
only by reference: the step's ``secretEnv`` and the pod's service account.
"""

from __future__ import annotations

from typing import Any

from reconciler.render import podspecs
from reconciler.render.runspecs import RunSpec, env_key
from reconciler.specs.models import Resources, Step

DATA_DIR = "/data"
FETCH_RESOURCES = Resources(cpu="500m", memory="512Mi")

FETCH_SCRIPT = """\
import hashlib, json, os, posixpath, sys
import fsspec
url, md5 = os.environ["FETCH_URL"], os.environ["FETCH_MD5"]
dest, listing = os.environ["FETCH_DEST"], os.environ.get("FETCH_MANIFEST_URL", "")
def copy(src, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    digest = hashlib.md5()
    with fsspec.open(src, "rb") as f, open(path, "wb") as out:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()
def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: md5 {got}, expected {want}")
if listing:
    with fsspec.open(listing, "rb") as f:
        raw = f.read()
    check(listing, hashlib.md5(raw).hexdigest(), md5)
    for entry in json.loads(raw):
        rel = posixpath.normpath(entry["relpath"])
        if rel.startswith(("../", "/")) or rel == "..":
            sys.exit(f"refusing {rel!r}: outside the dataset")
        want = entry["md5"]
        check(rel, copy(url + want[:2] + "/" + want[2:], os.path.join(dest, rel)), want)
else:
    check(url, copy(url, os.path.join(dest, os.environ["FETCH_FILE"])), md5)
print(f"fetched into {dest}")
"""


def data_path(name: str) -> str:
    """Return where a mounted dataset is in the pod (``/data/<name>``)."""
    return f"{DATA_DIR}/{name}"


def _volume(name: str) -> str:
    return f"data-{name.lower().replace('_', '-')}"


def volumes(plan: RunSpec) -> list[dict[str, Any]]:
    """Return the emptyDir volumes of the pipeline's mounted datasets."""
    return [{"name": _volume(n), "emptyDir": {}} for n in plan.pipeline.mounts]


def step_mounts(plan: RunSpec) -> list[dict[str, Any]]:
    """Return the step container's read-only mounts of the mounted datasets."""
    return [
        {"name": _volume(n), "mountPath": data_path(n), "readOnly": True}
        for n in plan.pipeline.mounts
    ]


def init_containers(plan: RunSpec, step: Step) -> list[dict[str, Any]]:
    """Return one fetching init container per mounted dataset (none without mounts)."""
    image = plan.env.data_fetcher_image
    out: list[dict[str, Any]] = []
    for name in plan.pipeline.mounts:
        facts = plan.datasets[name]
        env = {
            "FETCH_URL": facts.data_url,
            "FETCH_MD5": facts.md5.removesuffix(".dir"),
            "FETCH_DEST": data_path(name),
        }
        if facts.is_dir:
            env["FETCH_MANIFEST_URL"] = facts.url
        else:
            env["FETCH_FILE"] = facts.path.rsplit("/", 1)[-1].removesuffix(".dvc")
        out.append(
            podspecs.container(
                name=f"fetch-{_volume(name).removeprefix('data-')}",
                image=image or "",
                command=("python3", "-c", FETCH_SCRIPT),
                args=(),
                env=podspecs.env_vars(env, step.secret_env),
                resources=podspecs.container_resources(FETCH_RESOURCES, plan.env),
                mounts=[{"name": _volume(name), "mountPath": data_path(name)}],
            )
        )
    return out


def step_env(plan: RunSpec) -> dict[str, str]:
    """Return ``DATASET_<NAME>_PATH`` of each mounted dataset."""
    return {f"DATASET_{env_key(n)}_PATH": data_path(n) for n in plan.pipeline.mounts}
