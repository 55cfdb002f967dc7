"""Datasets fetched into the pod: ``mount: true`` in a pipeline's ``datasets``.

Called by ``reconciler.render.steps`` for every step of a pipeline that mounts datasets.
Each mounted dataset gets an emptyDir at ``/data/<name>`` and an init container (the
Environment's ``dataFetcher.image``, restricted like every container) that copies the
data from its DVC remote, checks every md5, and fails the pod if any differs, before the
step starts; the step reads it read-only from ``DATASET_<NAME>_PATH``. A Job and every
PyTorchJob replica get one init container per dataset; a TrainJob cannot add containers to
its runtime's pods, so its runtime has one init container, :data:`RUNTIME_FETCH_CONTAINER`,
that the TrainJob's runtime patch hands every dataset (:func:`runtime_init_patch`).

The fetcher is a short Python script using fsspec (local paths, ``s3://``, ``gs://``,
``azure://``, ``https://``, with the filesystem package of the remote in the image).
A file is written as ``/data/<name>/<file name>``; a directory is rebuilt from its
``.dir`` listing (relative path -> md5), whose own md5 is checked first. Credentials come
only by reference: the step's ``secretEnv`` and the pod's service account.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.render import podspecs
from reconciler.render.runspecs import RunSpec, env_key
from reconciler.specs.models import Resources, Step

DATA_DIR = "/data"
RUNTIME_FETCH_CONTAINER = "dataset-fetch"
"""The init container of a Trainer runtime's ``node`` job that fetches mounted datasets."""
FETCH_RESOURCES = Resources(cpu="500m", memory="512Mi")

FETCH_SCRIPT = """\
import hashlib, json, os, posixpath, sys
import fsspec
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
def fetch(url, md5, dest, listing, name):
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
        check(url, copy(url, os.path.join(dest, name)), md5)
    print(f"fetched into {dest}")
env = os.environ
todo = json.loads(env["FETCH_DATASETS"]) if "FETCH_DATASETS" in env else [
    {"url": env["FETCH_URL"], "md5": env["FETCH_MD5"], "dest": env["FETCH_DEST"],
     "manifest_url": env.get("FETCH_MANIFEST_URL", ""), "file": env.get("FETCH_FILE", "")}]
for d in todo:
    fetch(d["url"], d["md5"], d["dest"], d.get("manifest_url", ""), d.get("file", ""))
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


def _fetch_env(plan: RunSpec, name: str) -> dict[str, str]:
    """Return the ``FETCH_*`` values of one mounted dataset."""
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
    return env


def init_containers(plan: RunSpec, step: Step) -> list[dict[str, Any]]:
    """Return one fetching init container per mounted dataset (none without mounts)."""
    image = plan.env.data_fetcher_image
    out: list[dict[str, Any]] = []
    for name in plan.pipeline.mounts:
        env = _fetch_env(plan, name)
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


def runtime_init_patch(plan: RunSpec, step: Step) -> dict[str, Any] | None:
    """Return the runtime patch of a TrainJob's :data:`RUNTIME_FETCH_CONTAINER` (None without mounts).

    A Trainer runtime patch can only patch containers the runtime has (env, volume mounts,
    security context; never the image or command), so the fetching init container is the
    runtime's own (``reconciler-torch`` has it, running :data:`FETCH_SCRIPT`) and this
    patch gives it every mounted dataset at once (``FETCH_DATASETS``, a JSON list), the
    step's ``secretEnv`` (storage credentials by reference) and the datasets' volumes.
    """
    if not plan.pipeline.mounts:
        return None
    todo = []
    for name in plan.pipeline.mounts:
        env = _fetch_env(plan, name)
        todo.append(
            {
                "url": env["FETCH_URL"],
                "md5": env["FETCH_MD5"],
                "dest": env["FETCH_DEST"],
                "manifest_url": env.get("FETCH_MANIFEST_URL", ""),
                "file": env.get("FETCH_FILE", ""),
            }
        )
    plain = {"FETCH_DATASETS": json.dumps(todo, sort_keys=True, separators=(",", ":"))}
    mounts = [{"name": _volume(n), "mountPath": data_path(n)} for n in plan.pipeline.mounts]
    return {
        "name": RUNTIME_FETCH_CONTAINER,
        "env": podspecs.env_vars(plain, step.secret_env),
        "securityContext": podspecs.container_security_context(),
        "volumeMounts": [*podspecs.standard_mounts(shm=False), *mounts],
    }


def step_env(plan: RunSpec) -> dict[str, str]:
    """Return ``DATASET_<NAME>_PATH`` of each mounted dataset."""
    return {f"DATASET_{env_key(n)}_PATH": data_path(n) for n in plan.pipeline.mounts}
