"""Clients from kubeconfig files, as kubectl reads them (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.cluster import clients
from reconciler.structs.errors import ClusterError


def kubeconfig(path: Path, contexts: dict[str, str], current: str | None) -> Path:
    """Write a kubeconfig with one cluster per context (context name -> server URL)."""
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in contexts.items()],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in contexts],
    }
    if current:
        data["current-context"] = current
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    a = kubeconfig(tmp_path / "a", {"gpu-east": "https://east.example:6443"}, "gpu-east")
    b = kubeconfig(tmp_path / "b", {"gpu-west": "https://west.example:6443"}, "gpu-west")
    return a, b


def test_explicit_kubeconfig_and_context(two_files: tuple[Path, Path]) -> None:
    client = clients.load_client(kubeconfig=str(two_files[1]), context="gpu-west")
    assert clients.server_url(client) == "https://west.example:6443"


def test_kubeconfig_env_joins_files_first_current_context_wins(
    two_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{two_files[0]}:/nonexistent:{two_files[1]}")
    assert clients.server_url(clients.load_client()) == "https://east.example:6443"


def test_context_from_a_later_file(
    two_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{two_files[0]}:{two_files[1]}")
    client = clients.load_client(context="gpu-west")
    assert clients.server_url(client) == "https://west.example:6443"


def test_list_contexts(two_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{two_files[0]}:{two_files[1]}")
    assert clients.list_contexts() == ["gpu-east", "gpu-west"]


def test_flag_wins_over_env(two_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(two_files[0]))
    client = clients.load_client(kubeconfig=str(two_files[1]))
    assert clients.server_url(client) == "https://west.example:6443"


def test_unknown_context_names_it(two_files: tuple[Path, Path]) -> None:
    with pytest.raises(ClusterError, match="context 'nope' not found"):
        clients.load_client(kubeconfig=str(two_files[0]), context="nope")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no such file"):
        clients.load_client(kubeconfig=str(tmp_path / "missing"))


def test_no_kubeconfig_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match="no kubeconfig found"):
        clients.load_client()


def test_malformed_kubeconfig(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("- just a list\n")
    with pytest.raises(ClusterError, match="not a kubeconfig"):
        clients.load_client(kubeconfig=str(bad))


def test_kubeconfig_is_not_rewritten(two_files: tuple[Path, Path]) -> None:
    before = two_files[0].read_text()
    clients.load_client(kubeconfig=str(two_files[0]))
    assert two_files[0].read_text() == before
