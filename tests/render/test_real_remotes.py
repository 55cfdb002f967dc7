"""Datasets on real remotes: object-store URLs rendered, and data fetched over HTTP.

A DVC repository whose remote is ``s3://``, ``gs://`` or ``azure://`` renders the object's
URL in DVC's layout even without DVC's plugin for that cloud (``dvc-s3``...); checking the
remote then says which plugin to install. An HTTP remote (DVC ships its plugin) is served
from this process: the reconciler checks it holds the data, and the ``mount: true`` init
container's own script fetches a file and a directory from it and checks every md5.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.render import datamounts, datasets
from reconciler.structs.errors import SpecErrors
from tests.support import dvcrepos

TABLE = b"id,amount\n" + b"".join(b"%d,%d\n" % (i, i * 3 % 97) for i in range(300))
IMAGES = {"data/images/a.png": b"\x89PNG a", "data/images/sub/b.png": b"\x89PNG bb"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dvcrepos.make_dvc_repo(
        tmp_path_factory.mktemp("remotes"),
        {"data/table.csv": TABLE, **IMAGES},
        add=["data/table.csv", "data/images"],
    )


def set_remote(repo: Path, url: str) -> None:
    dvcrepos.dvc(repo, "remote", "modify", "storage", "url", url)


@pytest.mark.parametrize("scheme", ["s3", "gs", "azure"])
def test_object_store_urls_without_the_clouds_plugin(repo: Path, scheme: str) -> None:
    set_remote(repo, f"{scheme}://ml-datasets/dvc/")
    table = datasets.resolve_dataset(repo, "data/table.csv.dvc", name="t", check_remote=False)
    md5 = hashlib.md5(TABLE).hexdigest()
    assert table.url == f"{scheme}://ml-datasets/dvc/files/md5/{md5[:2]}/{md5[2:]}"
    images = datasets.resolve_dataset(repo, "data/images.dvc", name="i", check_remote=False)
    assert images.url.startswith(f"{scheme}://ml-datasets/dvc/files/md5/")
    assert images.url.endswith(".dir")
    assert images.data_url == f"{scheme}://ml-datasets/dvc/files/md5/"
    with pytest.raises(SpecErrors) as info:
        datasets.resolve_dataset(repo, "data/table.csv.dvc", name="t", check_remote=True)
    (err,) = info.value.errors
    assert err.path == "data/table.csv.dvc"
    assert f"pip install 'dvc[{scheme}]'" in err.message


@pytest.fixture
def http_remote(repo: Path) -> Iterator[str]:
    """The repository's pushed DVC remote, served over HTTP from this process."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(repo.parent / "repo-dvc-remote")
    )
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_fetch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", datamounts.FETCH_SCRIPT],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_http_remote_is_checked_and_fetched(
    repo: Path, http_remote: str, tmp_path: Path
) -> None:
    set_remote(repo, http_remote)
    table = datasets.resolve_dataset(repo, "data/table.csv.dvc", name="t", check_remote=True)
    images = datasets.resolve_dataset(repo, "data/images.dvc", name="i", check_remote=True)
    assert table.in_remote and images.in_remote
    assert table.url.startswith(http_remote + "/files/md5/")
    done = run_fetch(
        {
            "FETCH_URL": table.data_url,
            "FETCH_MD5": table.md5,
            "FETCH_DEST": str(tmp_path / "t"),
            "FETCH_FILE": "table.csv",
        }
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "t" / "table.csv").read_bytes() == TABLE
    done = run_fetch(
        {
            "FETCH_URL": images.data_url,
            "FETCH_MD5": images.md5.removesuffix(".dir"),
            "FETCH_DEST": str(tmp_path / "i"),
            "FETCH_MANIFEST_URL": images.url,
        }
    )
    assert done.returncode == 0, done.stderr
    for rel, data in IMAGES.items():
        assert (tmp_path / "i" / rel.removeprefix("data/images/")).read_bytes() == data
